"""`dockyard registry` against real HTTP clients on 127.0.0.1.

Each test starts the server in-process on a free port with its own root and
drives it with http.client (and skopeo, when installed): every endpoint and
every error of the distribution spec the server claims.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import io
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tarfile
import time
import urllib.parse

import pytest

from dockyard.cli.main import main as cli_main
from dockyard.distribution.server import Registry, ServerConfig, build_server
from dockyard.distribution.server.gc import collect

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Reply:
    def __init__(self, response: http.client.HTTPResponse):
        self.status = response.status
        self.headers = response.headers
        self.body = response.read()

    def json(self):
        return json.loads(self.body)

    @property
    def codes(self) -> list[str]:
        return [e["code"] for e in self.json()["errors"]]


class Client:
    """http.client on one kept-alive connection (reopened when the server closes it)."""

    def __init__(self, port: int, authorization: str | None = None, context: ssl.SSLContext | None = None):
        if context is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        else:
            self.conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
        self.authorization = authorization

    def __call__(self, method: str, path: str, body=None, headers: dict | None = None) -> Reply:
        headers = dict(headers or {})
        if self.authorization and "Authorization" not in headers:
            headers["Authorization"] = self.authorization
        self.conn.request(method, path, body=body, headers=headers,
                          encode_chunked=headers.get("Transfer-Encoding") == "chunked")
        return Reply(self.conn.getresponse())


def start(root, **options):
    server = build_server(ServerConfig(str(root), "127.0.0.1", 0, durable=False, **options))
    server.start()
    return server


@pytest.fixture
def server(tmp_path):
    srv = start(tmp_path / "root")
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def client(server):
    return Client(server.port)


def push_blob(client: Client, name: str, data: bytes) -> str:
    digest = sha(data)
    reply = client("POST", f"/v2/{name}/blobs/uploads/?digest={digest}", data)
    assert reply.status == 201, reply.body
    return digest


def descriptor(media_type: str, data: bytes, **extra) -> dict:
    return {"mediaType": media_type, "digest": sha(data), "size": len(data), **extra}


def push_image(client: Client, name: str, reference: str | None = None, layers=(b"layer",),
               docker: bool = False, platform: str = "amd64") -> tuple[str, bytes]:
    """Push config, layers and a manifest; (manifest digest, manifest bytes)."""
    config = json.dumps({"architecture": platform, "os": "linux", "rootfs": {"type": "layers"}}).encode()
    push_blob(client, name, config)
    for layer in layers:
        push_blob(client, name, layer)
    mt, ct, lt = (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER) if docker else (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER)
    body = json.dumps({"schemaVersion": 2, "mediaType": mt, "config": descriptor(ct, config),
                       "layers": [descriptor(lt, layer) for layer in layers]}).encode()
    reply = client("PUT", f"/v2/{name}/manifests/{reference or sha(body)}", body, {"Content-Type": mt})
    assert reply.status == 201, reply.body
    return sha(body), body


def blob_files(root) -> list[str]:
    return sorted(f for _, _, files in os.walk(os.path.join(root, "blobs")) for f in files)


# -- base ---------------------------------------------------------------------------


def test_base_answers_with_the_api_version(client):
    for method in ("GET", "HEAD"):
        reply = client(method, "/v2/")
        assert reply.status == 200
        assert reply.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert client("GET", "/v2/").json() == {}
    assert client("GET", "/v3/nothing").status == 404
    assert client("POST", "/v2/_catalog").status == 405


# -- blobs and uploads ----------------------------------------------------------------


def test_monolithic_post_then_head_and_get(client):
    data = os.urandom(100_000)
    digest = sha(data)
    reply = client("POST", f"/v2/app/blobs/uploads/?digest={digest}", data)
    assert reply.status == 201
    assert reply.headers["Location"] == f"/v2/app/blobs/{digest}"
    assert reply.headers["Docker-Content-Digest"] == digest
    head = client("HEAD", f"/v2/app/blobs/{digest}")
    assert head.status == 200 and head.body == b""
    assert head.headers["Content-Length"] == str(len(data)) and head.headers["Docker-Content-Digest"] == digest
    get = client("GET", reply.headers["Location"])
    assert get.status == 200 and get.body == data
    assert client("GET", f"/v2/app/blobs/{digest}", headers={"If-None-Match": f'"{digest}"'}).status == 304


def test_post_then_put_with_the_whole_blob(client):
    data = b"monolithic after post"
    start = client("POST", "/v2/app/blobs/uploads/")
    assert start.status == 202 and start.headers["Range"] == "0-0"
    assert start.headers["Docker-Upload-UUID"] in start.headers["Location"]
    done = client("PUT", f"{start.headers['Location']}?digest={sha(data)}", data,
                  {"Content-Type": "application/octet-stream"})
    assert done.status == 201 and client("GET", f"/v2/app/blobs/{sha(data)}").body == data


def test_chunked_upload_refuses_out_of_order_chunks_and_reports_its_status(client):
    data = os.urandom(30_000)
    location = client("POST", "/v2/app/blobs/uploads/").headers["Location"]
    first = client("PATCH", location, data[:10_000], {"Content-Range": "0-9999"})
    assert first.status == 202 and first.headers["Range"] == "0-9999"
    location = first.headers["Location"]
    for bad in ("20000-29999", "0-9999"):
        refused = client("PATCH", location, data[20_000:] if bad[0] == "2" else data[:10_000], {"Content-Range": bad})
        assert refused.status == 416 and refused.codes == ["RANGE_INVALID"]
        assert refused.headers["Range"] == "0-9999" and refused.headers["Location"] == location
    status = client("GET", location)
    assert status.status == 204 and status.headers["Range"] == "0-9999"
    mismatch = client("PATCH", location, data[10_000:20_000], {"Content-Range": "10000-10009"})
    assert mismatch.status == 400 and mismatch.codes == ["SIZE_INVALID"]
    for malformed in ("bytes", "10000-9999", "a-b"):
        reply = client("PATCH", location, data[10_000:20_000], {"Content-Range": malformed})
        assert reply.status == 400 and reply.codes == ["BLOB_UPLOAD_INVALID"]
    assert client("PATCH", location, data[10_000:20_000], {"Content-Range": "10000-19999"}).status == 202
    # An out-of-order final PUT is refused too, and commits nothing.
    assert client("PUT", f"{location}?digest={sha(data)}", data[25_000:],
                  {"Content-Range": "25000-29999"}).status == 416
    assert client("HEAD", f"/v2/app/blobs/{sha(data)}").status == 404
    done = client("PUT", f"{location}?digest={sha(data)}", data[20_000:], {"Content-Range": "20000-29999"})
    assert done.status == 201 and client("GET", f"/v2/app/blobs/{sha(data)}").body == data
    assert client("GET", location).codes == ["BLOB_UPLOAD_UNKNOWN"]


def test_streamed_patch_with_chunked_transfer_encoding(client):
    parts = [os.urandom(70_000) for _ in range(5)]
    data = b"".join(parts)
    location = client("POST", "/v2/stream/blobs/uploads/").headers["Location"]
    reply = client("PATCH", location, iter(parts), {"Transfer-Encoding": "chunked"})
    assert reply.status == 202 and reply.headers["Range"] == f"0-{len(data) - 1}"
    assert client("PUT", f"{reply.headers['Location']}?digest={sha(data)}").status == 201
    assert client("GET", f"/v2/stream/blobs/{sha(data)}").body == data


def test_upload_resumes_after_a_server_restart(tmp_path):
    data = os.urandom(3 << 20)
    first = start(tmp_path / "root")
    client = Client(first.port)
    location = client("POST", "/v2/resume/blobs/uploads/").headers["Location"]
    assert client("PATCH", location, data[:2 << 20], {"Content-Range": f"0-{(2 << 20) - 1}"}).status == 202
    first.shutdown()
    first.server_close()
    second = start(tmp_path / "root")
    try:
        client = Client(second.port)
        assert client("GET", location).headers["Range"] == f"0-{(2 << 20) - 1}"
        rest = client("PATCH", location, data[2 << 20:], {"Content-Range": f"{2 << 20}-{len(data) - 1}"})
        assert rest.status == 202
        assert client("PUT", f"{location}?digest={sha(data)}").status == 201
        assert client("GET", f"/v2/resume/blobs/{sha(data)}").body == data
    finally:
        second.shutdown()
        second.server_close()


def test_a_chunk_cut_short_keeps_what_arrived_and_the_upload_resumes(server, client):
    data = os.urandom(3_000_000)
    location = client("POST", "/v2/cut/blobs/uploads/").headers["Location"]
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.sendall(f"PATCH {location} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n".encode())
        raw.sendall(data[:1_500_000])
    deadline = time.time() + 5
    while client("GET", location).headers["Range"] != "0-1499999" and time.time() < deadline:
        time.sleep(0.02)
    assert client("GET", location).headers["Range"] == "0-1499999"
    assert client("PATCH", location, data[1_500_000:], {"Content-Range": "1500000-2999999"}).status == 202
    assert client("PUT", f"{location}?digest={sha(data)}").status == 201


def test_a_digest_mismatch_leaves_nothing_visible(server, client, tmp_path):
    data, claimed = b"the real bytes", sha(b"other bytes")
    reply = client("POST", f"/v2/app/blobs/uploads/?digest={claimed}", data)
    assert reply.status == 400 and reply.codes == ["DIGEST_INVALID"]
    location = client("POST", "/v2/app/blobs/uploads/").headers["Location"]
    client("PATCH", location, data)
    assert client("PUT", f"{location}?digest={claimed}").codes == ["DIGEST_INVALID"]
    for digest in (claimed, sha(data)):
        assert client("HEAD", f"/v2/app/blobs/{digest}").status == 404
        assert client("GET", f"/v2/app/blobs/{digest}").codes == ["BLOB_UNKNOWN"]
    assert blob_files(tmp_path / "root") == []
    assert client("GET", location).codes == ["BLOB_UPLOAD_UNKNOWN"]
    assert os.listdir(tmp_path / "root" / "repositories" / "app" / "_uploads") == []


def test_finishing_needs_a_valid_digest_and_keeps_the_upload(client):
    location = client("POST", "/v2/app/blobs/uploads/").headers["Location"]
    client("PATCH", location, b"abc")
    assert client("PUT", location).codes == ["DIGEST_INVALID"]
    assert client("PUT", f"{location}?digest=sha256:nothex").codes == ["DIGEST_INVALID"]
    assert client("PUT", f"{location}?digest=md5:{'a' * 32}").codes == ["DIGEST_INVALID"]
    assert client("GET", location).headers["Range"] == "0-2"
    assert client("PUT", f"{location}?digest={sha(b'abc')}").status == 201


def test_cancel_and_unknown_uploads(client):
    location = client("POST", "/v2/app/blobs/uploads/").headers["Location"]
    assert client("DELETE", location).status == 204
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        assert client(method, location).codes == ["BLOB_UPLOAD_UNKNOWN"]
    assert client("GET", "/v2/app/blobs/uploads/../../x").status in (400, 404)
    assert client("GET", "/v2/app/blobs/uploads/not-an-id").codes == ["BLOB_UPLOAD_UNKNOWN"]


def test_mount_links_a_blob_from_another_repository_without_copying(client, tmp_path):
    digest = push_blob(client, "source", b"shared layer")
    mounted = client("POST", f"/v2/target/blobs/uploads/?mount={digest}&from=source")
    assert mounted.status == 201 and mounted.headers["Location"] == f"/v2/target/blobs/{digest}"
    assert mounted.headers["Docker-Content-Digest"] == digest
    assert client("GET", f"/v2/target/blobs/{digest}").body == b"shared layer"
    assert blob_files(tmp_path / "root") == [digest[7:]]
    # Unknown there, or no source named: an ordinary upload starts instead.
    for query in (f"mount={sha(b'missing')}&from=source", f"mount={digest}&from=nowhere", f"mount={digest}"):
        fallback = client("POST", f"/v2/other/blobs/uploads/?{query}")
        assert fallback.status == 202 and "/v2/other/blobs/uploads/" in fallback.headers["Location"]


def test_blobs_are_stored_once_and_seen_only_through_their_repositories(client, tmp_path):
    push_blob(client, "one", b"same bytes")
    push_blob(client, "two/nested", b"same bytes")
    assert len(blob_files(tmp_path / "root")) == 1
    assert client("HEAD", f"/v2/three/blobs/{sha(b'same bytes')}").status == 404


def test_range_requests(client):
    data = bytes(range(256)) * 40
    digest = push_blob(client, "app", data)
    path = f"/v2/app/blobs/{digest}"
    cases = {"bytes=500-1499": (500, 1499), "bytes=9000-": (9000, len(data) - 1),
             "bytes=-500": (len(data) - 500, len(data) - 1), "bytes=2000-999999": (2000, len(data) - 1)}
    for header, (first, last) in cases.items():
        reply = client("GET", path, headers={"Range": header})
        assert reply.status == 206 and reply.body == data[first:last + 1]
        assert reply.headers["Content-Range"] == f"bytes {first}-{last}/{len(data)}"
        assert reply.headers["Content-Length"] == str(last - first + 1)
    for header in ("bytes=500-0", f"bytes={len(data)}-"):
        reply = client("GET", path, headers={"Range": header})
        assert reply.status == 416 and reply.headers["Content-Range"] == f"bytes */{len(data)}"
    assert client("GET", path, headers={"Range": "bytes=0-1,5-6"}).status == 200


def test_blob_delete(client):
    digest = push_blob(client, "app", b"to delete")
    reply = client("DELETE", f"/v2/app/blobs/{digest}")
    assert reply.status == 202 and reply.headers["Docker-Content-Digest"] == digest
    assert client("GET", f"/v2/app/blobs/{digest}").codes == ["BLOB_UNKNOWN"]
    assert client("DELETE", f"/v2/app/blobs/{digest}").codes == ["BLOB_UNKNOWN"]
    assert client("GET", "/v2/app/blobs/sha256:short").codes == ["DIGEST_INVALID"]


# -- manifests ------------------------------------------------------------------------


@pytest.mark.parametrize("docker", [False, True])
def test_manifest_push_pull_head_delete(client, docker):
    digest, body = push_image(client, "lib/app", "v1", docker=docker)
    media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
    for reference in ("v1", digest):
        reply = client("GET", f"/v2/lib/app/manifests/{reference}", headers={"Accept": f"{media_type}, {OCI_INDEX}"})
        assert reply.status == 200 and reply.body == body
        assert reply.headers["Content-Type"] == media_type and reply.headers["Docker-Content-Digest"] == digest
        head = client("HEAD", f"/v2/lib/app/manifests/{reference}")
        assert head.status == 200 and head.headers["Content-Length"] == str(len(body)) and head.body == b""
    other = OCI_MANIFEST if docker else DOCKER_MANIFEST
    assert client("GET", "/v2/lib/app/manifests/v1", headers={"Accept": other}).codes == ["MANIFEST_UNKNOWN"]
    assert client("GET", "/v2/lib/app/manifests/v1", headers={"Accept": "*/*"}).status == 200
    # Pushing the same manifest by digest answers as the spec says.
    again = client("PUT", f"/v2/lib/app/manifests/{digest}?tag=v2&tag=latest", body, {"Content-Type": media_type})
    assert again.status == 201 and again.headers["Location"] == f"/v2/lib/app/manifests/{digest}"
    assert again.headers.get_all("OCI-Tag") == ["v2", "latest"]
    assert client("DELETE", "/v2/lib/app/manifests/v1").status == 202
    assert client("GET", "/v2/lib/app/manifests/v1").codes == ["MANIFEST_UNKNOWN"]
    assert client("GET", f"/v2/lib/app/manifests/{digest}").status == 200
    assert client("DELETE", f"/v2/lib/app/manifests/{digest}").status == 202
    assert client("GET", "/v2/lib/app/tags/list").json()["tags"] == []
    assert client("GET", f"/v2/lib/app/manifests/{digest}").codes == ["MANIFEST_UNKNOWN"]
    assert client("DELETE", f"/v2/lib/app/manifests/{digest}").codes == ["MANIFEST_UNKNOWN"]
    assert client("GET", "/v2/never/pushed/manifests/v1").codes == ["NAME_UNKNOWN"]


@pytest.mark.parametrize("index_type", [OCI_INDEX, DOCKER_LIST])
def test_indexes_need_their_manifests_and_fall_back_to_linux_amd64(client, index_type):
    docker = index_type == DOCKER_LIST
    amd64, amd64_body = push_image(client, "multi", layers=(b"amd64 layer",), docker=docker)
    arm64, _ = push_image(client, "multi", layers=(b"arm64 layer",), docker=docker, platform="arm64")
    child = DOCKER_MANIFEST if docker else OCI_MANIFEST
    index = {"schemaVersion": 2, "mediaType": index_type, "manifests": [
        {"mediaType": child, "digest": d, "size": 1, "platform": {"os": "linux", "architecture": a}}
        for d, a in ((arm64, "arm64"), (amd64, "amd64"))]}
    body = json.dumps(index).encode()
    assert client("PUT", "/v2/multi/manifests/latest", body, {"Content-Type": index_type}).status == 201
    full = client("GET", "/v2/multi/manifests/latest", headers={"Accept": f"{child},{index_type}"})
    assert full.body == body and full.headers["Content-Type"] == index_type
    fallback = client("GET", "/v2/multi/manifests/latest", headers={"Accept": child})
    assert fallback.status == 200 and fallback.body == amd64_body
    assert fallback.headers["Docker-Content-Digest"] == amd64
    missing = dict(index, manifests=index["manifests"] + [{"mediaType": child, "digest": sha(b"?"), "size": 1}])
    refused = client("PUT", "/v2/multi/manifests/broken", json.dumps(missing).encode(), {"Content-Type": index_type})
    assert refused.status == 400 and refused.codes == ["MANIFEST_BLOB_UNKNOWN"]
    assert "broken" not in client("GET", "/v2/multi/tags/list").json()["tags"]


def test_a_manifest_with_missing_blobs_is_refused_and_nothing_stored(client, tmp_path):
    config = b'{"os":"linux"}'
    push_blob(client, "app", config)
    push_blob(client, "elsewhere", b"layer in another repository")
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, config),
                       "layers": [descriptor(OCI_LAYER, b"never pushed"),
                                  descriptor(OCI_LAYER, b"layer in another repository"),
                                  descriptor(OCI_LAYER, b"foreign", urls=["https://example.com/l"])]}).encode()
    before = blob_files(tmp_path / "root")
    reply = client("PUT", "/v2/app/manifests/v1", body, {"Content-Type": OCI_MANIFEST})
    assert reply.status == 400 and reply.codes == ["MANIFEST_BLOB_UNKNOWN", "MANIFEST_BLOB_UNKNOWN"]
    assert [e["detail"]["digest"] for e in reply.json()["errors"]] == [sha(b"never pushed"),
                                                                     sha(b"layer in another repository")]
    assert blob_files(tmp_path / "root") == before
    assert client("GET", "/v2/app/manifests/v1").codes == ["MANIFEST_UNKNOWN"]
    assert client("GET", f"/v2/app/manifests/{sha(body)}").codes == ["MANIFEST_UNKNOWN"]


def test_invalid_manifests(client):
    config = push_blob(client, "app", b"{}")
    good = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config, "size": 2}, "layers": []}
    cases = [
        (b"not json", OCI_MANIFEST, "MANIFEST_INVALID"),
        (json.dumps(dict(good, schemaVersion=1)).encode(), OCI_MANIFEST, "MANIFEST_INVALID"),
        (json.dumps({k: v for k, v in good.items() if k != "config"}).encode(), OCI_MANIFEST, "MANIFEST_INVALID"),
        (json.dumps(good).encode(), DOCKER_MANIFEST, "MANIFEST_INVALID"),  # mediaType ≠ Content-Type
        (json.dumps(dict(good, mediaType="application/x-nope")).encode(), "", "MANIFEST_INVALID"),
        (json.dumps(dict(good, config=dict(good["config"], digest="sha256:zz"))).encode(), OCI_MANIFEST,
         "DIGEST_INVALID"),
    ]
    for body, content_type, code in cases:
        assert client("PUT", "/v2/app/manifests/v1", body, {"Content-Type": content_type}).codes == [code]
    body = json.dumps(good).encode()
    assert client("PUT", f"/v2/app/manifests/{sha(b'else')}", body, {"Content-Type": OCI_MANIFEST}).codes == ["DIGEST_INVALID"]
    assert client("PUT", "/v2/app/manifests/sha256:baddigeststring", body).codes == ["DIGEST_INVALID"]
    assert client("PUT", "/v2/app/manifests/-bad-tag", body).codes == ["TAG_INVALID"]
    assert client("PUT", f"/v2/app/manifests/{'t' * 129}", body).codes == ["TAG_INVALID"]
    huge = client("PUT", "/v2/app/manifests/big", b" " * (4 << 20) + body, {"Content-Type": OCI_MANIFEST})
    assert huge.status == 413 and huge.codes == ["MANIFEST_INVALID"]
    # Without mediaType or Content-Type, the shape says it is an OCI manifest.
    plain = json.dumps({k: v for k, v in good.items() if k != "mediaType"}).encode()
    assert client("PUT", "/v2/app/manifests/plain", plain).status == 201
    assert client("GET", "/v2/app/manifests/plain").headers["Content-Type"] == OCI_MANIFEST


def test_referrers(client):
    subject, _ = push_image(client, "app", "v1")
    empty = push_blob(client, "app", b"{}")
    artifact = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/x-sbom",
                           "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
                           "layers": [], "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1},
                           "annotations": {"made": "by a test"}}).encode()
    pushed = client("PUT", f"/v2/app/manifests/{sha(artifact)}", artifact, {"Content-Type": OCI_MANIFEST})
    assert pushed.status == 201 and pushed.headers["OCI-Subject"] == subject
    listed = client("GET", f"/v2/app/referrers/{subject}")
    assert listed.status == 200 and listed.headers["Content-Type"] == OCI_INDEX
    assert listed.json()["manifests"] == [{"mediaType": OCI_MANIFEST, "digest": sha(artifact), "size": len(artifact),
                                           "artifactType": "application/x-sbom", "annotations": {"made": "by a test"}}]
    filtered = client("GET", f"/v2/app/referrers/{subject}?artifactType=application/x-other")
    assert filtered.json()["manifests"] == [] and filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert client("GET", f"/v2/unknown/referrers/{subject}").json()["manifests"] == []
    assert client("GET", "/v2/app/referrers/sha256:bad").status == 400


# -- names, discovery -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["App", "a..b", "a//b", "_a", "a/_manifests", "a-", "a/" * 130 + "a"])
def test_invalid_repository_names(client, name):
    for method, suffix in (("GET", "tags/list"), ("POST", "blobs/uploads/"), ("GET", "manifests/v1")):
        reply = client(method, f"/v2/{name}/{suffix}")
        assert reply.status == 400 and reply.codes == ["NAME_INVALID"]


def test_tags_list_paginates(client):
    digest, body = push_image(client, "paged", "v1")
    for tag in ("b", "a", "C", "v2"):
        client("PUT", f"/v2/paged/manifests/{tag}", body, {"Content-Type": OCI_MANIFEST})
    assert client("GET", "/v2/paged/tags/list").json() == {"name": "paged", "tags": ["C", "a", "b", "v1", "v2"]}
    page = client("GET", "/v2/paged/tags/list?n=2")
    assert page.json()["tags"] == ["C", "a"] and page.headers["Link"] == '</v2/paged/tags/list?last=a&n=2>; rel="next"'
    link = page.headers["Link"][1:page.headers["Link"].index(">")]
    page = client("GET", link)
    assert page.json()["tags"] == ["b", "v1"] and "last=v1" in page.headers["Link"]
    last = client("GET", "/v2/paged/tags/list?n=2&last=v1")
    assert last.json()["tags"] == ["v2"] and last.headers["Link"] is None
    assert client("GET", "/v2/paged/tags/list?last=b").json()["tags"] == ["v1", "v2"]
    zero = client("GET", "/v2/paged/tags/list?n=0")
    assert zero.json()["tags"] == [] and zero.headers["Link"] is None
    assert client("GET", "/v2/paged/tags/list?n=-1").codes == ["PAGINATION_NUMBER_INVALID"]
    assert client("GET", "/v2/nothing/tags/list").codes == ["NAME_UNKNOWN"]


def test_catalog_paginates_and_search_finds_repositories(client):
    for name in ("team/web", "team/db", "tools", "web-cache"):
        push_image(client, name, "latest")
    push_blob(client, "blobs-only", b"x")
    assert client("GET", "/v2/_catalog").json() == {"repositories": ["team/db", "team/web", "tools", "web-cache"]}
    page = client("GET", "/v2/_catalog?n=3")
    assert page.json()["repositories"] == ["team/db", "team/web", "tools"]
    assert page.headers["Link"] == '</v2/_catalog?last=tools&n=3>; rel="next"'
    assert client("GET", "/v2/_catalog?n=3&last=tools").json()["repositories"] == ["web-cache"]
    ping = client("GET", "/v1/_ping")
    assert ping.status == 200 and ping.headers["X-Docker-Registry-Standalone"] == "true"
    found = client("GET", "/v1/search?q=web&n=25").json()
    assert found["query"] == "web" and found["num_results"] == 2
    assert found["results"][0] == {"name": "team/web", "description": "", "star_count": 0,
                                   "is_official": False, "is_automated": False}
    assert [r["name"] for r in found["results"]] == ["team/web", "web-cache"]
    assert client("GET", "/v1/search?q=web&n=1").json()["results"] == [found["results"][0]]
    assert client("GET", "/v1/search?q=web&n=500").status == 400


# -- gc -------------------------------------------------------------------------------


def test_gc_removes_only_unreferenced_blobs(client, tmp_path, capsys):
    root = tmp_path / "root"
    keep, _ = push_image(client, "app", "keep", layers=(b"shared", b"only kept"))
    drop, _ = push_image(client, "app", "drop", layers=(b"shared", b"only dropped"))
    untagged, _ = push_image(client, "app", layers=(b"untagged layer",))
    orphan = push_blob(client, "app", b"never referenced")
    assert client("DELETE", f"/v2/app/manifests/{drop}").status == 202
    before = blob_files(root)
    dry = collect(Registry(str(root)), dry_run=True)
    assert blob_files(root) == before
    expected = {drop, orphan, sha(b"only dropped")}
    assert {str(d) for d, _ in dry.removed} == expected
    assert cli_main(["registry", "gc", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert f"Deleted blob: {orphan}" in out and "Total reclaimed: 3 blobs" in out
    assert client("GET", f"/v2/app/manifests/{keep}").status == 200
    for layer in (b"shared", b"only kept", b"untagged layer"):
        assert client("GET", f"/v2/app/blobs/{sha(layer)}").status == 200
    for digest in expected:
        assert client("GET", f"/v2/app/blobs/{digest}").codes == ["BLOB_UNKNOWN"]
        assert not os.path.exists(root / "repositories" / "app" / "_layers" / "sha256" / digest[7:])
    report = collect(Registry(str(root)), delete_untagged=True)
    assert [(n, str(d)) for n, d in report.manifests_removed] == [("app", untagged)]
    assert {str(d) for d, _ in report.removed} == {untagged, sha(b"untagged layer")}
    assert client("GET", "/v2/app/manifests/keep").status == 200


def test_gc_removes_stale_uploads_and_debris(client, tmp_path):
    root = tmp_path / "root"
    stale = client("POST", "/v2/app/blobs/uploads/").headers["Location"]
    fresh = client("POST", "/v2/app/blobs/uploads/").headers["Location"]
    week_ago = time.time() - 8 * 24 * 3600
    os.utime(root / "repositories" / "app" / "_uploads" / stale.rsplit("/", 1)[1] / "data", (week_ago, week_ago))
    debris = root / "tmp" / "left-by-a-crash"
    debris.write_bytes(b"half a tag")
    os.utime(debris, (week_ago, week_ago))
    assert collect(Registry(str(root))).uploads_removed == 1
    assert client("GET", stale).codes == ["BLOB_UPLOAD_UNKNOWN"]
    assert client("GET", fresh).status == 204
    assert not debris.exists()


# -- auth, TLS --------------------------------------------------------------------------


@pytest.fixture
def htpasswd(tmp_path):
    import bcrypt

    path = tmp_path / "htpasswd"
    path.write_text("# users\nalice:" + bcrypt.hashpw(b"secret", bcrypt.gensalt(4)).decode() + "\n")
    return str(path)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def secured(tmp_path, htpasswd):
    srv = start(tmp_path / "root", htpasswd=htpasswd)
    yield srv
    srv.shutdown()
    srv.server_close()


def test_basic_auth(secured):
    anonymous = Client(secured.port)
    for authorization in (None, basic("alice", "wrong"), basic("bob", "secret"), "Basic !!!"):
        reply = anonymous("GET", "/v2/", headers={"Authorization": authorization} if authorization else {})
        assert reply.status == 401 and reply.codes == ["UNAUTHORIZED"]
        challenges = reply.headers.get_all("WWW-Authenticate")
        assert challenges == [f'Bearer realm="http://127.0.0.1:{secured.port}/token",service="dockyard-registry"',
                              'Basic realm="dockyard-registry"']
    alice = Client(secured.port, basic("alice", "secret"))
    assert alice("GET", "/v2/").status == 200
    push_image(alice, "private", "v1")
    assert alice("GET", "/v2/_catalog").json() == {"repositories": ["private"]}
    refused = anonymous("POST", f"/v2/private/blobs/uploads/?digest={sha(b'x' * 100)}", b"x" * 100)
    assert refused.status == 401
    assert anonymous("GET", "/v2/").status == 401  # the connection survived the unread body
    assert anonymous("GET", "/v1/_ping").status == 200
    assert anonymous("GET", "/v1/search?q=private").status == 401
    assert alice("GET", "/v1/search?q=private").json()["num_results"] == 1


def test_a_refused_request_never_asks_for_its_body(secured):
    """With "Expect: 100-continue", a 401 comes at once and no 100 Continue before it."""
    with socket.create_connection(("127.0.0.1", secured.port), timeout=5) as raw:
        raw.sendall(b"PATCH /v2/app/blobs/uploads/x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                    b"Content-Length: 100000000\r\n\r\n")
        head = raw.recv(65536)
    assert head.startswith(b"HTTP/1.1 401 ") and b"Connection: close" in head


def test_bearer_token_flow(secured):
    anonymous = Client(secured.port)
    challenge = anonymous("GET", "/v2/app/tags/list").headers.get_all("WWW-Authenticate")[0]
    assert challenge == (f'Bearer realm="http://127.0.0.1:{secured.port}/token",service="dockyard-registry",'
                         'scope="repository:app:pull"')
    params = {"service": "dockyard-registry", "scope": "repository:app:pull,push"}
    token_path = "/token?" + urllib.parse.urlencode(params)
    for wrong in (None, basic("alice", "nope")):
        refused = anonymous("GET", token_path, headers={"Authorization": wrong} if wrong else {})
        assert refused.status == 401 and refused.headers["WWW-Authenticate"] == 'Basic realm="dockyard-registry"'
    issued = anonymous("GET", token_path, headers={"Authorization": basic("alice", "secret")}).json()
    assert issued["expires_in"] == 300 and issued["access_token"] == issued["token"]
    bearer = Client(secured.port, f"Bearer {issued['token']}")
    digest, _ = push_image(bearer, "app", "v1")
    assert bearer("GET", "/v2/app/manifests/v1").status == 200
    # The token covers app's pull and push, nothing else.
    other = bearer("GET", "/v2/other/tags/list")
    assert other.status == 401 and 'error="insufficient_scope"' in other.headers["WWW-Authenticate"]
    assert bearer("DELETE", f"/v2/app/manifests/{digest}").status == 401
    assert bearer("GET", "/v2/_catalog").status == 401
    forged = issued["token"][:-4] + ("AAAA" if not issued["token"].endswith("AAAA") else "BBBB")
    reply = Client(secured.port, f"Bearer {forged}")("GET", "/v2/app/tags/list")
    assert reply.status == 401 and 'error="invalid_token"' in reply.headers["WWW-Authenticate"]
    # The OAuth2 password grant gives the same.
    form = urllib.parse.urlencode({"grant_type": "password", "username": "alice", "password": "secret",
                                   "scope": "registry:catalog:*", "service": "dockyard-registry"})
    posted = anonymous("POST", "/token", form, {"Content-Type": "application/x-www-form-urlencoded"}).json()
    assert Client(secured.port, f"Bearer {posted['token']}")("GET", "/v2/_catalog").status == 200


def test_read_only_refuses_writes(tmp_path):
    srv = start(tmp_path / "root", read_only=True)
    try:
        client = Client(srv.port)
        assert client("POST", "/v2/app/blobs/uploads/").codes == ["DENIED"]
        assert client("DELETE", f"/v2/app/manifests/{sha(b'x')}").codes == ["UNSUPPORTED"]
        assert client("GET", "/v2/_catalog").status == 200
    finally:
        srv.shutdown()
        srv.server_close()


def test_tls(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    srv = start(tmp_path / "root", tls_cert=str(cert), tls_key=str(key))
    try:
        client = Client(srv.port, context=ssl.create_default_context(cafile=str(cert)))
        digest = push_blob(client, "secure", os.urandom(200_000))
        assert client("GET", f"/v2/secure/blobs/{digest}").status == 200
        with pytest.raises(ssl.SSLError):
            Client(srv.port, context=ssl.create_default_context())("GET", "/v2/")
    finally:
        srv.shutdown()
        srv.server_close()


# -- the command line, and skopeo ---------------------------------------------------------


def test_cli_serve_prints_its_address_and_stops_on_sigterm(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "dockyard.cli.main", "registry", "serve", "--listen",
                             "127.0.0.1:0", "--root", str(tmp_path / "root"), "--log-level", "warn"],
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        assert line.startswith("dockyard registry: serving ") and "http://127.0.0.1:" in line
        port = int(line.rsplit(":", 1)[1])
        assert Client(port)("GET", "/v2/").status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def _oci_layout(path) -> str:
    """A one-layer OCI image layout at `path`, tagged v1; the manifest digest."""
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as t:
        info = tarfile.TarInfo("hello.txt")
        info.size = 6
        t.addfile(info, io.BytesIO(b"hello\n"))
    layer = gzip.compress(tar.getvalue(), mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [sha(tar.getvalue())]}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(OCI_CONFIG, config),
                           "layers": [descriptor(OCI_LAYER, layer)]}).encode()
    os.makedirs(path / "blobs" / "sha256")
    for blob in (layer, config, manifest):
        (path / "blobs" / "sha256" / sha(blob)[7:]).write_bytes(blob)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        descriptor(OCI_MANIFEST, manifest, annotations={"org.opencontainers.image.ref.name": "v1"})]}))
    return sha(manifest)


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")
@pytest.mark.parametrize("with_auth", [False, True])
def test_skopeo_copies_an_oci_layout_in_and_out(tmp_path, htpasswd, with_auth):
    digest = _oci_layout(tmp_path / "in")
    policy = tmp_path / "policy.json"
    policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    srv = start(tmp_path / "root", htpasswd=htpasswd if with_auth else None)
    try:
        remote = f"docker://127.0.0.1:{srv.port}/skopeo/hello:v1"
        creds = ["--src-creds", "alice:secret", "--dest-creds", "alice:secret"] if with_auth else []
        env = dict(os.environ, HOME=str(tmp_path), XDG_RUNTIME_DIR=str(tmp_path))
        for src, dst in ((f"oci:{tmp_path / 'in'}:v1", remote), (remote, f"oci:{tmp_path / 'out'}:v1")):
            subprocess.run(["skopeo", "--policy", str(policy), "copy", "--src-tls-verify=false",
                            "--dest-tls-verify=false", *creds, src, dst], check=True, capture_output=True,
                           env=env, timeout=60)
        index = json.loads((tmp_path / "out" / "index.json").read_text())
        assert index["manifests"][0]["digest"] == digest
        reply = Client(srv.port, basic("alice", "secret"))("GET", "/v2/skopeo/hello/tags/list")
        assert reply.json() == {"name": "skopeo/hello", "tags": ["v1"]}
    finally:
        srv.shutdown()
        srv.server_close()
