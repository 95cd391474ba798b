"""Image archives: the documents, save, load of every format, and archives that must be refused.

Stores are real (SQLite, content store, the native snapshotter) in a
temporary directory; archives are built by hand in each format so that
every check of `archive_read` is met by an input that fails it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile

import pytest

from dockyard.content.descriptor import Descriptor
from dockyard.content.digest import Digest
from dockyard.content.store import ContentStore
from dockyard.errors import InvalidArgument, NotFound
from dockyard.images import archive_layout as docs
from dockyard.images import mediatypes
from dockyard.images.archive import ImageArchive, ImageLoaded, LayerLoaded
from dockyard.images.archive_save import Layout, describe
from dockyard.images.config import ImageConfig
from dockyard.images.reference import parse_reference
from dockyard.images.store import ImageStore
from dockyard.metadata.db import Database
from dockyard.snapshots import NativeSnapshotter

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="unpacking layers needs root (chown, mknod)")


# -- building blocks -----------------------------------------------------------------------

def layer_tar(*entries: tuple) -> bytes:
    """A layer: ("file", name, data) / ("dir", name) / ("symlink", name, target) / ("hardlink", name, target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, *rest in entries:
            info = tarfile.TarInfo(name)
            data = None
            if kind == "file":
                data = rest[0]
                info.size, info.mode = len(data), 0o644
            elif kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, rest[0]
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, rest[0]
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def config_for(*layers: bytes, os_name: str = "linux", cmd: str = "sh") -> bytes:
    diff_ids = [sha(gzip.decompress(l) if l[:2] == b"\x1f\x8b" else l) for l in layers]
    doc = {"architecture": "amd64", "os": os_name, "config": {"Cmd": [cmd]},
           "rootfs": {"type": "layers", "diff_ids": diff_ids}, "created": "2024-01-02T03:04:05Z"}
    return json.dumps(doc, sort_keys=True).encode()


def tar_of(files: dict[str, bytes | tuple], gz: bool = False) -> bytes:
    """An archive: path → bytes, or ("symlink", target), ("dir",), ("fifo",)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, value in files.items():
            info = tarfile.TarInfo(name)
            if isinstance(value, tuple):
                kind = value[0]
                info.type = {"symlink": tarfile.SYMTYPE, "dir": tarfile.DIRTYPE, "fifo": tarfile.FIFOTYPE,
                             "hardlink": tarfile.LNKTYPE}[kind]
                if kind in ("symlink", "hardlink"):
                    info.linkname = value[1]
                tar.addfile(info)
            else:
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value))
    data = buf.getvalue()
    return gzip.compress(data) if gz else data


def legacy_archive(images: list[tuple[bytes, list[bytes], list[str]]], extra: dict | None = None) -> bytes:
    """docker 20.10's format: <v1 id>/layer.tar (a symlink when shared), <config hex>.json, manifest.json."""
    files: dict = {}
    manifest = []
    layer_dirs: dict[str, str] = {}
    for config, layers, tags in images:
        paths = []
        for position, layer in enumerate(layers):
            v1 = hashlib.sha256(config + bytes([position])).hexdigest()
            digest = sha(layer)
            if digest in layer_dirs:
                files[f"{v1}/layer.tar"] = ("symlink", f"../{layer_dirs[digest]}/layer.tar")
            else:
                files[f"{v1}/VERSION"] = b"1.0"
                files[f"{v1}/json"] = b"{}"
                files[f"{v1}/layer.tar"] = layer
                layer_dirs[digest] = v1
            paths.append(f"{v1}/layer.tar")
        config_name = hashlib.sha256(config).hexdigest() + ".json"
        files[config_name] = config
        manifest.append({"Config": config_name, "RepoTags": tags, "Layers": paths})
    files["manifest.json"] = json.dumps(manifest).encode()
    files.update(extra or {})
    return tar_of(files)


def oci_layout(images: list[tuple[bytes, list[bytes], dict | None]], *, nested: bool = False,
               corrupt: str | None = None) -> dict:
    """A pure OCI image layout: image = (config, layers, annotations); `nested` wraps each manifest in a
    multi-platform index beside an arm64 image and an attestation."""
    files: dict = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}'}

    def blob(data: bytes, media_type: str, **extra) -> dict:
        files[f"blobs/sha256/{hashlib.sha256(data).hexdigest()}"] = data
        return {"mediaType": media_type, "digest": sha(data), "size": len(data), **extra}

    manifests = []
    for config, layers, annotated in images:
        layer_descs = [blob(l, mediatypes.OCI_LAYER_GZIP if l[:2] == b"\x1f\x8b" else mediatypes.OCI_LAYER)
                       for l in layers]
        manifest = json.dumps({"schemaVersion": 2, "mediaType": mediatypes.OCI_MANIFEST,
                               "config": blob(config, mediatypes.OCI_CONFIG), "layers": layer_descs}).encode()
        extra = {"annotations": annotated} if annotated else {}
        if not nested:
            manifests.append(blob(manifest, mediatypes.OCI_MANIFEST, **extra))
            continue
        arm_config = config_for(layer_tar(("file", "arm", b"arm")))
        arm = json.dumps({"schemaVersion": 2, "mediaType": mediatypes.OCI_MANIFEST,
                          "config": blob(arm_config, mediatypes.OCI_CONFIG), "layers": []}).encode()
        index = json.dumps({"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": [
            blob(arm, mediatypes.OCI_MANIFEST, platform={"os": "linux", "architecture": "arm64"}),
            blob(manifest, mediatypes.OCI_MANIFEST, platform={"os": "linux", "architecture": "amd64"}),
            blob(b'{"schemaVersion":2}', mediatypes.OCI_MANIFEST, platform={"os": "unknown", "architecture": "unknown"},
                 annotations={"vnd.docker.reference.type": "attestation-manifest"}),
        ]}).encode()
        manifests.append(blob(index, mediatypes.OCI_INDEX, **extra))
    files["index.json"] = json.dumps({"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX,
                                      "manifests": manifests}).encode()
    return files


