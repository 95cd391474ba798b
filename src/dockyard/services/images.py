"""The images backend: ImageStore operations in the Engine API's JSON shapes.

Everything here returns what moby's api/swagger.yaml describes (ImageSummary,
ImageInspect, HistoryResponseItem, ImageDeleteResponseItem,
ImagePruneResponse); the PascalCase lives in this module only.  The HTTP
layer passes parsed parameters in and serialises what comes out.
"""

from __future__ import annotations

import json
import os
from typing import BinaryIO, Iterable, Iterator, Mapping, Sequence

from dockyard.images.reference import parse_reference
from dockyard.images.removal import ContainerUse, InUseBy, nobody
from dockyard.images.store import ImageRecord, ImageStore
from dockyard.images.timefmt import format_rfc3339_nano


def _familiar(ref: str) -> str:
    return parse_reference(ref).familiar()


class ImageService:
    def __init__(self, store: ImageStore, in_use_by: InUseBy = nobody):
        self.store = store
        # Injected by the wiring: which containers use an image (id, running).
        self.in_use_by = in_use_by

    # GET /images/json
    def list(self, all: bool = False, filters: Mapping[str, Iterable[str]] | None = None, digests: bool = True) -> list[dict]:
        return [self._summary(rec) for rec in self.store.list(all=all, filters=filters)]

    def _summary(self, rec: ImageRecord) -> dict:
        labels = dict(self.store.config(rec.id).config.labels)
        return {
            "Id": rec.id,
            "ParentId": rec.parent,
            "RepoTags": [_familiar(r) for r in rec.tags],
            "RepoDigests": self._repo_digests(rec),
            "Created": int(rec.created),
            "Size": rec.size,
            "SharedSize": -1,
            "VirtualSize": rec.size,  # removed in API 1.44, still read by older clients
            "Labels": labels,
            "Containers": -1,
        }

    @staticmethod
    def _repo_digests(rec: ImageRecord) -> list[str]:
        return [_familiar(r) for r in rec.digests]

    # GET /images/{name}/json
    def inspect(self, name: str) -> dict:
        rec = self.store.get(name)
        config = self.store.config(rec.id)
        layers = self.store.layers(rec.id)
        return {
            "Id": rec.id,
            "RepoTags": [_familiar(r) for r in rec.tags],
            "RepoDigests": self._repo_digests(rec),
            "Parent": rec.parent,
            "Comment": config.comment,
            "Created": config.created or format_rfc3339_nano(int(rec.created * 1e9)),
            "Container": "",
            "ContainerConfig": None,
            "DockerVersion": "",
            "Author": config.author,
            "Config": config.config.to_api(),
            "Architecture": config.architecture,
            **({"Variant": config.variant} if config.variant else {}),
            "Os": config.os,
            "Size": rec.size,
            "VirtualSize": rec.size,
            "GraphDriver": self._graph_driver(rec.id),
            "RootFS": {"Type": "layers", "Layers": [str(layer.diff_id) for layer in layers]},
            "Metadata": {"LastTagTime": rec.last_tag_time or "0001-01-01T00:00:00Z"},
        }

    def _graph_driver(self, image_id: str) -> dict:
        dirs = self.store.layer_dirs(image_id)
        data: dict[str, str] = {}
        if dirs:
            top = os.path.dirname(dirs[0])
            data = {"MergedDir": os.path.join(top, "merged"), "UpperDir": dirs[0], "WorkDir": os.path.join(top, "work")}
            if len(dirs) > 1:
                data["LowerDir"] = ":".join(dirs[1:])
        return {"Name": self.store.snapshotter.driver_name, "Data": data}

    # GET /images/{name}/history
    def history(self, name: str) -> list[dict]:
        return [
            {
                "Id": item.id,
                "Created": int(item.created),
                "CreatedBy": item.created_by,
                "Tags": list(item.tags) or None,
                "Size": item.size,
                "Comment": item.comment,
            }
            for item in self.store.history(name)
        ]

    # POST /images/{name}/tag
    def tag(self, source: str, repo: str, tag: str = "") -> None:
        self.store.tag(source, f"{repo}:{tag}" if tag else repo)

    # DELETE /images/{name}
    def delete(self, name: str, force: bool = False, noprune: bool = False) -> list[dict]:
        return self.store.delete(name, force=force, prune=not noprune, in_use_by=self.in_use_by)

    # POST /images/prune
    def prune(self, filters: Mapping[str, Iterable[str]] | None = None) -> dict:
        records, reclaimed = self.store.prune(filters=filters, in_use_by=self.in_use_by)
        return {"ImagesDeleted": records or None, "SpaceReclaimed": reclaimed}

    # POST /images/create?fromSrc=-|<url>&repo=…&tag=…&message=…&changes=…
    def import_image(
        self,
        stream: BinaryIO,
        repo: str = "",
        tag: str = "",
        changes: Sequence[str] = (),
        message: str = "",
        platform: str = "",
    ) -> Iterator[dict]:
        """Progress messages of `docker import`, one JSON object each; the last has the id.

        The generator does the work when iterated: the HTTP layer streams
        each message as it comes.  A failure is raised, not yielded: the
        caller turns it into the stream's {"error": …} message.
        """
        ref = None
        if repo:
            ref = f"{repo}:{tag}" if tag else repo
        arch, os_name = "amd64", "linux"
        if platform:
            parts = platform.split("/")
            os_name = parts[0] or os_name
            if len(parts) > 1 and parts[1]:
                arch = parts[1]
        image_id = self.store.import_layer(stream, ref, list(changes), message, architecture=arch, os_name=os_name)
        yield {"status": image_id}


def progress_line(message: Mapping) -> bytes:
    """One JSON message of a progress stream, as docker frames it."""
    return json.dumps(message).encode() + b"\r\n"


__all__ = ["ContainerUse", "ImageService", "progress_line"]
