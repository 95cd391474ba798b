"""The documents of an image archive, written and read as pure functions.

Two formats meet here (`archive.py` draws both trees):

* docker's archive: ``manifest.json`` lists one `ArchiveEntry` per image
  (the config's path, its tags, its layers' paths, base first), beside a
  ``repositories`` file that only pre-1.10 readers use;
* the OCI image layout: ``oci-layout`` states the version, ``index.json``
  names manifests by descriptor, and every blob lives at
  ``blobs/<algorithm>/<hex>``, named by its own digest.

Nothing here touches a file: the save side turns images into bytes, the
load side turns bytes into values, and each arrow is tested on its own
(tests/unit/images/test_archive.py).  JSON from an archive is hostile
input: every malformed shape becomes `InvalidArgument` saying which file
was wrong, never a KeyError or TypeError.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from dockyard.content.descriptor import Descriptor
from dockyard.content.digest import Digest
from dockyard.errors import InvalidArgument
from dockyard.images import mediatypes
from dockyard.images.manifest import Manifest
from dockyard.images.reference import Reference, parse_reference

OCI_LAYOUT = "oci-layout"
INDEX = "index.json"
MANIFEST = "manifest.json"
REPOSITORIES = "repositories"
BLOBS = "blobs"
LAYOUT_VERSION = "1.0.0"

# containerd's annotation carries the whole reference; the OCI one, as docker
# and containerd write it, only the tag.
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
# BuildKit's attestation manifests sit in indexes beside the images.
_ANNOTATION_REFERENCE_TYPE = "vnd.docker.reference.type"

# Layers go into an OCI manifest with OCI media types, whatever they were stored as.
_OCI_LAYER_TYPES = {
    mediatypes.DOCKER_LAYER: mediatypes.OCI_LAYER,
    mediatypes.DOCKER_LAYER_GZIP: mediatypes.OCI_LAYER_GZIP,
}
PLATFORM_OS = "linux"
PLATFORM_ARCHITECTURE = "amd64"


def _error(document: str, detail: str) -> InvalidArgument:
    return InvalidArgument(f"invalid archive: {document}: {detail}" if document else f"invalid archive: {detail}")


# -- paths -------------------------------------------------------------------------

def blob_path(digest: Digest) -> str:
    """Where a blob lives in an OCI layout: ``blobs/sha256/<hex>``."""
    return f"{BLOBS}/{digest.algorithm}/{digest.hex}"


def digest_of_path(path: str) -> Digest | None:
    """The digest a ``blobs/<algorithm>/<hex>`` path promises; None for other paths."""
    parts = clean_path(path).split("/")
    if len(parts) != 3 or parts[0] != BLOBS:
        return None
    try:
        return Digest(parts[1], parts[2])
    except InvalidArgument:
        return None


def clean_path(path: str, document: str = "") -> str:
    """A path in the archive, relative to its root; one that climbs out is refused (`document` names its source)."""
    if not isinstance(path, str) or not path:
        raise _error(document, f"invalid path {path!r}")
    norm = posixpath.normpath(path.lstrip("/"))
    if norm == ".." or norm.startswith("../") or norm == ".":
        raise _error(document, f"path {path!r} is outside of the archive")
    return norm


# -- docker's manifest.json ------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    """One image in ``manifest.json``: paths are relative to the archive's root."""

    config: str
    repo_tags: tuple[str, ...] = ()  # familiar, as docker writes them: busybox:latest
    layers: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {"Config": self.config, "RepoTags": list(self.repo_tags) or None, "Layers": list(self.layers)}

    @classmethod
    def from_json(cls, item: Any) -> "ArchiveEntry":
        if not isinstance(item, dict):
            raise _error(MANIFEST, "an entry is not a JSON object")
        config, tags, layers = item.get("Config"), item.get("RepoTags") or [], item.get("Layers") or []
        if not isinstance(config, str) or not config:
            raise _error(MANIFEST, "an entry has no Config")
        if not _strings(tags) or not _strings(layers):
            raise _error(MANIFEST, f"entry {config}: RepoTags and Layers must be lists of strings")
        return cls(clean_path(config, MANIFEST), tuple(tags), tuple(clean_path(p, MANIFEST) for p in layers))