def write_tree(root, files: dict) -> None:
    for name, data in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def make_store(path) -> ImageStore:
    os.makedirs(path)
    return ImageStore(Database(os.path.join(path, "metadata.db")), ContentStore(os.path.join(path, "content")),
                      NativeSnapshotter(os.path.join(path, "snapshots")))


@pytest.fixture
def store(tmp_path) -> ImageStore:
    return make_store(tmp_path / "store")


@pytest.fixture
def archives(store, tmp_path) -> ImageArchive:
    return ImageArchive(store, str(tmp_path / "store" / "tmp"))


def load(archives: ImageArchive, data: bytes) -> list:
    with archives.receive(io.BytesIO(data)) as spool:
        return list(archives.load(spool))


def save(archives: ImageArchive, *names: str, layout: Layout = Layout.DOCKER) -> bytes:
    with archives.save(archives.select(list(names)), layout) as stream:
        return b"".join(stream)


def members(data: bytes) -> dict[str, bytes | None]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name.rstrip("/"): (tar.extractfile(m).read() if m.isfile() else None) for m in tar}


def nothing_imported(store: ImageStore) -> bool:
    return store.list(all=True) == []


BASE = layer_tar(("dir", "bin"), ("file", "bin/hello", b"hello\n"), ("file", "etc/os-release", b"ID=test\n"))
TOP = layer_tar(("file", "app/main", b"print('hi')\n"), ("hardlink", "app/again", "app/main"))


# -- the documents ------------------------------------------------------------------------------

def test_manifest_json_round_trip_and_docker_shape():
    entry = docs.ArchiveEntry("blobs/sha256/" + "a" * 64, ("busybox:latest",), ("blobs/sha256/" + "b" * 64,))
    data = docs.manifest_json([entry])
    assert data == (b'[{"Config":"blobs/sha256/' + b"a" * 64 + b'","RepoTags":["busybox:latest"],'
                    b'"Layers":["blobs/sha256/' + b"b" * 64 + b'"]}]\n')
    assert docs.parse_manifest_json(data) == [entry]
    untagged = docs.manifest_json([docs.ArchiveEntry("x.json")])
    assert json.loads(untagged) == [{"Config": "x.json", "RepoTags": None, "Layers": []}]


