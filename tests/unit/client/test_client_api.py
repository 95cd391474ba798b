"""APIClient against a fake daemon on a unix socket."""

import json
import socket
import threading

import pytest

from dockyard import errors
from dockyard.client.api import APIClient, default_host, encode_query, error_from_status
from dockyard.client.stream import STDOUT, frame

from fakedaemon import FakeDaemon, chunked


@pytest.fixture
def daemon(tmp_path):
    with FakeDaemon(str(tmp_path / "d.sock")) as d:
        yield d


def client_for(daemon):
    return APIClient(f"unix://{daemon.path}")


def test_default_host_precedence():
    assert default_host({}) == "unix:///run/dockyard/dockyard.sock"
    assert default_host({"DOCKER_HOST": "unix:///x.sock"}) == "unix:///x.sock"
    assert default_host({"DOCKER_HOST": "tcp://1.2.3.4:2375"}) == \
        "unix:///run/dockyard/dockyard.sock"
    assert default_host({"DOCKER_HOST": "unix:///x", "DOCKYARD_HOST": "unix:///y"}) == \
        "unix:///y"


def test_query_encoding():
    assert encode_query({"all": True, "size": False, "limit": None, "n": 3}) == "?all=1&n=3"
    assert encode_query({"filters": {"status": ["exited"]}}) == \
        "?filters=%7B%22status%22%3A%7B%22exited%22%3Atrue%7D%7D"
    assert encode_query({"changes": ["CMD x", "ENV a=b"]}) == "?changes=CMD+x&changes=ENV+a%3Db"
    assert encode_query({"filters": {}}) == ""


@pytest.mark.parametrize("status,kind", [
    (304, errors.NotModified), (400, errors.InvalidArgument), (403, errors.Forbidden),
    (404, errors.NotFound), (409, errors.Conflict), (500, errors.SystemError),
    (503, errors.Unavailable), (502, errors.SystemError)])
def test_status_maps_to_error_kind(status, kind):
    err = error_from_status(status, b'{"message": "boom"}')
    assert type(err) is kind and err.message == "boom" and err.from_daemon


def test_error_without_json_body_uses_text():
    assert error_from_status(500, b"plain failure\n").message == "plain failure"


def test_get_uses_version_prefix_and_decodes_json(daemon):
    daemon.reply("GET", "/containers/json", 200, [{"Id": "abc"}])
    client = client_for(daemon)
    assert client.get("/containers/json", {"all": True}) == [{"Id": "abc"}]
    assert client.get("/containers/json") == [{"Id": "abc"}]  # kept-alive connection reused
    req = daemon.requests[0]
    assert req.handler.path.startswith("/v1.47/containers/json")
    assert req.q("all") == "1"


def test_post_sends_json_body(daemon):
    daemon.route("POST", "/containers/create", lambda r: (201, {"Id": r.json()["Image"]}))
    assert client_for(daemon).post("/containers/create", {"name": "x"},
                                   {"Image": "busybox"}) == {"Id": "busybox"}
    assert daemon.requests[0].headers["Content-Type"] == "application/json"


def test_error_status_raises_kind(daemon):
    daemon.reply("DELETE", "/containers/nope", 404, {"message": "No such container: nope"})
    with pytest.raises(errors.NotFound) as info:
        client_for(daemon).delete("/containers/nope")
    assert info.value.message == "No such container: nope"


def test_missing_socket_says_cannot_connect(tmp_path):
    client = APIClient(f"unix://{tmp_path}/none.sock")
    with pytest.raises(errors.Unavailable) as info:
        client.get("/_ping")
    assert info.value.message == (f"Cannot connect to the dockyard daemon at unix://{tmp_path}"
                                  "/none.sock. Is the dockyard daemon running?")
    with pytest.raises(errors.Unavailable):
        client.hijack("/containers/x/attach")


def test_stream_json_reads_chunked_lines(daemon):
    daemon.route("GET", "/events", lambda r: chunked(200, [b'{"Action":"start"}\n',
                                                          b'{"Action":"die"}\n']))
    events = list(client_for(daemon).stream_json("GET", "/events"))
    assert [e["Action"] for e in events] == ["start", "die"]


def test_file_body_is_streamed_with_its_length(daemon, tmp_path):
    tar = tmp_path / "rootfs.tar"
    tar.write_bytes(b"x" * 100000)
    daemon.route("POST", "/images/create",
                 lambda r: (200, {"status": "sha256:" + str(len(r.body))}))
    with open(tar, "rb") as fh:
        out = list(client_for(daemon).stream_json("POST", "/images/create", {"fromSrc": "-"}, fh))
    assert out == [{"status": "sha256:100000"}]
    assert daemon.requests[0].headers["Content-Length"] == "100000"


def test_pipe_body_is_sent_chunked(daemon):
    daemon.route("POST", "/images/create", lambda r: (200, {"status": r.body.decode()}))
    read_end, write_end = socket.socketpair()
    write_end.sendall(b"tar-bytes")
    write_end.close()
    with read_end.makefile("rb") as pipe:
        out = list(client_for(daemon).stream_json("POST", "/images/create", None, pipe))
    assert out == [{"status": "tar-bytes"}]
    assert daemon.requests[0].headers["Transfer-Encoding"] == "chunked"


def _attach_echo(handler):
    # Upgrade, send buffered output in the same write as the headers, then
    # echo stdin back as a stdout frame until the client half-closes.
    handler.wfile.write(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                        b"Content-Type: application/vnd.docker.multiplexed-stream\r\n\r\n"
                        + frame(STDOUT, b"early "))
    handler.wfile.flush()
    data = handler.rfile.read()
    handler.wfile.write(frame(STDOUT, data))
    handler.wfile.flush()


def test_hijack_returns_socket_and_buffered_bytes(daemon):
    daemon.route("POST", "/containers/c1/attach", lambda r: _attach_echo)
    hijacked = client_for(daemon).hijack("/containers/c1/attach", {"stream": True, "stdin": True})
    req = daemon.requests[0]
    assert req.headers["Upgrade"] == "tcp" and req.headers["Connection"] == "Upgrade"
    hijacked.sock.sendall(b"input")
    hijacked.close_write()
    data = hijacked.buffered
    while chunk := hijacked.sock.recv(4096):
        data += chunk
    hijacked.close()
    assert data == frame(STDOUT, b"early ") + frame(STDOUT, b"input")


def test_hijack_error_status_raises(daemon):
    daemon.reply("POST", "/containers/gone/attach", 404, {"message": "No such container: gone"})
    with pytest.raises(errors.NotFound):
        client_for(daemon).hijack("/containers/gone/attach")


def test_open_then_response_for_late_answers(daemon):
    release = threading.Event()
    daemon.route("POST", "/containers/c1/wait", lambda r: chunked(
        200, [b'{"StatusCode":7}'], before_each=lambda i: release.wait(5)))
    client = client_for(daemon)
    conn = client.open("POST", "/containers/c1/wait", {"condition": "next-exit"})
    release.set()
    assert json.loads(client.response(conn).read()) == {"StatusCode": 7}
