"""Image manifests: Docker v2 schema 2 (written and read) and OCI (read).

A manifest names the config blob and the layer blobs in order.  dockyard
writes Docker schema 2, which both Docker and every registry accept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from dockyard.content.descriptor import Descriptor
from dockyard.content.digest import Digest
from dockyard.errors import InvalidArgument
from dockyard.images import mediatypes


@dataclass(frozen=True, slots=True)
class Manifest:
    config: Descriptor
    layers: tuple[Descriptor, ...]
    media_type: str = mediatypes.DOCKER_MANIFEST

    def to_json(self) -> dict:
        return {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "config": self.config.to_json(),
            "layers": [layer.to_json() for layer in self.layers],
        }

    def to_bytes(self) -> bytes:
        """Deterministic bytes (docker's own three-space indentation)."""
        return json.dumps(self.to_json(), indent=3).encode()

    @property
    def digest(self) -> Digest:
        return Digest.from_bytes(self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes, media_type: str | None = None) -> "Manifest":
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidArgument(f"invalid manifest: {exc}") from None
        if not isinstance(doc, dict):
            raise InvalidArgument("invalid manifest: not a JSON object")
        kind = doc.get("mediaType") or media_type or mediatypes.OCI_MANIFEST
        if doc.get("schemaVersion") != 2 or kind not in mediatypes.MANIFESTS:
            raise InvalidArgument(f"unsupported manifest: schemaVersion {doc.get('schemaVersion')}, {kind}")
        config, layers = doc.get("config"), doc.get("layers") or []
        if not isinstance(config, dict) or not isinstance(layers, list):
            raise InvalidArgument("invalid manifest: config and layers are required")
        try:
            return cls(Descriptor.from_json(config), tuple(Descriptor.from_json(layer) for layer in layers), kind)
        except AttributeError:
            raise InvalidArgument("invalid manifest: a layer descriptor is not a JSON object") from None