@pytest.mark.parametrize("data, message", [
    (b"null", "not a list"),
    (b"{}", "not a list"),
    (b"[1]", "not a JSON object"),
    (b'[{"RepoTags": []}]', "no Config"),
    (b'[{"Config": "c.json", "Layers": [1]}]', "lists of strings"),
    (b'[{"Config": "../../etc/passwd"}]', "outside of the archive"),
    (b'[{"Config": "c.json", "Layers": ["a/../../x"]}]', "outside of the archive"),
    (b"[", "not valid JSON"),
])
def test_manifest_json_refuses_malformed_documents(data, message):
    with pytest.raises(InvalidArgument, match=message):
        docs.parse_manifest_json(data)


def test_repo_tags_need_a_tag_and_no_digest():
    assert str(docs.parse_repo_tag("busybox:1")) == "docker.io/library/busybox:1"
    for bad in ("busybox", "busybox@sha256:" + "a" * 64, "Bad:tag", "a:b:c"):
        with pytest.raises(InvalidArgument, match="invalid tag"):
            docs.parse_repo_tag(bad)


def test_index_entry_tags_follow_containerd_then_full_ref_names():
    def entry(annotations):
        return docs.IndexEntry(Descriptor(mediatypes.OCI_MANIFEST, Digest.from_bytes(b"m"), 1,
                                          tuple(annotations.items())))

    assert str(entry({"io.containerd.image.name": "docker.io/library/busybox:latest",
                      "org.opencontainers.image.ref.name": "latest"}).reference()) == "docker.io/library/busybox:latest"
    assert str(entry({"org.opencontainers.image.ref.name": "localhost/app:v1"}).reference()) == "localhost/app:v1"
    assert entry({"org.opencontainers.image.ref.name": "v1"}).reference() is None
    assert entry({}).reference() is None


def test_select_images_takes_linux_amd64_and_skips_attestations():
    def entry(platform, annotations=()):
        return docs.IndexEntry(Descriptor(mediatypes.OCI_MANIFEST, Digest.from_bytes(repr(platform).encode()), 1,
                                          annotations), platform)

    amd64, arm64 = docs.Platform("linux", "amd64"), docs.Platform("linux", "arm64")
    attestation = entry(docs.Platform("unknown", "unknown"), (("vnd.docker.reference.type", "attestation-manifest"),))
    chosen = docs.select_images([entry(arm64), entry(amd64), attestation, entry(None)])
    assert [e.platform for e in chosen] == [amd64, None]


def test_oci_manifest_uses_oci_media_types_for_stored_layers():
    config = Descriptor(mediatypes.DOCKER_CONFIG, Digest.from_bytes(b"c"), 1)
    layers = [Descriptor(mediatypes.DOCKER_LAYER, Digest.from_bytes(b"l"), 2),
              Descriptor(mediatypes.DOCKER_LAYER_GZIP, Digest.from_bytes(b"g"), 3)]
    doc = json.loads(docs.oci_manifest(config, layers))
    assert doc["mediaType"] == mediatypes.OCI_MANIFEST
    assert doc["config"]["mediaType"] == mediatypes.OCI_CONFIG
    assert [l["mediaType"] for l in doc["layers"]] == [mediatypes.OCI_LAYER, mediatypes.OCI_LAYER_GZIP]


def test_repositories_maps_familiar_names_to_the_top_layer():
    data = docs.repositories_json([(parse_reference("busybox:1"), "ab"), (parse_reference("x/y:2"), "cd")])
    assert json.loads(data) == {"busybox": {"1": "ab"}, "x/y": {"2": "cd"}}


# -- save ---------------------------------------------------------------------------------------

