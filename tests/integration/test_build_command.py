"""`dockyard build` end to end: the context it sends (.dockerignore with
exceptions, -f outside the context, -f -), several tags, --label, --iidfile,
-q, exit codes, ADD from a URL, builder prune and system df."""

from __future__ import annotations

import http.server
import threading

import pytest


def out(r) -> str:
    return r.stdout.decode()


@pytest.fixture
def ctx(tmp_path):
    d = tmp_path / "ctx"
    (d / "node_modules" / "dep").mkdir(parents=True)
    (d / "node_modules" / "dep" / "index.js").write_text("dep")
    (d / "logs").mkdir()
    (d / "logs" / "debug.log").write_text("noise")
    (d / "logs" / "important.log").write_text("keep me")
    (d / "src").mkdir()
    (d / "src" / "main.py").write_text("print('main')\n")
    (d / ".env").write_text("SECRET=1\n")
    (d / ".dockerignore").write_text("# the guide's list, and an exception\nnode_modules\n**/*.log\n"
                                     "!logs/important.log\n.env\n")
    (d / "Dockerfile").write_text("FROM busybox\nCOPY . /ctx/\nCMD [\"find\", \"/ctx\", \"-type\", \"f\"]\n")
    return d


def test_dockerignore_tags_labels_and_iidfile(dy, ctx, tmp_path):
    iid = tmp_path / "iid"
    r = dy("build", "-t", "dy-cli-b:1", "-t", "dy-cli-b:latest", "--label", "team=core", "--iidfile", str(iid),
           "--progress", "plain", str(ctx))
    assert r.returncode == 0, r.stderr
    text = out(r)
    assert "Successfully tagged dy-cli-b:1" in text and "Successfully tagged dy-cli-b:latest" in text
    image_id = iid.read_text().strip()
    assert image_id.startswith("sha256:")
    assert out(dy("image", "inspect", "-f", "{{.Id}} {{.Config.Labels}}", "dy-cli-b:latest")).strip() == \
        f"{image_id} map[team:core]"
    files = sorted(out(dy("run", "--rm", "dy-cli-b:1")).split())
    assert files == ["/ctx/.dockerignore", "/ctx/Dockerfile", "/ctx/logs/important.log", "/ctx/src/main.py"]
    dy("rmi", "dy-cli-b:1", "dy-cli-b:latest")


def test_dockerfile_from_stdin_and_outside_and_quiet(dy, ctx, tmp_path):
    r = dy("build", "-q", "-t", "dy-cli-stdin", "-f", "-", str(ctx), input=b"FROM busybox\nRUN echo from-stdin > /s\n")
    assert r.returncode == 0, r.stderr
    assert out(r).strip().startswith("sha256:") and "Step" not in out(r)
    assert out(dy("run", "--rm", "dy-cli-stdin", "cat", "/s")) == "from-stdin\n"
    outside = tmp_path / "elsewhere.Dockerfile"
    outside.write_text("FROM busybox\nCOPY src/main.py /main.py\n")
    r = dy("build", "-t", "dy-cli-outside", "-f", str(outside), str(ctx))
    assert r.returncode == 0, r.stderr
    assert out(dy("run", "--rm", "dy-cli-outside", "cat", "/main.py")) == "print('main')\n"
    dy("rmi", "dy-cli-stdin", "dy-cli-outside")


def test_failures_exit_with_the_step_code_and_tag_nothing(dy, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo failing-now; exit 6\n")
    r = dy("build", "-t", "dy-cli-fail", str(tmp_path))
    assert r.returncode == 6
    assert "failing-now" in out(r) and "returned a non-zero code: 6" in r.stderr.decode()
    assert dy("image", "inspect", "dy-cli-fail").returncode != 0
    (tmp_path / "Dockerfile").write_text("FROM busybox\nBOGUS thing\n")
    r = dy("build", str(tmp_path))
    assert r.returncode == 1 and "line 2: unknown instruction: BOGUS" in r.stderr.decode()
    assert dy("build", str(tmp_path / "missing-dir")).returncode != 0
    dy("image", "prune", "-f")


def test_add_from_a_url(dy, tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / "payload.txt").write_text("downloaded\n")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(served), **kw)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        (tmp_path / "Dockerfile").write_text(f"FROM busybox\nADD http://127.0.0.1:{port}/payload.txt /dl/\n")
        r = dy("build", "-t", "dy-cli-add", str(tmp_path))
        assert r.returncode == 0, r.stderr
        assert out(dy("run", "--rm", "dy-cli-add", "stat", "-c", "%a %n", "/dl/payload.txt")) == "600 /dl/payload.txt\n"
        assert out(dy("run", "--rm", "dy-cli-add", "cat", "/dl/payload.txt")) == "downloaded\n"
        again = dy("build", "-t", "dy-cli-add", str(tmp_path))
        assert out(again).count("Using cache") == 1
    finally:
        server.shutdown()
        server.server_close()
    dy("rmi", "dy-cli-add")


def test_builder_prune_and_system_df(dy, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN head -c 100000 /dev/urandom > /blob\n")
    assert dy("build", str(tmp_path)).returncode == 0
    df = out(dy("system", "df"))
    cache_line = next(line for line in df.splitlines() if line.startswith("Build Cache"))
    assert cache_line.split()[2] != "0"
    r = dy("builder", "prune", "-f")
    assert r.returncode == 0 and "Total reclaimed space:" in out(r)
    assert "Total reclaimed space: 0B" not in out(r)  # the 100 kB layer went
    again = dy("build", str(tmp_path))
    assert "Using cache" not in out(again)
    dy("image", "prune", "-f")
    dy("builder", "prune", "-af")
