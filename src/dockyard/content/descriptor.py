"""A descriptor names a blob: what it is, its digest, and its size (OCI)."""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.content.digest import Digest
from dockyard.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    annotations: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.size < 0:
            raise InvalidArgument(f"invalid descriptor size: {self.size}")

    def with_media_type(self, media_type: str) -> "Descriptor":
        return Descriptor(media_type, self.digest, self.size, self.annotations)

    def to_json(self) -> dict:
        """The OCI/Docker JSON form (camelCase, as the specs spell it)."""
        out: dict = {"mediaType": self.media_type, "size": self.size, "digest": str(self.digest)}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def from_json(cls, data: dict) -> "Descriptor":
        try:
            return cls(
                data.get("mediaType", ""),
                Digest.parse(data["digest"]),
                int(data["size"]),
                tuple(sorted((data.get("annotations") or {}).items())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"invalid descriptor: {exc}") from None