@pytest.fixture
def two_images(store):
    """app:1 (BASE) and app:2 (BASE + TOP, gzip-stored top layer), plus a second tag of app:1."""
    base = store.import_layer(io.BytesIO(BASE), "example/app:1")
    store.tag(base, "other/name:x")
    config = config_for(BASE, gzip.compress(TOP))
    layers = store.unpack(ImageConfig.from_bytes(config), [
        store.ingest_layer_blob(io.BytesIO(BASE)), store.ingest_layer_blob(io.BytesIO(gzip.compress(TOP)))])
    top = store.register(config, layers)
    store.tag(top, "example/app:2")
    return base, top


def test_save_names_follow_dockers_rules(archives, two_images):
    base, top = two_images
    tags = lambda names: {str(i.image_id): [t.familiar() for t in i.tags] for i in archives.select(names)}
    assert tags(["example/app:1"]) == {base: ["example/app:1"]}
    assert tags(["example/app"]) == {base: ["example/app:1"], top: ["example/app:2"]}
    assert tags([base]) == {base: []}
    assert tags([base[7:19]]) == {base: []}
    assert tags(["example/app:1", "other/name:x", "example/app:1"]) == {base: ["example/app:1", "other/name:x"]}
    with pytest.raises(NotFound, match="No such image: nosuch:latest"):
        archives.select(["nosuch"])


def test_saved_archive_is_an_oci_layout_and_a_docker_archive(archives, store, two_images):
    base, top = two_images
    files = members(save(archives, "example/app"))
    assert {"oci-layout", "index.json", "manifest.json", "repositories", "blobs", "blobs/sha256"} <= set(files)
    # Every blob is named by its digest; each is written once.
    blobs = {name: data for name, data in files.items() if name.startswith("blobs/sha256/")}
    for name, data in blobs.items():
        assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
    entries = {e.config: e for e in docs.parse_manifest_json(files["manifest.json"])}
    assert set(entries) == {f"blobs/sha256/{base[7:]}", f"blobs/sha256/{top[7:]}"}
    # Layers match the configs' diff ids after decompression, and the top one is stored gzip'd.
    for path, entry in entries.items():
        config = ImageConfig.from_bytes(files[path])
        plain = [gzip.decompress(files[p]) if files[p][:2] == b"\x1f\x8b" else files[p] for p in entry.layers]
        assert [sha(p) for p in plain] == [str(d) for d in config.diff_ids]
    assert files[entries[f"blobs/sha256/{top[7:]}"].layers[1]][:2] == b"\x1f\x8b"
    index = docs.parse_index(files["index.json"])
    assert sorted(str(e.reference()) for e in index) == ["docker.io/example/app:1", "docker.io/example/app:2"]
    for entry in index:
        assert entry.descriptor.media_type == mediatypes.OCI_MANIFEST
        config, layers = docs.parse_manifest(files[docs.blob_path(entry.descriptor.digest)], "m")
        assert config.media_type == mediatypes.OCI_CONFIG and docs.blob_path(config.digest) in files
    assert json.loads(files["repositories"]) == {"example/app": {
        "1": entries[f"blobs/sha256/{base[7:]}"].layers[-1].rsplit("/", 1)[1],
        "2": entries[f"blobs/sha256/{top[7:]}"].layers[-1].rsplit("/", 1)[1]}}


def test_members_are_sorted_shared_blobs_once_and_untagged_images_bare(archives, two_images):
    base, top = two_images
    described = describe(archives.select([base, top]), Layout.DOCKER)
    paths = [m.path for m in described]
    assert paths == sorted(paths) and len(paths) == len(set(paths))
    index = docs.parse_index(next(m.data for m in described if m.path == "index.json"))
    assert [e.annotations for e in index] == [{}, {}]
    assert b'"RepoTags":null' in next(m.data for m in described if m.path == "manifest.json")
    assert all(m.path != "repositories" for m in described)


def test_oci_layout_leaves_docker_files_out(archives, two_images):
    files = members(save(archives, "example/app:1", layout=Layout.OCI))
    assert "manifest.json" not in files and "repositories" not in files
    assert {"oci-layout", "index.json"} <= set(files)


