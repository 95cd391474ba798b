"""Image references, parsed and normalised exactly as docker does.

The grammar is distribution/reference's:

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path-component ( "/" path-component )*
    domain     := host [ ":" port ]          (a first component with "." or ":",
                                              or "localhost", or uppercase)
    path-component := [a-z0-9]+ ( ( [._] | "__" | "-"+ ) [a-z0-9]+ )*
    tag        := [\\w][\\w.-]{0,127}
    digest     := algorithm ":" hex{32,}

Normalisation ("ParseNormalizedNamed"): no domain means docker.io; a
one-component path on docker.io gets "library/"; index.docker.io is
docker.io; no tag and no digest means ":latest".  The *familiar* form is the
reverse, what docker prints and what the Engine API puts in RepoTags:
`busybox:latest`, `user/app:latest`, `localhost:5000/app:v1`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.errors import InvalidArgument

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_NAME}|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"

_REFERENCE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
_ANCHORED_NAME = re.compile(rf"(?:({_DOMAIN})/)?({_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)", re.ASCII)
_TAG_RE = re.compile(_TAG, re.ASCII)
_IDENTIFIER = re.compile(r"[a-f0-9]{64}")
_SHA256 = re.compile(r"sha256:[a-f0-9]{64}")

_INVALID = "invalid reference format"


@dataclass(frozen=True, slots=True)
class Reference:
    """A normalised image reference; `path` excludes the domain."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    def __post_init__(self) -> None:
        if self.tag is not None and not _TAG_RE.fullmatch(self.tag):
            raise InvalidArgument(_INVALID)
        if self.digest is not None and not _SHA256.fullmatch(self.digest):
            raise InvalidArgument(f"{_INVALID}: invalid digest {self.digest!r}")

    @property
    def name(self) -> str:
        """The repository with its domain: docker.io/library/busybox."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        return self.name + self._suffix()

    def _suffix(self) -> str:
        out = ""
        if self.tag is not None:
            out += ":" + self.tag
        if self.digest is not None:
            out += "@" + self.digest
        return out

    def familiar_name(self) -> str:
        """The repository as docker prints it: busybox, user/app, localhost:5000/app."""
        if self.domain == DEFAULT_DOMAIN:
            path = self.path
            if path.startswith(OFFICIAL_PREFIX) and "/" not in path[len(OFFICIAL_PREFIX):]:
                path = path[len(OFFICIAL_PREFIX):]
            return path
        return self.name

    def familiar(self) -> str:
        """busybox:latest, user/app:latest, localhost:5000/app:v1, name@sha256:…"""
        return self.familiar_name() + self._suffix()

    def with_tag(self, tag: str) -> "Reference":
        return Reference(self.domain, self.path, tag, None)

    def with_digest(self, digest: str) -> "Reference":
        return Reference(self.domain, self.path, None, digest)

    @property
    def is_name_only(self) -> bool:
        return self.tag is None and self.digest is None


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if not sep or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def parse_reference(text: str, default_tag: bool = True) -> Reference:
    """Parse and normalise like docker; InvalidArgument with docker's messages.

    With `default_tag` (the default), a reference with neither tag nor digest
    gets ":latest" (docker's TagNameOnly); pass False to keep it bare, as
    `docker images <repo>` filtering does.
    """
    if _IDENTIFIER.fullmatch(text):
        raise InvalidArgument(f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = _split_domain(text)
    # The repository part ends at the tag's colon (the domain's port is gone).
    repo_part = remainder.split("@", 1)[0]
    remote_name = repo_part.split(":", 1)[0]
    if remote_name.lower() != remote_name:
        raise InvalidArgument(f"{_INVALID}: repository name ({remote_name}) must be lowercase")
    match = _REFERENCE.fullmatch(f"{domain}/{remainder}")
    if match is None:
        raise InvalidArgument(_INVALID)
    name, tag, digest = match.groups()
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidArgument(f"{_INVALID}: repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")
    if digest is not None:
        algorithm, _, hex_ = digest.partition(":")
        if algorithm != "sha256" or len(hex_) != 64 or hex_.lower() != hex_:
            raise InvalidArgument(f"{_INVALID}: invalid checksum digest format")
    name_match = _ANCHORED_NAME.fullmatch(name)
    assert name_match is not None
    ref_domain, path = name_match.group(1), name_match.group(2)
    ref = Reference(ref_domain or DEFAULT_DOMAIN, path, tag, digest)
    if default_tag and ref.is_name_only:
        ref = ref.with_tag(DEFAULT_TAG)
    return ref


def parse_repository(text: str) -> Reference:
    """A repository name with no tag or digest (for `docker tag`'s repo part)."""
    ref = parse_reference(text, default_tag=False)
    if not ref.is_name_only:
        raise InvalidArgument(_INVALID)
    return ref


def is_image_id(text: str) -> bool:
    """A full image id: 64 hex, with or without "sha256:"."""
    return bool(_IDENTIFIER.fullmatch(text) or _SHA256.fullmatch(text))
