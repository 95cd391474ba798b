"""Content digests: `sha256:<64 hex>`, the name of every blob.

A `Digest` is validated on construction, so code that holds one never has to
ask whether it is well formed.  Only sha256 is accepted: it is what Docker and
the OCI image spec use, and one algorithm keeps the blob tree flat.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from dockyard.errors import InvalidArgument

ALGORITHM = "sha256"
_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        if self.algorithm != ALGORITHM:
            raise InvalidArgument(f"unsupported digest algorithm: {self.algorithm}")
        if not _HEX.fullmatch(self.hex):
            raise InvalidArgument(f"invalid checksum digest format: {self.algorithm}:{self.hex}")

    @classmethod
    def parse(cls, text: str) -> "Digest":
        """`sha256:<hex>` → Digest; anything else → InvalidArgument."""
        algorithm, sep, hex_ = text.partition(":")
        if not sep:
            raise InvalidArgument(f"invalid checksum digest format: {text}")
        return cls(algorithm, hex_)

    @classmethod
    def from_bytes(cls, data: bytes) -> "Digest":
        return cls(ALGORITHM, hashlib.sha256(data).hexdigest())

    @classmethod
    def from_hasher(cls, hasher: "hashlib._Hash") -> "Digest":
        return cls(ALGORITHM, hasher.hexdigest())

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @property
    def short(self) -> str:
        """The 12-character form docker prints for IDs."""
        return self.hex[:12]


def as_digest(value: "Digest | str") -> Digest:
    """Accept a Digest or its string form where callers hold either."""
    return value if isinstance(value, Digest) else Digest.parse(value)