def test_an_image_without_layers_round_trips(archives, store, tmp_path):
    from dockyard.images.config import ContainerConfig, HistoryEntry

    image_id = store.derive(None, None, ContainerConfig(env=("A=1",)), HistoryEntry(created_by="ENV A=1"))
    store.tag(image_id, "empty:1")
    data = save(archives, "empty:1")
    assert json.loads(members(data)["manifest.json"])[0]["Layers"] == []
    other = make_store(tmp_path / "other")
    events = load(ImageArchive(other, str(tmp_path / "other" / "tmp")), data)
    assert [(e.image_id, [t.familiar() for t in e.tags]) for e in events] == [(image_id, ["empty:1"])]


def test_save_stream_survives_deleting_the_image(archives, store, two_images):
    base, _ = two_images
    stream = archives.save(archives.select(["example/app:1"]))
    store.delete(base, force=True)
    with stream:
        data = b"".join(stream)
    assert "manifest.json" in members(data)


# -- load -----------------------------------------------------------------------------------------

def test_round_trip_between_stores(archives, two_images, tmp_path):
    base, top = two_images
    data = save(archives, "example/app", "other/name:x")
    other = make_store(tmp_path / "other")
    events = load(ImageArchive(other, str(tmp_path / "other" / "tmp")), data)
    loaded = {e.image_id: sorted(t.familiar() for t in e.tags) for e in events if isinstance(e, ImageLoaded)}
    assert loaded == {base: ["example/app:1", "other/name:x"], top: ["example/app:2"]}
    assert len([e for e in events if isinstance(e, LayerLoaded)]) == 2  # the shared base once
    assert other.read_file_in_image("example/app:2", "/app/again") == b"print('hi')\n"
    assert other.read_file_in_image("other/name:x", "/bin/hello") == b"hello\n"
    # Saved again, the same bytes: nothing in the archive depends on the store it came from.
    assert save(ImageArchive(other, str(tmp_path / "other" / "tmp")), "example/app", "other/name:x") == data


def test_loads_dockers_legacy_format_with_shared_layer_symlinks(archives, store):
    config1, config2 = config_for(BASE), config_for(BASE, TOP, cmd="app")
    data = legacy_archive([(config1, [BASE], ["base:1"]), (config2, [BASE, TOP], ["app:1", "app:latest"])])
    events = load(archives, data)
    assert [e.image_id for e in events if isinstance(e, ImageLoaded)] == [sha(config1), sha(config2)]
    assert store.resolve("app:latest") == sha(config2)
    assert store.config_bytes(sha(config2)) == config2
    assert store.read_file_in_image("app:1", "/app/main") == b"print('hi')\n"


def test_loads_a_gzipped_archive(archives, store):
    config = config_for(BASE)
    files = {"c.json": config, "l.tar": BASE,
             "manifest.json": json.dumps([{"Config": "c.json", "RepoTags": ["gz:1"], "Layers": ["l.tar"]}]).encode()}
    load(archives, tar_of(files, gz=True))
    assert store.resolve("gz:1") == sha(config)


def test_loads_pure_oci_layouts_following_nested_indexes(archives, store, tmp_path):
    top_gz = gzip.compress(TOP)
    config = config_for(BASE, top_gz)
    files = oci_layout([(config, [BASE, top_gz], {"io.containerd.image.name": "docker.io/library/multi:1",
                                                  "org.opencontainers.image.ref.name": "1"})], nested=True)
    events = load(archives, tar_of(files))
    assert [(e.image_id, [str(t) for t in e.tags]) for e in events if isinstance(e, ImageLoaded)] == \
        [(sha(config), ["docker.io/library/multi:1"])]
    # The manifest is kept: its layers are the blobs as stored.
    record = store.get("multi:1")
    manifests = [d for n, d in files.items() if n.startswith("blobs/") and d.startswith(b"{")
                 and json.loads(d).get("config", {}).get("digest") == sha(config)]
    assert [record.manifest_digest] == [sha(m) for m in manifests]


