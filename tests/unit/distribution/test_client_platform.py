"""Choosing the linux/amd64 manifest from an index (manifest list)."""

from __future__ import annotations

import json

import pytest

from dockyard.distribution.pull_platform import Platform, index_entries, select_manifest
from dockyard.errors import InvalidArgument, NotFound
from dockyard.images import mediatypes


def _digest(n: int) -> str:
    return "sha256:" + f"{n:x}" * 64


def index(*platforms: dict, annotations: dict[int, dict] | None = None) -> bytes:
    entries = []
    for i, platform in enumerate(platforms):
        entry = {"mediaType": mediatypes.OCI_MANIFEST, "digest": _digest(i + 1), "size": 100 + i, "platform": platform}
        if annotations and i in annotations:
            entry["annotations"] = annotations[i]
        entries.append(entry)
    return json.dumps({"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": entries}).encode()


AMD64 = Platform.parse("linux/amd64")


def test_amd64_entry_is_chosen_among_others():
    data = index({"os": "linux", "architecture": "arm64", "variant": "v8"},
                 {"os": "linux", "architecture": "arm", "variant": "v7"},
                 {"os": "linux", "architecture": "amd64"},
                 {"os": "windows", "architecture": "amd64"})
    assert str(select_manifest(data, AMD64).digest) == _digest(3)
    assert str(select_manifest(data, Platform.parse("linux/arm64")).digest) == _digest(1)
    assert str(select_manifest(data, Platform.parse("linux/arm/v7")).digest) == _digest(2)
    assert str(select_manifest(data, Platform.parse("windows/amd64")).digest) == _digest(4)


def test_plain_variant_preferred_and_explicit_variant_honoured():
    data = index({"os": "linux", "architecture": "amd64", "variant": "v3"}, {"os": "linux", "architecture": "amd64"})
    assert str(select_manifest(data, AMD64).digest) == _digest(2)
    assert str(select_manifest(data, Platform.parse("linux/amd64/v3")).digest) == _digest(1)
    only_v3 = index({"os": "linux", "architecture": "amd64", "variant": "v3"})
    assert str(select_manifest(only_v3, AMD64).digest) == _digest(1)


def test_aliases_normalise():
    data = index({"os": "linux", "architecture": "x86_64"}, {"os": "linux", "architecture": "aarch64"})
    assert str(select_manifest(data, AMD64).digest) == _digest(1)
    assert str(select_manifest(data, Platform.parse("linux/arm64/v8")).digest) == _digest(2)


def test_attestations_are_skipped():
    data = index({"os": "unknown", "architecture": "unknown"}, {"os": "linux", "architecture": "amd64"},
                 annotations={0: {"vnd.docker.reference.type": "attestation-manifest"}})
    assert [str(d.digest) for d, _ in index_entries(data)] == [_digest(2)]
    assert str(select_manifest(data, AMD64).digest) == _digest(2)


def test_no_match_names_the_platform():
    data = index({"os": "linux", "architecture": "arm64"})
    with pytest.raises(NotFound) as caught:
        select_manifest(data, AMD64)
    assert caught.value.message == "no matching manifest for linux/amd64 in the manifest list entries"


def test_bad_input():
    with pytest.raises(InvalidArgument):
        select_manifest(b"not json", AMD64)
    with pytest.raises(InvalidArgument):
        select_manifest(b'{"schemaVersion": 2}', AMD64)
    with pytest.raises(InvalidArgument):
        Platform.parse("linux//v7")


def test_platform_parse_and_format():
    assert str(Platform.parse("linux/x86_64")) == "linux/amd64"
    assert str(Platform.parse("linux/arm64/v8")) == "linux/arm64"
    assert str(Platform.parse("Linux/ARM/v6")) == "linux/arm/v6"
    assert Platform.parse("linux").os == "linux"
    assert Platform.parse("linux/arm/v7").to_api() == {"architecture": "arm", "os": "linux", "variant": "v7"}
