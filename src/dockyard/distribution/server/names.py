"""Repository names, tags and digests as the distribution spec spells them.

    name       [a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*
    tag        [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
    reference  a tag, or a digest (anything with a ":")

The name grammar also keeps every name a safe relative path: no component
can be empty, ``.`` or ``..``, or start with ``_`` (the repository's own
``_layers``, ``_manifests`` and ``_uploads`` directories).
"""

from __future__ import annotations

import re

from dockyard.content.digest import Digest
from dockyard.errors import InvalidArgument

from .errcodes import DIGEST_INVALID, NAME_INVALID, TAG_INVALID, RegistryError

# Clients limit "host[:port]/name" to 255 characters; the CNCF registry
# refuses longer names outright.
NAME_MAX = 255

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*", re.ASCII)
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}", re.ASCII)


def check_name(name: str) -> str:
    """The name itself, or NAME_INVALID."""
    if len(name) > NAME_MAX:
        raise RegistryError(NAME_INVALID, {"name": name[:NAME_MAX] + "…"},
                            f"repository name must not be longer than {NAME_MAX} characters")
    if not _NAME.fullmatch(name):
        raise RegistryError(NAME_INVALID, {"name": name},
                            f"invalid repository name {name!r}: must be lowercase path components "
                            "of letters and digits, separated by '.', '_', '__' or '-'")
    return name


def is_tag(text: str) -> bool:
    return _TAG.fullmatch(text) is not None


def check_tag(tag: str) -> str:
    """The tag itself, or TAG_INVALID."""
    if not is_tag(tag):
        raise RegistryError(TAG_INVALID, {"tag": tag[:200]},
                            f"invalid tag {tag[:200]!r}: must match [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}")
    return tag


def parse_digest(text: str) -> Digest:
    """`sha256:<hex>` → Digest, or DIGEST_INVALID (also for other algorithms)."""
    try:
        return Digest.parse(text)
    except InvalidArgument as exc:
        raise RegistryError(DIGEST_INVALID, {"digest": text[:200]}, exc.message) from None


def parse_reference(text: str) -> Digest | str:
    """A manifest reference: a Digest when it has a ":", else a checked tag."""
    if ":" in text:
        return parse_digest(text)
    return check_tag(text)