def test_loads_a_layout_directory_in_place(archives, store, tmp_path):
    config = config_for(BASE)
    layout = tmp_path / "layout"
    write_tree(layout, oci_layout([(config, [BASE], {"org.opencontainers.image.ref.name": "v1"})]))
    before = sorted(os.listdir(layout))
    events = list(archives.load_directory(str(layout)))
    assert [(e.image_id, e.tags) for e in events if isinstance(e, ImageLoaded)] == [(sha(config), ())]
    assert sorted(os.listdir(layout)) == before


def test_loading_over_a_tag_reports_the_image_it_replaces(archives, store):
    old = store.import_layer(io.BytesIO(TOP), "app:1")
    events = load(archives, legacy_archive([(config_for(BASE), [BASE], ["app:1"])]))
    assert events[-1].replaced == ((parse_reference("app:1"), old),)


def test_loading_an_image_twice_is_harmless(archives, store):
    data = legacy_archive([(config_for(BASE), [BASE], ["app:1"])])
    load(archives, data)
    events = load(archives, data)
    assert [type(e) for e in events] == [ImageLoaded]  # no layer to load the second time


# -- hostile and corrupt archives ------------------------------------------------------------------------

GOOD_CONFIG = config_for(BASE)


def good_files() -> dict:
    return {"c.json": GOOD_CONFIG, "l.tar": BASE, "manifest.json": json.dumps(
        [{"Config": "c.json", "RepoTags": ["victim:1"], "Layers": ["l.tar"]}]).encode()}


