"""Choosing an image for a platform from an index (manifest list).

An index (OCI image index, Docker manifest list) names one manifest per
platform; a pull takes the entry for the platform asked for, by default the
host's (linux/amd64 here), as containerd's `platforms.Only` matches:

- os and architecture equal, after normalising the aliases (x86_64 → amd64,
  aarch64 → arm64, armhf → arm/v7);
- a variant asked for must match; none asked for matches any, with the
  normal one (amd64/v1, arm64/v8) preferred;
- entries that are not images (BuildKit's attestation manifests, platform
  unknown/unknown) never match.

The first matching entry in the index's order wins, as in docker.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from dockyard.content.descriptor import Descriptor
from dockyard.errors import InvalidArgument, NotFound
from dockyard.images import mediatypes

_ARCH_ALIASES = {
    "x86_64": ("amd64", ""), "x86-64": ("amd64", ""), "amd64": ("amd64", ""),
    "aarch64": ("arm64", ""), "arm64": ("arm64", ""),
    "armhf": ("arm", "v7"), "armel": ("arm", "v6"), "arm": ("arm", ""),
    "i386": ("386", ""), "i686": ("386", ""), "386": ("386", ""),
}
_DEFAULT_VARIANT = {"amd64": "v1", "arm64": "v8"}
_ATTESTATION = "attestation-manifest"


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> "Platform":
        """"linux/amd64", "linux/arm/v7", "linux" (host architecture) → Platform."""
        parts = [p.strip().lower() for p in text.split("/")]
        if not parts[0] or len(parts) > 3 or any(not p for p in parts):
            raise InvalidArgument(f'"{text}": unknown operating system or architecture: invalid argument')
        if len(parts) == 1:
            return cls(parts[0], host().architecture, host().variant)
        arch, variant = _ARCH_ALIASES.get(parts[1], (parts[1], ""))
        if len(parts) == 3:
            variant = parts[2]
        return cls(parts[0], arch, _normal_variant(arch, variant))

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def matches(self, os_name: str, architecture: str, variant: str = "") -> bool:
        arch, alias_variant = _ARCH_ALIASES.get(architecture.lower(), (architecture.lower(), ""))
        theirs = _normal_variant(arch, variant.lower() or alias_variant)
        if os_name.lower() != self.os or arch != self.architecture:
            return False
        return not self.variant or not theirs or theirs == self.variant

    def to_api(self) -> dict:
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out


def _normal_variant(arch: str, variant: str) -> str:
    """amd64/v1 and arm64/v8 are the plain forms: written as no variant."""
    return "" if variant == _DEFAULT_VARIANT.get(arch) else variant


def host() -> Platform:
    arch, variant = _ARCH_ALIASES.get(os.uname().machine.lower(), (os.uname().machine.lower(), ""))
    return Platform("linux", arch, variant)


def index_entries(data: bytes) -> list[tuple[Descriptor, dict]]:
    """The (descriptor, platform JSON) pairs of an index, attestations left out."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument("invalid manifest list: not JSON") from None
    manifests = doc.get("manifests") if isinstance(doc, dict) else None
    if not isinstance(manifests, list):
        raise InvalidArgument("invalid manifest list: no manifests")
    out = []
    for entry in manifests:
        if not isinstance(entry, dict):
            continue
        annotations = entry.get("annotations") or {}
        if annotations.get("vnd.docker.reference.type") == _ATTESTATION:
            continue
        descriptor = Descriptor.from_json(entry)
        if descriptor.media_type and descriptor.media_type not in mediatypes.MANIFESTS + mediatypes.INDEXES:
            continue
        out.append((descriptor, entry.get("platform") or {}))
    return out


def select_manifest(data: bytes, wanted: Platform) -> Descriptor:
    """The entry of index `data` for `wanted`; NotFound with docker's message otherwise."""
    entries = index_entries(data)
    candidates = [
        (descriptor, platform) for descriptor, platform in entries
        if wanted.matches(str(platform.get("os") or ""), str(platform.get("architecture") or ""),
                          str(platform.get("variant") or ""))
    ]
    if not candidates:
        raise NotFound(f"no matching manifest for {wanted} in the manifest list entries")
    if not wanted.variant:
        # Among several variants, the normal one first (amd64 before amd64/v3).
        plain = [c for c in candidates if not _normal_variant(wanted.architecture, str(c[1].get("variant") or "").lower())]
        if plain:
            return plain[0][0]
    return candidates[0][0]


__all__ = ["Platform", "host", "index_entries", "select_manifest"]
