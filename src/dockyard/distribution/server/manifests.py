"""Manifests as the registry sees them: bytes in, what they reference out.

The registry stores a manifest's bytes exactly as pushed (its digest is the
hash of those bytes) and reads four kinds:

    image manifest   OCI (application/vnd.oci.image.manifest.v1+json) or
                     Docker v2 schema 2: a config blob and layer blobs
    index            OCI index or Docker manifest list: child manifests

`parse_manifest` checks the structure and returns what a push must find in
the repository first (`Manifest.blobs`, `Manifest.children`); it never looks
at storage.  `accepts` is the Accept-header half of content negotiation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dockyard.content.digest import Digest
from dockyard.images import mediatypes as mt

from .errcodes import MANIFEST_INVALID, RegistryError
from .names import parse_digest

IMAGE_MANIFESTS = (mt.OCI_MANIFEST, mt.DOCKER_MANIFEST)
INDEXES = (mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST)
KNOWN = IMAGE_MANIFESTS + INDEXES
DOCKER_SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v1+prettyjws")

# The spec asks registries to take manifests of at least 4 MB.
MAX_MANIFEST_SIZE = 4 << 20

# The platform an index falls back to for a client that accepts no index,
# as the CNCF registry does for old docker clients.
DEFAULT_PLATFORM = ("linux", "amd64")


@dataclass(frozen=True, slots=True)
class Child:
    """One manifest an index lists."""

    digest: Digest
    media_type: str
    platform: tuple[str, str] | None  # (os, architecture)


@dataclass(frozen=True, slots=True)
class Manifest:
    media_type: str
    blobs: tuple[Digest, ...] = ()        # config and layers that must be in the repository
    children: tuple[Child, ...] = ()      # an index's manifests, which must be too
    subject: Digest | None = None
    artifact_type: str | None = None      # as the referrers API reports it
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEXES


def _invalid(detail: str) -> RegistryError:
    return RegistryError(MANIFEST_INVALID, detail, f"manifest invalid: {detail}")


def base_media_type(value: str | None) -> str:
    """`application/x; charset=…` → `application/x` (parameters are ignored)."""
    return (value or "").partition(";")[0].strip().lower()


def parse_manifest(body: bytes, content_type: str | None) -> Manifest:
    """Validate a pushed manifest and list what it references; MANIFEST_INVALID
    (or DIGEST_INVALID for a malformed digest) when it is not one we store."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _invalid(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise _invalid("not a JSON object")
    declared = doc.get("mediaType")
    header = base_media_type(content_type)
    if declared is not None and not isinstance(declared, str):
        raise _invalid("mediaType must be a string")
    if header in DOCKER_SCHEMA1 or declared in DOCKER_SCHEMA1 or doc.get("schemaVersion") == 1:
        raise _invalid("Docker schema 1 manifests are not supported")
    if declared and header in KNOWN and declared != header:
        raise _invalid(f"mediaType {declared} does not match Content-Type {header}")
    media_type = declared or (header if header in KNOWN else _infer(doc))
    if media_type not in KNOWN:
        raise _invalid(f"unsupported manifest media type {media_type!r}")
    if doc.get("schemaVersion") != 2:
        raise _invalid("schemaVersion must be 2")
    artifact_type = doc.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise _invalid("artifactType must be a string")
    subject = _descriptor(doc["subject"], "subject")[0] if doc.get("subject") is not None else None
    annotations = _annotations(doc.get("annotations"), "annotations")
    if media_type in INDEXES:
        children = tuple(_child(d) for d in _list(doc, "manifests"))
        return Manifest(media_type, children=children, subject=subject,
                        artifact_type=artifact_type, annotations=annotations)
    if "config" not in doc:
        raise _invalid("config is required")
    config, _ = _descriptor(doc["config"], "config")
    # The referrers API lists an image manifest without an artifactType
    # under its config's media type.
    artifact_type = artifact_type or doc["config"]["mediaType"]
    required = [config]
    for i, layer in enumerate(_list(doc, "layers")):
        digest, urls = _descriptor(layer, f"layers[{i}]")
        # A foreign (non-distributable) layer lives at its URLs, not here.
        if not urls:
            required.append(digest)
    return Manifest(media_type, blobs=tuple(required), subject=subject,
                    artifact_type=artifact_type, annotations=annotations)


def _infer(doc: dict[str, Any]) -> str:
    # An OCI manifest may leave mediaType out; its shape says which it is.
    if "manifests" in doc:
        return mt.OCI_INDEX
    if "config" in doc:
        return mt.OCI_MANIFEST
    return ""


def _list(doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid(f"{key} must be a list")
    return value


def _annotations(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _invalid(f"{where} must map strings to strings")
    return value


def _descriptor(value: Any, where: str) -> tuple[Digest, list[Any]]:
    if not isinstance(value, dict):
        raise _invalid(f"{where} must be a descriptor")
    if not isinstance(value.get("mediaType"), str) or not value["mediaType"]:
        raise _invalid(f"{where}.mediaType is required")
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _invalid(f"{where}.size must be a non-negative integer")
    if not isinstance(value.get("digest"), str):
        raise _invalid(f"{where}.digest is required")
    _annotations(value.get("annotations"), f"{where}.annotations")
    urls = value.get("urls") or []
    if not isinstance(urls, list):
        raise _invalid(f"{where}.urls must be a list")
    return parse_digest(value["digest"]), urls


def _child(value: Any) -> Child:
    digest, _ = _descriptor(value, "manifests[]")
    platform = value.get("platform")
    pair = None
    if isinstance(platform, dict):
        pair = (str(platform.get("os", "")), str(platform.get("architecture", "")))
    return Child(digest, value["mediaType"], pair)


def accepts(accept_headers: list[str], media_type: str) -> bool:
    """Whether a client's Accept headers allow `media_type`.

    No Accept header at all, or a wildcard, allows anything; quality values
    are not weighed, only whether a type is listed.
    """
    listed = [base_media_type(v) for header in accept_headers for v in header.split(",")]
    listed = [v for v in listed if v]
    if not listed:
        return True
    return media_type in listed or "*/*" in listed or "application/*" in listed


def describe(manifest: Manifest, media_type: str, digest: Digest, size: int) -> dict[str, Any]:
    """The descriptor of a manifest as the referrers API lists it."""
    out: dict[str, Any] = {"mediaType": media_type, "digest": str(digest), "size": size}
    if manifest.artifact_type:
        out["artifactType"] = manifest.artifact_type
    if manifest.annotations:
        out["annotations"] = manifest.annotations
    return out

