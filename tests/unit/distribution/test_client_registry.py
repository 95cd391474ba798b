"""The registry client against a scripted registry: endpoint choice, the auth
dance (counting requests: one retry, never a storm), redirects, pagination,
uploads, error kinds, and downloads that must leave nothing when they fail."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from types import SimpleNamespace

import pytest

from dockyard.content.descriptor import Descriptor
from dockyard.content.digest import Digest
from dockyard.content.store import ContentStore
from dockyard.distribution import client as client_module
from dockyard.distribution.auth import Credentials, Unauthorized
from dockyard.distribution.client import Registries
from dockyard.distribution.pull import Puller
from dockyard.errors import InvalidArgument, NotFound, Unavailable
from dockyard.images import mediatypes
from dockyard.images.reference import parse_reference

from .client_fakes import FakeRegistry

JSON = {"Content-Type": "application/json"}
MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": mediatypes.DOCKER_MANIFEST,
                       "config": {"mediaType": mediatypes.DOCKER_CONFIG, "size": 2, "digest": "sha256:" + "0" * 64},
                       "layers": []}).encode()


@pytest.fixture
def registry():
    fake = FakeRegistry()
    yield fake
    fake.close()


@pytest.fixture
def registries():
    r = Registries()
    yield r
    r.close()


def _ok(body: bytes = b"{}", headers: dict | None = None):
    return lambda req: (200, {**JSON, **(headers or {})}, body)


def _repo(registries, registry, name="acc/bb", credentials=None, push=False):
    return registries.repository(parse_reference(f"{registry.host}/{name}:v1"), credentials, push=push)


def test_insecure_loopback_falls_back_to_http(registry, registries):
    registry.route("GET", "/v2/", _ok())
    registry.route("GET", "/v2/acc/bb/manifests/v1", _ok(MANIFEST, {"Content-Type": mediatypes.DOCKER_MANIFEST}))
    fetched = _repo(registries, registry).manifest("v1")
    assert fetched.media_type == mediatypes.DOCKER_MANIFEST
    assert fetched.digest == Digest.from_bytes(MANIFEST)
    assert registries.client(registry.host).endpoint.scheme == "http"


def test_unreachable_registry_is_unavailable(registries):
    with pytest.raises(Unavailable) as caught:
        registries.client("127.0.0.1:9").ping()
    assert 'Get "http://127.0.0.1:9/v2/"' in caught.value.message and "connection refused" in caught.value.message


# -- bearer tokens ----------------------------------------------------------------------------------


def _bearer_registry(registry: FakeRegistry, accept_token: bool = True) -> None:
    challenge = f'Bearer realm="{registry.url}/token",service="fake"'
    good = "Basic " + base64.b64encode(b"alice:s3cret").decode()

    def guarded(body: bytes):
        def handler(req):
            if accept_token and req.headers.get("Authorization") == "Bearer good-token":
                return 200, {"Content-Type": mediatypes.DOCKER_MANIFEST}, body
            return 401, {**JSON, "WWW-Authenticate": challenge + ',scope="repository:acc/bb:pull"'}, \
                b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
        return handler

    def token(req):
        if req.headers.get("Authorization") not in (None, good):
            return 401, JSON, b'{"errors":[{"code":"UNAUTHORIZED","message":"incorrect username or password"}]}'
        return 200, JSON, json.dumps({"token": "good-token" if req.headers.get("Authorization") else "anon"}).encode()

    registry.route("GET", "/v2/", lambda req: (401, {**JSON, "WWW-Authenticate": challenge}, b"{}"))
    registry.route("GET", "/token", token)
    registry.route("GET", "/v2/acc/bb/manifests/v1", guarded(MANIFEST))


def test_bearer_dance_with_good_credentials(registry, registries):
    _bearer_registry(registry)
    repo = _repo(registries, registry, credentials=Credentials("alice", "s3cret"))
    assert repo.manifest("v1").data == MANIFEST
    assert repo.manifest("v1").data == MANIFEST
    # ping, one token (cached), two manifest GETs answered at once
    assert registry.count("GET", "/v2/") == 1
    assert registry.count("GET", "/token") == 1
    assert registry.count("GET", "/v2/acc/bb/manifests/v1") == 2
    token_request = next(r for r in registry.requests if r.path == "/token")
    assert token_request.q("scope") == "repository:acc/bb:pull" and token_request.q("service") == "fake"


def test_wrong_credentials_make_one_token_request(registry, registries):
    _bearer_registry(registry)
    repo = _repo(registries, registry, credentials=Credentials("alice", "wrong"))
    with pytest.raises(Unauthorized) as caught:
        repo.manifest("v1")
    assert "incorrect username or password" in caught.value.message
    assert registry.count("GET", "/token") == 1
    assert registry.count("GET", "/v2/acc/bb/manifests/v1") == 0


def test_refused_token_is_retried_once_only(registry, registries):
    _bearer_registry(registry, accept_token=False)
    repo = _repo(registries, registry, credentials=Credentials("alice", "s3cret"))
    with pytest.raises(Unauthorized):
        repo.manifest("v1")
    # the refused token is replaced once; the same token again is not worth a retry
    assert registry.count("GET", "/token") == 2
    assert registry.count("GET", "/v2/acc/bb/manifests/v1") == 1


def test_basic_auth_is_sent_up_front_after_the_ping(registry, registries):
    good = "Basic " + base64.b64encode(b"alice:s3cret").decode()

    def guarded(body: bytes):
        return lambda req: (200, JSON, body) if req.headers.get("Authorization") == good \
            else (401, {**JSON, "WWW-Authenticate": 'Basic realm="r"'}, b"")

    registry.route("GET", "/v2/", guarded(b"{}"))
    registry.route("GET", "/v2/acc/bb/manifests/v1", guarded(MANIFEST))
    assert _repo(registries, registry, credentials=Credentials("alice", "s3cret")).manifest("v1").data == MANIFEST
    assert registry.count("GET", "/v2/acc/bb/manifests/v1") == 1
    with pytest.raises(Unauthorized) as caught:
        _repo(registries, registry).manifest("v1")
    assert caught.value.message == "unauthorized: authentication required"
    client = registries.client(registry.host, Credentials("alice", "nope"))
    with pytest.raises(Unauthorized) as caught:
        client.login()
    assert caught.value.message == f"login attempt to http://{registry.host}/v2/ failed with status: 401 Unauthorized"
    registries.client(registry.host, Credentials("alice", "s3cret")).login()


# -- manifests, blobs, tags, errors ----------------------------------------------------------------


def test_manifest_by_digest_is_verified(registry, registries):
    registry.route("GET", "/v2/", _ok())
    registry.route("GET", "/v2/acc/bb/manifests/sha256:.*", _ok(MANIFEST + b" "))
    with pytest.raises(InvalidArgument) as caught:
        _repo(registries, registry).manifest(str(Digest.from_bytes(MANIFEST)))
    assert "manifest verification failed" in caught.value.message


def test_registry_errors_become_kinds(registry, registries):
    registry.route("GET", "/v2/", _ok())
    registry.route("GET", "/v2/acc/bb/manifests/v9", lambda req: (
        404, JSON, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"v9"}}]}'))
    registry.route("GET", "/v2/acc/bb/manifests/v8", lambda req: (503, {}, b"down"))
    with pytest.raises(NotFound) as caught:
        _repo(registries, registry).manifest("v9")
    assert caught.value.message == "manifest unknown: manifest unknown"
    assert client_module.error_codes(caught.value) == ("MANIFEST_UNKNOWN",)
    with pytest.raises(Unavailable):
        _repo(registries, registry).manifest("v8")


def test_blob_redirect_drops_credentials(registry, registries):
    storage = FakeRegistry()
    try:
        blob = b"layer bytes"
        digest = Digest.from_bytes(blob)
        registry.route("GET", "/v2/", lambda req: (401, {**JSON, "WWW-Authenticate": 'Basic realm="r"'}, b"{}"))
        registry.route("GET", f"/v2/acc/bb/blobs/{digest}", lambda req: (307, {"Location": f"{storage.url}/data/x"}, b""))
        storage.route("GET", "/data/x", lambda req: (200, {"Content-Type": "application/octet-stream"}, blob))
        repo = _repo(registries, registry, credentials=Credentials("alice", "s3cret"))
        assert repo.read_blob(digest) == blob
        assert storage.requests[0].headers.get("Authorization") is None
        assert registry.requests[-1].headers.get("Authorization", "").startswith("Basic ")
    finally:
        storage.close()


def test_tags_follow_pagination(registry, registries):
    registry.route("GET", "/v2/", _ok())

    def tags(req):
        if req.q("last") is None:
            return 200, {**JSON, "Link": '</v2/acc/bb/tags/list?last=v2&n=2>; rel="next"'}, b'{"name":"acc/bb","tags":["v1","v2"]}'
        return 200, JSON, b'{"name":"acc/bb","tags":["v3"]}'

    registry.route("GET", "/v2/acc/bb/tags/list", tags)
    assert _repo(registries, registry).tags() == ["v1", "v2", "v3"]


def test_blob_size_and_mount(registry, registries):
    registry.route("GET", "/v2/", _ok())
    digest = "sha256:" + "a" * 64
    registry.route("HEAD", f"/v2/acc/bb/blobs/{digest}", lambda req: (200, {"Content-Length": "42"}, b""))
    registry.route("HEAD", "/v2/acc/bb/blobs/sha256:b+", lambda req: (404, {}, b""))
    registry.route("POST", "/v2/acc/bb/blobs/uploads/", lambda req: (
        (201, {"Location": f"/v2/acc/bb/blobs/{digest}"}, b"") if req.q("from") == "acc/src"
        else (202, {"Location": "/v2/acc/bb/blobs/uploads/u1?_state=s"}, b"")))
    repo = _repo(registries, registry, push=True)
    assert repo.blob_size(digest) == 42
    assert repo.blob_size("sha256:" + "b" * 64) is None
    assert repo.mount_blob(digest, "acc/src") is None
    assert repo.mount_blob(digest, "acc/none") == f"{registry.url}/v2/acc/bb/blobs/uploads/u1?_state=s"
    assert registry.requests[-1].q("mount") == digest


@pytest.mark.parametrize("chunked", [False, True])
def test_upload_monolithic_and_chunked(registry, registries, monkeypatch, tmp_path, chunked):
    data = os.urandom(10_000)
    digest = Digest.from_bytes(data)
    if chunked:
        monkeypatch.setattr(client_module, "MONOLITHIC_UPLOAD_MAX", 4096)
        monkeypatch.setattr(client_module, "UPLOAD_CHUNK", 4096)
    received = bytearray()
    registry.route("GET", "/v2/", _ok())
    registry.route("POST", "/v2/acc/bb/blobs/uploads/", lambda req: (202, {"Location": "/v2/acc/bb/blobs/uploads/u1?n=0"}, b""))

    def patch(req):
        start, _, end = req.headers["Content-Range"].partition("-")
        assert int(start) == len(received) and int(end) == len(received) + len(req.body) - 1
        received.extend(req.body)
        return 202, {"Location": f"/v2/acc/bb/blobs/uploads/u1?n={len(received)}"}, b""

    def put(req):
        received.extend(req.body)
        ok = req.q("digest") == str(digest) and hashlib.sha256(received).hexdigest() == digest.hex
        return (201, {}, b"") if ok else (400, JSON, b'{"errors":[{"code":"DIGEST_INVALID","message":"digest invalid"}]}')

    registry.route("PATCH", "/v2/acc/bb/blobs/uploads/u1", patch)
    registry.route("PUT", "/v2/acc/bb/blobs/uploads/u1", put)
    blob = tmp_path / "blob"
    blob.write_bytes(data)
    progress: list[int] = []
    repo = _repo(registries, registry, push=True)
    with open(blob, "rb") as f:
        repo.upload(repo.start_upload(), f, len(data), digest, progress.append)
    assert bytes(received) == data and sum(progress) == len(data)
    assert registry.count("PATCH", "/v2/acc/bb/blobs/uploads/u1") == (3 if chunked else 0)


# -- downloads into the content store --------------------------------------------------------------


def _download(registries, registry, tmp_path, served: bytes, declared: bytes):
    content = ContentStore(str(tmp_path / "content"))
    digest = Digest.from_bytes(declared)
    registry.route("GET", "/v2/", _ok())
    registry.route("GET", f"/v2/acc/bb/blobs/{digest}", lambda req: (200, {"Content-Type": "application/octet-stream"}, served))
    puller = Puller(SimpleNamespace(content=content), registries, sources=None)
    blob = Descriptor(mediatypes.DOCKER_LAYER_GZIP, digest, len(declared))
    seen = []
    try:
        puller._download(_repo(registries, registry), blob, seen.append, lambda: False)
    finally:
        leftovers = os.listdir(tmp_path / "content" / "ingest")
    return content, digest, seen, leftovers


def test_download_streams_and_verifies(registry, registries, tmp_path):
    data = os.urandom(3 << 20)
    content, digest, seen, leftovers = _download(registries, registry, tmp_path, data, data)
    assert content.read_bytes(digest) == data and leftovers == []
    statuses = [p.status for p in seen]
    assert statuses[0] == "Downloading" and statuses[-2:] == ["Verifying Checksum", "Download complete"]
    assert seen[-3].current == len(data)


def test_download_with_wrong_content_leaves_nothing(registry, registries, tmp_path):
    declared = os.urandom(1000)
    with pytest.raises(InvalidArgument) as caught:
        _download(registries, registry, tmp_path, os.urandom(1000), declared)
    assert caught.value.message == f"filesystem layer verification failed for digest {Digest.from_bytes(declared)}"
    content = ContentStore(str(tmp_path / "content"))
    assert list(content.walk()) == [] and os.listdir(tmp_path / "content" / "ingest") == []


def test_download_cut_short_leaves_nothing(registry, registries, tmp_path, monkeypatch):
    from dockyard.distribution import pull as pull_module

    monkeypatch.setattr(pull_module.time, "sleep", lambda s: None)
    declared = os.urandom(5000)
    with pytest.raises(Unavailable) as caught:
        _download(registries, registry, tmp_path, declared[:2000], declared)
    assert "2000 of 5000" in caught.value.message
    content = ContentStore(str(tmp_path / "content"))
    assert list(content.walk()) == [] and os.listdir(tmp_path / "content" / "ingest") == []
    # every attempt fetched the blob again, then gave up
    assert registry.count("GET", "/v2/acc/bb/blobs/.*") == 1
