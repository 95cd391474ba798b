"""The guide's full-stack example (examples/fullstack) under ``dockyard compose``.

Real images this time: debian:bookworm from debootstrap, the python base, and
PostgreSQL, Redis, nginx and the Flask app built FROM them with apt and pip
(minutes the first time on a fresh machine, which is why this is one test
with one long timeout rather than many).  It checks what the issue asks:

- ``up -d --build --wait`` returns with all four services healthy, web
  having started only after db was healthy;
- a request through the proxy's published port reaches web, Redis and
  PostgreSQL; the proxy reaches web by name but cannot resolve db;
- the named volumes keep the data across ``down``/``up`` and are gone after
  ``down -v``;
- nothing of the project is left afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from datetime import datetime

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPOSE_FILE = os.path.join(REPO, "examples", "fullstack", "compose.yaml")
PROJECT = "dyt-fullstack"
PORT = 18180


def _time(text: str) -> datetime:
    """RFC 3339 with up to nanoseconds, as the API writes it."""
    text = text.replace("Z", "+00:00")
    main, _, rest = text.partition(".")
    if rest:
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits):]
        text = f"{main}.{digits[:6].ljust(6, '0')}{zone}"
    return datetime.fromisoformat(text)


def _health() -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.timeout(1500)
def test_fullstack_example(daemon):
    env = dict(os.environ, DOCKYARD_HOST=daemon.host, DOCKYARD=os.path.join(REPO, ".venv", "bin", "dockyard"),
               PROXY_PORT=str(PORT))
    bases = subprocess.run([os.path.join(REPO, "examples", "base-images", "build.sh"), "python"],
                           env=env, capture_output=True, timeout=1200)
    assert bases.returncode == 0, bases.stderr.decode()[-3000:]

    def compose(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([env["DOCKYARD"], "compose", "-f", COMPOSE_FILE, "-p", PROJECT, *args],
                              env=env, capture_output=True, timeout=timeout)

    def inspect(name: str) -> dict:
        return json.loads(daemon.cli("inspect", name, check=True).stdout)[0]

    try:
        up = compose("up", "-d", "--build", "--wait")
        assert up.returncode == 0, up.stderr.decode()[-3000:]
        for service in ("db", "cache", "web", "nginx"):
            state = inspect(f"{PROJECT}-{service}-1")["State"]
            assert state["Health"]["Status"] == "healthy", (service, state)
        # service_healthy: web was created only once db had passed a check.
        db = inspect(f"{PROJECT}-db-1")
        web = inspect(f"{PROJECT}-web-1")
        passed = [_time(e["End"]) for e in db["State"]["Health"]["Log"] if e["ExitCode"] == 0]
        assert passed and min(passed) < _time(web["Created"]), (passed, web["Created"])

        first = _health()
        assert first["status"] == "ok" and first["db_rows"] == 1 and first["cache_hits"] == 1, first

        reach = compose("exec", "-T", "nginx", "getent", "hosts", "web")
        assert reach.returncode == 0 and reach.stdout.strip(), reach.stderr
        isolated = compose("exec", "-T", "nginx", "getent", "hosts", "db")
        assert isolated.returncode != 0 and not isolated.stdout.strip()

        down = compose("down")
        assert down.returncode == 0, down.stderr.decode()
        assert not daemon.cli("ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}").stdout.strip()
        volumes = daemon.cli("volume", "ls", "-q").stdout.decode().split()
        assert f"{PROJECT}_db-data" in volumes and f"{PROJECT}_cache-data" in volumes

        up = compose("up", "-d", "--wait")
        assert up.returncode == 0, up.stderr.decode()[-3000:]
        again = _health()
        assert again["db_rows"] == 2 and again["cache_hits"] == 2, again

        down = compose("down", "-v")
        assert down.returncode == 0, down.stderr.decode()
        volumes = daemon.cli("volume", "ls", "-q").stdout.decode().split()
        assert not [v for v in volumes if v.startswith(f"{PROJECT}_")], volumes
        networks = daemon.cli("network", "ls", "--format", "{{.Name}}").stdout.decode().split()
        assert not [n for n in networks if n.startswith(f"{PROJECT}_")], networks

        up = compose("up", "-d", "--wait")
        assert up.returncode == 0, up.stderr.decode()[-3000:]
        fresh = _health()
        assert fresh["db_rows"] == 1 and fresh["cache_hits"] == 1, fresh
    finally:
        compose("down", "-v", "-t", "1")
    deadline = time.time() + 5
    while time.time() < deadline:
        try:
            _health()
        except OSError:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the proxy still answers after down -v")
