import os

import pytest

from dockyard.content.digest import Digest
from dockyard.content.store import ContentStore
from dockyard.errors import InvalidArgument, NotFound


@pytest.fixture
def store(tmp_path):
    return ContentStore(str(tmp_path / "content"))


def test_ingest_read_delete(store, tmp_path):
    desc = store.ingest([b"hello ", b"world"])
    assert desc.digest == Digest.from_bytes(b"hello world") and desc.size == 11
    assert store.exists(desc.digest) and store.size(desc.digest) == 11
    assert store.read_bytes(desc.digest) == b"hello world"
    assert store.path(desc.digest).endswith("/blobs/sha256/" + desc.digest.hex)
    assert [d.digest for d in store.walk()] == [desc.digest]
    assert os.listdir(tmp_path / "content" / "ingest") == []
    store.delete(str(desc.digest))
    assert not store.exists(desc.digest)
    with pytest.raises(NotFound):
        store.read_bytes(desc.digest)
    with pytest.raises(NotFound):
        store.delete(desc.digest)


def test_expected_digest_verified(store):
    good = Digest.from_bytes(b"abc")
    assert store.ingest([b"abc"], expected=good).digest == good
    assert store.ingest_bytes(b"abc", expected=str(good)).digest == good  # idempotent


def test_mismatch_leaves_nothing(store, tmp_path):
    with pytest.raises(InvalidArgument):
        store.ingest([b"abc"], expected=Digest.from_bytes(b"other"))
    assert list(store.walk()) == []
    assert os.listdir(tmp_path / "content" / "ingest") == []


def test_interrupted_ingest_is_never_visible(store, tmp_path):
    def chunks():
        yield b"partial"
        raise RuntimeError("connection dropped")

    with pytest.raises(RuntimeError):
        store.ingest(chunks())
    assert list(store.walk()) == []
    assert os.listdir(tmp_path / "content" / "ingest") == []


def test_clean_ingests(store, tmp_path):
    (tmp_path / "content" / "ingest" / "leftover").write_bytes(b"x")
    store.clean_ingests()
    assert os.listdir(tmp_path / "content" / "ingest") == []
