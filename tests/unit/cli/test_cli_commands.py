"""Whole commands against the fake daemon, run as the real console script would."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from dockyard.client.stream import STDERR, STDOUT, frame

from fakedaemon import FakeDaemon, chunked

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "..", "src")


@pytest.fixture
def daemon(tmp_path):
    with FakeDaemon(str(tmp_path / "d.sock")) as d:
        yield d


def dockyard(daemon, *argv, stdin=b""):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(SRC))
    return subprocess.run([sys.executable, "-m", "dockyard.cli.main", "-H",
                           f"unix://{daemon.path}", *argv], input=stdin, capture_output=True,
                          env=env, timeout=30)


def paths(daemon):
    return [(r.method, r.path) for r in daemon.requests]


def fake_container(daemon, *, exit_code=0, start_error=None, output=None):
    """create → attach → wait → start, with the ordering checks docker relies on."""
    started = threading.Event()
    output = output if output is not None else [frame(STDOUT, b"hello\n"),
                                                frame(STDERR, b"oops\n")]
    daemon.route("POST", "/containers/create", lambda r: (201, {"Id": "c" * 64,
                                                                "Warnings": []}))

    def attach(handler):
        handler.wfile.write(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\n"
                            b"Upgrade: tcp\r\n\r\n")
        handler.wfile.flush()
        if not started.wait(5):
            return
        for chunk in output:
            handler.wfile.write(chunk)
            handler.wfile.flush()

    daemon.route("POST", "/containers/c+/attach", lambda r: attach)
    daemon.route("POST", "/containers/c+/wait", lambda r: chunked(
        200, [json.dumps({"StatusCode": exit_code}).encode()],
        before_each=lambda i: started.wait(5)))

    def start(_req):
        if start_error:
            return 400, {"message": start_error}
        started.set()
        return 204, None

    daemon.route("POST", "/containers/c+/start", start)


def test_run_attached_prints_output_and_exits_with_container_status(daemon):
    fake_container(daemon, exit_code=3)
    result = dockyard(daemon, "run", "--rm", "busybox", "sh", "-c", "echo hello")
    assert result.stdout == b"hello\n" and result.stderr == b"oops\n"
    assert result.returncode == 3
    order = [p for _, p in paths(daemon)]
    assert order[0] == "/containers/create"
    assert order.index(f"/containers/{'c' * 64}/attach") < order.index(
        f"/containers/{'c' * 64}/start")
    assert order.index(f"/containers/{'c' * 64}/wait") < order.index(
        f"/containers/{'c' * 64}/start")
    wait = next(r for r in daemon.requests if r.path.endswith("/wait"))
    assert wait.q("condition") == "removed"
    create = daemon.requests[0].json()
    assert create["Cmd"] == ["sh", "-c", "echo hello"]
    assert create["HostConfig"]["AutoRemove"] is True
    attach = next(r for r in daemon.requests if r.path.endswith("/attach"))
    assert attach.q("stdin") is None and attach.q("stdout") == "1"


def test_run_detached_prints_id(daemon):
    fake_container(daemon)
    result = dockyard(daemon, "run", "-d", "--name", "web", "busybox")
    assert result.returncode == 0 and result.stdout.decode() == "c" * 64 + "\n"
    assert daemon.requests[0].q("name") == "web"
    assert [p for _, p in paths(daemon)][1:] == [f"/containers/{'c' * 64}/start"]


def test_run_start_failure_exit_codes(daemon):
    fake_container(daemon, start_error='exec: "nope": executable file not found in $PATH')
    result = dockyard(daemon, "run", "busybox", "nope")
    assert result.returncode == 127
    assert result.stderr.decode() == (
        'dockyard: Error response from daemon: exec: "nope": executable file not found in '
        "$PATH\n\nRun 'dockyard run --help' for more information\n")


def test_run_unknown_image_tries_to_pull(daemon):
    daemon.reply("POST", "/containers/create", 404, {"message": "No such image: nosuch:latest"})
    daemon.route("POST", "/images/create", lambda r: chunked(200, [
        b'{"errorDetail":{"message":"pull access denied for nosuch"},'
        b'"error":"pull access denied for nosuch"}\n']))
    result = dockyard(daemon, "run", "nosuch")
    assert result.returncode == 125
    assert result.stderr.decode() == (
        "Unable to find image 'nosuch:latest' locally\n"
        "dockyard: Error response from daemon: pull access denied for nosuch\n\n"
        "Run 'dockyard run --help' for more information\n")


def test_run_interactive_sends_stdin_and_half_closes(daemon):
    got = {}
    started = threading.Event()
    daemon.route("POST", "/containers/create", lambda r: (201, {"Id": "abc"}))

    def attach(handler):
        handler.wfile.write(b"HTTP/1.1 101 UPGRADED\r\n\r\n")
        handler.wfile.flush()
        got["stdin"] = handler.rfile.read()  # until the client's half-close
        started.wait(5)
        handler.wfile.write(frame(STDOUT, got["stdin"].upper()))
        handler.wfile.flush()

    daemon.route("POST", "/containers/abc/attach", lambda r: attach)
    daemon.route("POST", "/containers/abc/wait", lambda r: chunked(
        200, [b'{"StatusCode":0}'], before_each=lambda i: started.wait(5)))
    daemon.route("POST", "/containers/abc/start", lambda r: (started.set(), (204, None))[1])
    result = dockyard(daemon, "run", "-i", "busybox", "cat", stdin=b"piped input")
    assert result.stdout == b"PIPED INPUT" and result.returncode == 0
    create = daemon.requests[0].json()
    assert create["OpenStdin"] and create["AttachStdin"] and create["StdinOnce"]


def test_cannot_connect(tmp_path):
    class Nowhere:
        path = str(tmp_path / "none.sock")
    result = dockyard(Nowhere, "ps")
    assert result.returncode == 1
    assert result.stderr.decode() == (f"Cannot connect to the dockyard daemon at unix://"
                                      f"{Nowhere.path}. Is the dockyard daemon running?\n")


def test_ps_table(daemon):
    now = int(time.time())
    daemon.reply("GET", "/containers/json", 200, [
        {"Id": "0123456789abcdef" * 4, "Names": ["/web"], "Image": "busybox",
         "Command": "sh -c 'while true; do sleep 1; done'", "Created": now - 125,
         "State": "running", "Status": "Up 2 minutes",
         "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}]},
        {"Id": "fedcba9876543210" * 4, "Names": ["/a_long_container_name"], "Image": "b",
         "Command": "true", "Created": now - 200, "State": "exited",
         "Status": "Exited (0) 1 second ago", "Ports": []},
    ])
    result = dockyard(daemon, "ps", "-a")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().splitlines() == [
        "CONTAINER ID   IMAGE     COMMAND                  CREATED         "
        "STATUS                    PORTS                  NAMES",
        "0123456789ab   busybox   \"sh -c 'while true; …\"   2 minutes ago   "
        "Up 2 minutes              0.0.0.0:8080->80/tcp   web",
        "fedcba987654   b         \"true\"                   3 minutes ago   "
        "Exited (0) 1 second ago                          a_long_container_name",
    ]
    assert daemon.requests[0].q("all") == "1"
    quiet = dockyard(daemon, "ps", "-q")
    assert quiet.stdout.decode().split() == ["0123456789ab", "fedcba987654"]
    custom = dockyard(daemon, "ps", "--format", "table {{.Names}}\\t{{.State}}")
    assert custom.stdout.decode() == ("NAMES                   STATE\nweb                     "
                                      "running\na_long_container_name   exited\n")


def test_rm_reports_each_failure(daemon):
    daemon.reply("DELETE", "/containers/ok", 204, None)
    daemon.reply("DELETE", "/containers/gone", 404, {"message": "No such container: gone"})
    result = dockyard(daemon, "rm", "-f", "gone", "ok")
    assert result.stdout == b"ok\n"
    assert result.stderr == b"Error response from daemon: No such container: gone\n"
    assert result.returncode == 1
    assert daemon.requests[-1].q("force") == "1"


def test_rmi_prints_untagged_and_deleted(daemon):
    daemon.reply("DELETE", "/images/busybox", 200,
                 [{"Untagged": "busybox:latest"}, {"Deleted": "sha256:abc"}])
    result = dockyard(daemon, "rmi", "busybox")
    assert result.stdout == b"Untagged: busybox:latest\nDeleted: sha256:abc\n"


def test_inspect_falls_back_to_image_and_formats(daemon):
    daemon.reply("GET", "/containers/busybox/json", 404, {"message": "No such container"})
    daemon.reply("GET", "/images/busybox/json", 200, {"Id": "sha256:1", "Config": {"Cmd": ["sh"]}})
    result = dockyard(daemon, "inspect", "--format", "{{.Id}} {{json .Config}}", "busybox")
    assert result.stdout == b'sha256:1 {"Cmd":["sh"]}\n' and result.returncode == 0
    missing = dockyard(daemon, "inspect", "nothing")
    assert missing.stdout == b"[]\n" and missing.returncode == 1
    assert missing.stderr == b"Error: No such object: nothing\n"


def test_import_streams_file_and_prints_id(daemon, tmp_path):
    tar = tmp_path / "fs.tar"
    tar.write_bytes(b"\0" * 4096)
    daemon.route("POST", "/images/create", lambda r: (200, {"status": "sha256:feed"}))
    result = dockyard(daemon, "import", "-c", "CMD [\"sh\"]", "-m", "msg", str(tar), "mine:1")
    assert result.stdout == b"sha256:feed\n", result.stderr
    req = daemon.requests[0]
    assert req.q("fromSrc") == "-" and req.q("repo") == "mine:1"
    assert req.query["changes"] == ['CMD ["sh"]'] and req.q("message") == "msg"
    assert len(req.body) == 4096


def test_logs_demultiplexes(daemon):
    daemon.reply("GET", "/containers/x/json", 200, {"Id": "x", "Config": {"Tty": False}})
    daemon.route("GET", "/containers/x/logs", lambda r: chunked(
        200, [frame(STDOUT, b"a\n") + frame(STDERR, b"b")[:5], frame(STDERR, b"b")[5:]]))
    result = dockyard(daemon, "logs", "--tail", "5", "x")
    assert result.stdout == b"a\n" and result.stderr == b"b"
    logs = daemon.requests[-1]
    assert logs.q("tail") == "5" and logs.q("stdout") == "1" and logs.q("follow") is None


def test_help_and_unknown_flag(daemon):
    help_text = dockyard(daemon, "run", "--help")
    assert help_text.returncode == 0
    assert help_text.stdout.startswith(b"Usage:  dockyard run [OPTIONS] IMAGE [COMMAND] [ARG...]")
    bad = dockyard(daemon, "images", "--bogus")
    assert bad.returncode == 125
    assert bad.stderr.decode().startswith("unknown flag: --bogus\n\nUsage:  dockyard images")
    assert daemon.requests == []


def test_exec_creates_starts_and_exits_with_exec_status(daemon):
    daemon.reply("GET", "/containers/c1/json", 200, {"Id": "c1"})
    daemon.reply("POST", "/containers/c1/exec", 201, {"Id": "e1"})

    def start(handler):
        handler.wfile.write(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\n"
                            b"Upgrade: tcp\r\n\r\n" + frame(STDOUT, b"hi\n"))
        handler.wfile.flush()

    daemon.route("POST", "/exec/e1/start", lambda r: start)
    daemon.reply("GET", "/exec/e1/json", 200, {"ExitCode": 4, "Running": False})
    result = dockyard(daemon, "exec", "-e", "A=1", "c1", "echo", "hi")
    assert result.stdout == b"hi\n" and result.returncode == 4
    create = next(r for r in daemon.requests if r.path == "/containers/c1/exec").json()
    assert create["Cmd"] == ["echo", "hi"] and create["Env"] == ["A=1"]
    assert create["AttachStdout"] and not create["AttachStdin"]
    start_req = next(r for r in daemon.requests if r.path == "/exec/e1/start")
    assert start_req.json() == {"Detach": False, "Tty": False}
    assert start_req.headers["Upgrade"] == "tcp"


def test_exec_detached_and_not_running(daemon):
    daemon.reply("GET", "/containers/c1/json", 200, {"Id": "c1"})
    daemon.reply("POST", "/containers/c1/exec", 201, {"Id": "e1"})
    daemon.reply("POST", "/exec/e1/start", 200, None)
    result = dockyard(daemon, "exec", "-d", "c1", "sleep", "5")
    assert result.returncode == 0 and result.stdout == b""
    assert daemon.requests[-1].json() == {"Detach": True, "Tty": False}
    daemon.routes.clear()
    daemon.reply("GET", "/containers/c2/json", 200, {"Id": "c2"})
    daemon.reply("POST", "/containers/c2/exec", 409, {"message": "container c2 is not running"})
    result = dockyard(daemon, "exec", "c2", "ls")
    assert result.returncode == 1
    assert result.stderr == b"Error response from daemon: container c2 is not running\n"


def _stat_header(**stat):
    import base64

    return base64.b64encode(json.dumps(stat).encode()).decode()


def test_cp_to_and_from_container(daemon, tmp_path):
    import io
    import tarfile

    (tmp_path / "f.txt").write_bytes(b"hello")
    got = {}

    def head(req):
        def write(handler):
            handler.send_response(200)
            handler.send_header("X-Docker-Container-Path-Stat",
                                _stat_header(name="tmp", size=4096, mode=(1 << 31) | 0o755,
                                             mtime="", linkTarget=""))
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        return write

    def put(req):
        got["path"], got["body"] = req.q("path"), req.body
        got["query"] = req.query
        return 200, None

    daemon.route("HEAD", "/containers/c1/archive", head)
    daemon.route("PUT", "/containers/c1/archive", put)
    result = dockyard(daemon, "cp", "-q", str(tmp_path / "f.txt"), "c1:/tmp")
    assert result.returncode == 0, result.stderr
    assert got["path"] == "/tmp" and got["query"]["noOverwriteDirNonDir"] == ["true"]
    names = tarfile.open(fileobj=io.BytesIO(got["body"])).getnames()
    assert names == ["f.txt"]

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("etc")
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        info = tarfile.TarInfo("etc/hostname")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"box"))

    def get(req):
        def write(handler):
            data = buf.getvalue()
            handler.send_response(200)
            handler.send_header("X-Docker-Container-Path-Stat",
                                _stat_header(name="etc", size=0, mode=(1 << 31) | 0o755,
                                             mtime="", linkTarget=""))
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        return write

    daemon.route("GET", "/containers/c1/archive", get)
    result = dockyard(daemon, "cp", "-q=false", "c1:/etc", str(tmp_path / "copy"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "copy/hostname").read_bytes() == b"box"
    assert result.stderr.decode().startswith("Successfully copied ")
    assert result.stderr.decode().endswith(f" to {tmp_path}/copy\n")


def test_volume_prune_and_system_prune(daemon):
    daemon.reply("POST", "/volumes/prune", 200, {"VolumesDeleted": ["v1"],
                                                 "SpaceReclaimed": 2048})
    result = dockyard(daemon, "volume", "prune", stdin=b"y\n")
    assert result.stdout.decode() == (
        "WARNING! This will remove anonymous local volumes not used by at least one container."
        "\nAre you sure you want to continue? [y/N] Deleted Volumes:\nv1\n\n"
        "Total reclaimed space: 2.048kB\n")
    daemon.reply("POST", "/containers/prune", 200, {"ContainersDeleted": ["c1"],
                                                    "SpaceReclaimed": 1000})
    daemon.reply("POST", "/images/prune", 200, {"ImagesDeleted": None, "SpaceReclaimed": 0})
    result = dockyard(daemon, "system", "prune", "-f")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == ("Deleted Containers:\nc1\n\n"
                                      "Total reclaimed space: 1kB\n")
    paths_seen = [p for _, p in paths(daemon)]
    assert "/networks/prune" in paths_seen and "/build/prune" in paths_seen
    image = next(r for r in daemon.requests if r.path == "/images/prune")
    assert json.loads(image.q("filters")) == {"dangling": {"true": True}}


def test_diff_commit_top(daemon):
    daemon.reply("GET", "/containers/c1/changes", 200, [{"Path": "/tmp", "Kind": 0},
                                                        {"Path": "/tmp/x", "Kind": 1},
                                                        {"Path": "/etc/y", "Kind": 2}])
    assert dockyard(daemon, "diff", "c1").stdout == b"C /tmp\nA /tmp/x\nD /etc/y\n"
    daemon.reply("POST", "/commit", 201, {"Id": "sha256:" + "f" * 64})
    result = dockyard(daemon, "commit", "-m", "msg", "-c", "ENV A=1", "-p=false", "c1", "app")
    assert result.stdout.decode() == "sha256:" + "f" * 64 + "\n"
    commit = next(r for r in daemon.requests if r.path == "/commit")
    assert commit.query == {"container": ["c1"], "repo": ["docker.io/library/app"],
                            "tag": ["latest"], "comment": ["msg"], "author": [""],
                            "changes": ["ENV A=1"], "pause": ["0"]}