HOSTILE = {
    "member climbing out": ({"../escaped": b"x"}, "outside of the extraction directory"),
    "absolute symlink": ({"blobs": ("symlink", "/etc")}, "leads outside of the archive"),
    "relative symlink out": ({"d": ("dir",), "d/up": ("symlink", "../../..")}, "leads outside of the archive"),
    "hard link out": ({"h": ("hardlink", "../../etc/passwd")}, "outside of the extraction directory"),
    "fifo": ({"f": ("fifo",)}, "device files and fifos"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_members_are_refused_and_nothing_escapes(archives, store, tmp_path, case):
    extra, message = HOSTILE[case]
    files = {**extra, **good_files()}
    with pytest.raises(InvalidArgument, match=message):
        load(archives, tar_of(files))
    assert nothing_imported(store)
    assert not os.path.exists(tmp_path / "store" / "escaped") and not os.path.exists(tmp_path / "escaped")
    assert os.listdir(tmp_path / "store" / "tmp") == []  # the spool is gone


def corrupt(**changes) -> bytes:
    files = good_files()
    files.update(changes)
    return tar_of(files)


CORRUPT = {
    "layer not matching its diff id": (corrupt(**{"l.tar": TOP}), "does not match the image's diff id"),
    "missing layer": (corrupt(**{"manifest.json": json.dumps(
        [{"Config": "c.json", "RepoTags": ["victim:1"], "Layers": ["gone.tar"]}]).encode()}), "gone.tar is missing"),
    "config path climbing out": (corrupt(**{"manifest.json": json.dumps(
        [{"Config": "../../../etc/hostname", "Layers": ["l.tar"]}]).encode()}), "outside of the archive"),
    "layer path through a symlink out": (corrupt(**{"lnk": ("symlink", "/etc/passwd"), "manifest.json": json.dumps(
        [{"Config": "c.json", "Layers": ["lnk"]}]).encode()}), "leads outside of the archive"),
    "layer is a directory": (corrupt(**{"d": ("dir",), "manifest.json": json.dumps(
        [{"Config": "c.json", "Layers": ["d"]}]).encode()}), "d is not a regular file"),
    "layer not a tar": (corrupt(**{"l.tar": b"not a tar at all" * 100}), "is not a valid layer tar"),
    "layer member climbing out": (corrupt(**{"l.tar": layer_tar(("file", "../../evil", b"x")), "c.json": config_for(
        layer_tar(("file", "../../evil", b"x")))}), "escapes the layer root"),
    "windows image": (corrupt(**{"c.json": config_for(BASE, os_name="windows")}), "cannot load windows image"),
    "layer count": (corrupt(**{"c.json": config_for(BASE, TOP)}), "layers length mismatch"),
    "bad tag": (corrupt(**{"manifest.json": json.dumps(
        [{"Config": "c.json", "RepoTags": ["victim"], "Layers": ["l.tar"]}]).encode()}), "invalid tag"),
    "config digest name": (corrupt(**{"manifest.json": json.dumps(
        [{"Config": "a" * 64 + ".json", "Layers": ["l.tar"]}]).encode(), "a" * 64 + ".json": GOOD_CONFIG}),
        "does not match its digest"),
    "neither format": (tar_of({"hello": b"world"}), "neither a manifest.json"),
    "not a tar": (b"hello world" * 100, "not a tar"),
    "empty": (b"", "the archive is empty"),
    "truncated": (corrupt()[:3000], "not a tar|missing|unexpected end"),
}


@pytest.mark.parametrize("case", list(CORRUPT))
def test_corrupt_archives_are_refused_and_nothing_imported(archives, store, case):
    data, message = CORRUPT[case]
    with pytest.raises(InvalidArgument, match=message):
        load(archives, data)
    assert nothing_imported(store)
    assert list(store.snapshotter.walk()) == []


def test_oci_blobs_are_checked_against_their_digests(archives, store):
    files = oci_layout([(GOOD_CONFIG, [BASE], None)])
    layer_path = f"blobs/sha256/{hashlib.sha256(BASE).hexdigest()}"
    files[layer_path] = TOP  # same name, other bytes
    with pytest.raises(InvalidArgument, match="does not match its digest"):
        load(archives, tar_of(files))
    del files[layer_path]
    with pytest.raises(InvalidArgument, match="is missing"):
        load(archives, tar_of(files))
    files = oci_layout([(GOOD_CONFIG, [BASE], None)])
    index = json.loads(files["index.json"])
    index["manifests"][0]["size"] += 1
    files["index.json"] = json.dumps(index).encode()
    with pytest.raises(InvalidArgument, match="does not match its descriptor"):
        load(archives, tar_of(files))
    assert nothing_imported(store)


def test_a_bad_second_image_stops_the_first_too(archives, store):
    bad_config = config_for(TOP)
    data = legacy_archive([(GOOD_CONFIG, [BASE], ["good:1"]), (bad_config, [BASE], ["bad:1"])])
    with pytest.raises(InvalidArgument, match="diff id"):
        load(archives, data)
    assert nothing_imported(store)


def test_a_layer_the_applier_refuses_leaves_no_image_and_no_tag(archives, store):
    """Writing through a symlink inside the layer passes the archive's checks; the applier refuses it."""
    evil = layer_tar(("symlink", "out", "/"), ("file", "out/tmp/pwned", b"x"))
    data = legacy_archive([(GOOD_CONFIG, [BASE], ["good:1"]), (config_for(BASE, evil), [BASE, evil], ["evil:1"])])
    with pytest.raises(InvalidArgument, match="symlink leading outside"):
        load(archives, data)
    assert nothing_imported(store)
    assert not os.path.exists("/tmp/pwned")
    store.collect_snapshots()
    assert list(store.snapshotter.walk()) == []


def test_a_failed_registration_removes_the_images_this_load_added(archives, store, monkeypatch):
    data = legacy_archive([(GOOD_CONFIG, [BASE], ["one:1"]), (config_for(BASE, TOP), [BASE, TOP], ["two:1"])])
    register = store.register
    calls = []

    def failing(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return register(*args, **kw)

    monkeypatch.setattr(store, "register", failing)
    with pytest.raises(OSError):
        load(archives, data)
    assert nothing_imported(store)


def test_stale_spools_are_removed_when_the_service_starts(store, tmp_path):
    stale = tmp_path / "store" / "tmp" / "load-abc"
    stale.mkdir(parents=True)
    (tmp_path / "store" / "tmp" / "build-keep").mkdir()
    ImageArchive(store, str(tmp_path / "store" / "tmp"))
    assert sorted(os.listdir(tmp_path / "store" / "tmp")) == ["build-keep"]
