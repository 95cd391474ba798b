"""The client's HTTP/1.1 against scripted servers: framing, streaming, reuse."""

import socket
import threading

import pytest

from dockyard import errors
from dockyard.client.api import APIClient
from dockyard.client.connection import Connection, Disconnected

from fakedaemon import FakeDaemon, chunked


class Scripted:
    """A unix socket server whose one connection runs ``script(sock)``;
    the request bytes it read are kept in ``received``."""

    def __init__(self, path, script):
        self.path = path
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(1)
        self.received = b""
        self.thread = threading.Thread(target=self._serve, args=(script,), daemon=True)
        self.thread.start()

    def _serve(self, script):
        sock, _ = self.listener.accept()
        with sock:
            script(self, sock)

    def read_request(self, sock):
        while b"\r\n\r\n" not in self.received:
            self.received += sock.recv(4096)

    def close(self):
        self.thread.join(5)
        self.listener.close()


@pytest.fixture
def serve(tmp_path):
    servers = []

    def start(script):
        server = Scripted(str(tmp_path / f"s{len(servers)}.sock"), script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def test_request_head_and_content_length_body(serve):
    def script(server, sock):
        server.read_request(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2\r\n\r\nhello")

    server = serve(script)
    conn = Connection(server.path)
    conn.send("POST", "/v1.47/x?a=1", {"User-Agent": "t"}, b"")
    response = conn.response()
    assert response.status == 200 and response.reason == "OK"
    assert response.getheader("X-A") == "1, 2"
    assert response.read() == b"hello" and response.read() == b""
    assert not response.will_close
    conn.close()
    assert server.received.startswith(b"POST /v1.47/x?a=1 HTTP/1.1\r\nHost: localhost\r\n")
    assert b"Content-Length: 0\r\n" in server.received


def test_read1_passes_a_chunk_on_before_the_next_arrives(serve):
    more = threading.Event()

    def script(server, sock):
        server.read_request(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst")
        more.wait(5)
        sock.sendall(b"\r\n7\r\nsecond\n\r\n0\r\n\r\n")

    conn = Connection(serve(script).path)
    conn.send("GET", "/logs", {})
    response = conn.response()
    assert response.read1(65536) == b"first"  # would hang if it waited for the CRLF
    more.set()
    assert response.readline() == b"second\n"
    assert response.read() == b""
    conn.close()


def test_body_until_close_and_interim_responses(serve):
    def script(server, sock):
        server.read_request(sock)
        sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\n\r\nline 1\nline 2")

    conn = Connection(serve(script).path)
    conn.send("GET", "/x", {})
    response = conn.response()
    assert response.status == 200 and response.will_close
    assert list(response) == [b"line 1\n", b"line 2"]
    conn.close()


def test_truncated_body_is_a_disconnect(serve):
    def script(server, sock):
        server.read_request(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")

    conn = Connection(serve(script).path)
    conn.send("GET", "/x", {})
    with pytest.raises(Disconnected):
        conn.response().read()
    conn.close()


def test_upgrade_keeps_bytes_after_the_head(serve):
    def script(server, sock):
        server.read_request(sock)
        sock.sendall(b"HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\n\r\nraw bytes")

    conn = Connection(serve(script).path)
    conn.send("POST", "/attach", {"Upgrade": "tcp"}, b"")
    assert conn.response().status == 101
    sock, leftover = conn.take_over()
    while len(leftover) < len(b"raw bytes"):
        leftover += sock.recv(100)
    assert leftover == b"raw bytes"
    sock.close()


def test_closed_keep_alive_connection_is_retried(tmp_path):
    # The fake daemon closes the connection after a streamed answer without
    # saying so; the next plain call finds it closed and must retry.
    with FakeDaemon(str(tmp_path / "d.sock")) as daemon:
        daemon.route("GET", "/events", lambda r: chunked(200, [b"{}\n"]))
        daemon.reply("GET", "/_ping", 200, {"ok": True})
        client = APIClient(f"unix://{daemon.path}")
        assert client.get("/events") == {}
        assert client.get("/_ping") == {"ok": True}
        assert client.get("/_ping") == {"ok": True}
        client.close()


def test_head_has_no_body_and_keeps_the_connection(tmp_path):
    with FakeDaemon(str(tmp_path / "d.sock")) as daemon:
        daemon.reply("HEAD", "/images/busybox/get", 200, None)
        daemon.reply("GET", "/_ping", 200, "OK")
        client = APIClient(f"unix://{daemon.path}")
        assert client.head("/images/busybox/get")["content-type"] == "application/json"
        assert client.get("/_ping") == "OK"
        client.close()


def test_error_without_message_uses_reason(tmp_path):
    with FakeDaemon(str(tmp_path / "d.sock")) as daemon:
        daemon.reply("GET", "/x", 502, b"")
        with pytest.raises(errors.SystemError) as info:
            APIClient(f"unix://{daemon.path}").get("/x")
    assert info.value.message == "Bad Gateway"


def test_names_a_request_line_cannot_carry_are_percent_encoded(tmp_path):
    with FakeDaemon(str(tmp_path / "d.sock")) as daemon:
        daemon.route("DELETE", "/containers/.+",
                     lambda r: (404, {"message": f"No such container: {r.path}"}))
        with pytest.raises(errors.NotFound):
            APIClient(f"unix://{daemon.path}").delete("/containers/a bé")
        assert daemon.requests[0].handler.path == "/v1.47/containers/a%20b%C3%A9"