def manifest_json(entries: Sequence[ArchiveEntry]) -> bytes:
    """``manifest.json`` as docker's encoder writes it (compact, newline-terminated)."""
    return _compact(e.to_json() for e in entries)


def parse_manifest_json(data: bytes) -> list[ArchiveEntry]:
    doc = _load(data, MANIFEST)
    if not isinstance(doc, list):
        # docker: "invalid manifest, manifest cannot be null (but can be [])"
        raise _error(MANIFEST, "not a list of images")
    return [ArchiveEntry.from_json(item) for item in doc]


def parse_repo_tag(text: str) -> Reference:
    """A RepoTags item: a name with a tag and no digest (docker refuses anything else)."""
    try:
        ref = parse_reference(text, default_tag=False)
    except InvalidArgument as exc:
        raise _error(MANIFEST, f"invalid tag {text!r}: {exc.message}") from None
    if ref.tag is None or ref.digest is not None:
        raise _error(MANIFEST, f"invalid tag {text!r}: a tag is required and a digest is not allowed")
    return ref


def repositories_json(tagged: Iterable[tuple[Reference, str]]) -> bytes:
    """The legacy ``repositories`` file: {"busybox": {"latest": "<top layer's hex>"}}."""
    doc: dict[str, dict[str, str]] = {}
    for ref, top_layer in tagged:
        doc.setdefault(ref.familiar_name(), {})[ref.tag or "latest"] = top_layer
    return json.dumps(doc, separators=(",", ":")).encode() + b"\n"


# -- the OCI image layout --------------------------------------------------------------

def oci_layout_json() -> bytes:
    return b'{"imageLayoutVersion": "' + LAYOUT_VERSION.encode() + b'"}'


def check_oci_layout(data: bytes) -> None:
    doc = _load(data, OCI_LAYOUT)
    version = doc.get("imageLayoutVersion") if isinstance(doc, dict) else None
    if version != LAYOUT_VERSION:
        raise _error(OCI_LAYOUT, f"unsupported image layout version {version!r} (expected {LAYOUT_VERSION})")


def oci_manifest(config: Descriptor, layers: Sequence[Descriptor]) -> bytes:
    """An OCI image manifest, compact as Go's encoder writes it (its digest names it in index.json)."""
    doc = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": {"mediaType": mediatypes.OCI_CONFIG, "digest": str(config.digest), "size": config.size},
        "layers": [
            {"mediaType": _OCI_LAYER_TYPES.get(layer.media_type, layer.media_type),
             "digest": str(layer.digest), "size": layer.size}
            for layer in layers
        ],
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def index_json(manifests: Sequence[Descriptor]) -> bytes:
    doc = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": [d.to_json() for d in manifests]}
    return json.dumps(doc, separators=(",", ":")).encode()


