import json

from dockyard.content.descriptor import Descriptor
from dockyard.content.digest import Digest
from dockyard.images import mediatypes
from dockyard.images.config import ContainerConfig, HistoryEntry, ImageConfig
from dockyard.images.manifest import Manifest
from dockyard.images.timefmt import format_rfc3339_nano, parse_rfc3339

DIFF = Digest.from_bytes(b"layer")


def sample() -> ImageConfig:
    return ImageConfig(
        diff_ids=(DIFF,),
        config=ContainerConfig(env=("PATH=/bin",), cmd=("sh",), labels={"b": "2", "a": "1"}, exposed_ports=("80/tcp",)),
        history=(HistoryEntry(created="2024-01-02T03:04:05.5Z", comment="imported"),),
        created="2024-01-02T03:04:05.5Z",
        comment="imported",
    )


def test_config_bytes_are_canonical_and_identify_the_image():
    cfg = sample()
    raw = cfg.to_bytes()
    assert raw == json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    doc = json.loads(raw)
    assert doc["architecture"] == "amd64" and doc["os"] == "linux"
    assert doc["rootfs"] == {"type": "layers", "diff_ids": [str(DIFF)]}
    assert doc["config"]["Cmd"] == ["sh"] and doc["config"]["ExposedPorts"] == {"80/tcp": {}}
    assert doc["history"] == [{"created": "2024-01-02T03:04:05.5Z", "comment": "imported"}]
    assert cfg.id == Digest.from_bytes(raw)
    assert ImageConfig.from_bytes(raw).to_bytes() == raw


def test_unknown_fields_survive():
    raw = json.dumps({"rootfs": {"type": "layers", "diff_ids": [str(DIFF)]}, "os": "linux", "architecture": "arm64",
                      "variant": "v8", "docker_version": "24.0", "config": {"Env": ["A=1"]}}).encode()
    cfg = ImageConfig.from_bytes(raw)
    assert cfg.architecture == "arm64" and cfg.variant == "v8" and cfg.config.env == ("A=1",)
    assert json.loads(cfg.to_bytes())["docker_version"] == "24.0"


def test_api_shape_has_every_field():
    api = ContainerConfig(cmd=("sh",)).to_api()
    assert api["Cmd"] == ["sh"] and api["Entrypoint"] is None and api["Env"] is None and api["WorkingDir"] == ""


def test_manifest_schema2():
    config = Descriptor(mediatypes.DOCKER_CONFIG, Digest.from_bytes(b"c"), 1)
    layer = Descriptor(mediatypes.DOCKER_LAYER_GZIP, Digest.from_bytes(b"l"), 2)
    m = Manifest(config, (layer,))
    doc = json.loads(m.to_bytes())
    assert doc["schemaVersion"] == 2 and doc["mediaType"] == mediatypes.DOCKER_MANIFEST
    assert doc["config"] == {"mediaType": mediatypes.DOCKER_CONFIG, "size": 1, "digest": str(config.digest)}
    assert doc["layers"][0]["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    assert Manifest.from_bytes(m.to_bytes()) == m
    assert m.digest == Digest.from_bytes(m.to_bytes())


def test_time_format():
    assert format_rfc3339_nano(1_700_000_000_500_000_000) == "2023-11-14T22:13:20.5Z"
    assert format_rfc3339_nano(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
    assert parse_rfc3339("2023-11-14T22:13:20.5Z") == 1_700_000_000.5
    assert parse_rfc3339("2023-11-14T23:13:20+01:00") == 1_700_000_000
    assert parse_rfc3339("0001-01-01T00:00:00Z") == 0