def tag_annotations(ref: Reference) -> tuple[tuple[str, str], ...]:
    """What docker 25+ puts on a tagged manifest in index.json."""
    return tuple(sorted({ANNOTATION_IMAGE_NAME: str(ref), ANNOTATION_REF_NAME: ref.tag or "latest"}.items()))


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def is_default(self) -> bool:
        return self.os == PLATFORM_OS and self.architecture == PLATFORM_ARCHITECTURE


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """A manifest (or a nested index) named by an index, with what the index says of it."""

    descriptor: Descriptor
    platform: Platform | None = None

    @property
    def annotations(self) -> dict[str, str]:
        return dict(self.descriptor.annotations)

    @property
    def is_index(self) -> bool:
        return self.descriptor.media_type in mediatypes.INDEXES

    @property
    def is_attestation(self) -> bool:
        return _ANNOTATION_REFERENCE_TYPE in self.annotations

    def reference(self) -> Reference | None:
        """The tag this entry gives its image, if any.

        ``io.containerd.image.name`` is a whole reference.  Without it,
        ``org.opencontainers.image.ref.name`` counts when it is a whole
        reference itself (has a "/" or ":", as skopeo writes
        ``localhost/app:v1``); a bare ref name ("latest", "v1") says
        nothing about the repository, so the image is loaded untagged.
        """
        annotations = self.annotations
        name = annotations.get(ANNOTATION_IMAGE_NAME, "")
        if not name:
            ref_name = annotations.get(ANNOTATION_REF_NAME, "")
            if "/" not in ref_name and ":" not in ref_name:
                return None
            name = ref_name
        try:
            ref = parse_reference(name)
        except InvalidArgument as exc:
            raise _error(INDEX, f"invalid image name {name!r}: {exc.message}") from None
        if ref.digest is not None:
            return None  # name@digest tags nothing
        return ref


def parse_index(data: bytes, document: str = INDEX) -> list[IndexEntry]:
    """The manifests an OCI index (or Docker manifest list) names, in order."""
    doc = _load(data, document)
    if not isinstance(doc, dict) or doc.get("schemaVersion") != 2:
        raise _error(document, "not an OCI image index (schemaVersion 2)")
    media_type = doc.get("mediaType")
    if media_type is not None and media_type not in mediatypes.INDEXES:
        raise _error(document, f"unexpected media type {media_type!r}")
    manifests = doc.get("manifests")
    if manifests is None:
        manifests = []
    if not isinstance(manifests, list):
        raise _error(document, "manifests is not a list")
    out = []
    for item in manifests:
        if not isinstance(item, dict):
            raise _error(document, "a manifest descriptor is not a JSON object")
        annotations = item.get("annotations") or {}
        if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
            raise _error(document, "annotations must map strings to strings")
        try:
            descriptor = Descriptor.from_json(item)
        except InvalidArgument as exc:
            raise _error(document, exc.message) from None
        out.append(IndexEntry(descriptor, _platform(item.get("platform"), document)))
    return out


def _platform(value: Any, document: str) -> Platform | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _error(document, "platform is not a JSON object")
    return Platform(str(value.get("os") or ""), str(value.get("architecture") or ""), str(value.get("variant") or ""))


def select_images(entries: Sequence[IndexEntry]) -> list[IndexEntry]:
    """The entries to load from one index: images and nested indexes for linux/amd64.

    Attestations are skipped; an entry without a platform is taken (docker's
    top-level index.json names its images without one).
    """
    return [e for e in entries if not e.is_attestation and (e.platform is None or e.platform.is_default())]


def parse_manifest(data: bytes, document: str) -> tuple[Descriptor, tuple[Descriptor, ...]]:
    """An image manifest's config and layers (OCI or Docker schema 2): the
    image store's own parser, its errors naming the archive's document."""
    try:
        manifest = Manifest.from_bytes(data)
    except InvalidArgument as exc:
        raise _error(document, exc.message) from None
    return manifest.config, manifest.layers


# -- JSON helpers --------------------------------------------------------------------------

def _load(data: bytes, document: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _error(document, f"not valid JSON: {exc}") from None


def _compact(items: Iterable[Mapping[str, Any]]) -> bytes:
    return json.dumps(list(items), separators=(",", ":")).encode() + b"\n"


def _strings(values: Any) -> bool:
    return isinstance(values, list) and all(isinstance(v, str) for v in values)


__all__ = [
    "ArchiveEntry", "IndexEntry", "Platform", "blob_path", "check_oci_layout", "clean_path", "digest_of_path",
    "index_json", "manifest_json", "oci_layout_json", "oci_manifest", "parse_index", "parse_manifest",
    "parse_manifest_json", "parse_repo_tag", "repositories_json", "select_images", "tag_annotations",
]
