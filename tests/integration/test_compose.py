"""``dockyard compose`` end to end: the real daemon, busybox only.

Each test owns a project named ``dyt-…`` written to its tmp_path; the
``compose`` fixture takes every project down (``down -v``) afterwards and then
removes by label whatever a failed test or a broken ``down`` left, so nothing
survives a failure.  Host ports come from 18100-18199.

busybox's ``sleep`` and ``httpd`` as PID 1 ignore SIGTERM, so every stop and
down here passes ``-t 0``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import textwrap
import time
from datetime import datetime

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCKYARD = os.path.join(REPO, ".venv", "bin", "dockyard")

PROJECT = "com.docker.compose.project"


def out(r) -> str:
    return r.stdout.decode().strip()


def ok(r) -> str:
    assert r.returncode == 0, f"rc={r.returncode}\n{r.stdout.decode()}\n{r.stderr.decode()}"
    return out(r)


def when(text: str) -> float:
    """An RFC 3339 time with nanoseconds → epoch seconds."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text)
    assert m, text
    base = datetime.fromisoformat(m.group(1) + (m.group(3).replace("Z", "+00:00")))
    return base.timestamp() + float("0." + (m.group(2) or "0"))


class Project:
    """One compose project in a directory: write its file, run commands."""

    def __init__(self, daemon, directory, name: str):
        self.daemon = daemon
        self.dir = directory
        self.name = name
        self.file = str(directory / "compose.yaml")
        self.last_good: str | None = None

    def write(self, text: str, good: bool = True) -> None:
        text = textwrap.dedent(text)
        with open(self.file, "w") as f:
            f.write(text)
        if good:
            self.last_good = text

    def __call__(self, *args: str, env: dict | None = None, timeout: float = 90,
                 input: bytes = b"") -> subprocess.CompletedProcess:
        full_env = dict(os.environ, DOCKYARD_HOST=self.daemon.host, **(env or {}))
        return subprocess.run([DOCKYARD, "compose", "-f", self.file, "-p", self.name, *args],
                              cwd=self.dir, env=full_env, input=input, capture_output=True, timeout=timeout)

    def bare(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        """Without -f and -p: the file and the name are found from the directory."""
        full_env = dict(os.environ, DOCKYARD_HOST=self.daemon.host, **(env or {}))
        for key in ("COMPOSE_FILE", "COMPOSE_PROJECT_NAME"):
            full_env.pop(key, None)
        return subprocess.run([DOCKYARD, "compose", *args], cwd=self.dir, env=full_env,
                              input=b"", capture_output=True, timeout=90)

    def popen(self, *args: str) -> subprocess.Popen:
        env = dict(os.environ, DOCKYARD_HOST=self.daemon.host)
        return subprocess.Popen([DOCKYARD, "compose", "-f", self.file, "-p", self.name, *args],
                                cwd=self.dir, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    # -- what the daemon has, by label --------------------------------------------------

    def container_ids(self, *extra_labels: str) -> list[str]:
        filters = ["--filter", f"label={PROJECT}={self.name}"]
        for label in extra_labels:
            filters += ["--filter", f"label={label}"]
        return ok(self.daemon.cli("ps", "-aq", "--no-trunc", *filters)).split()

    def networks(self) -> list[str]:
        return ok(self.daemon.cli("network", "ls", "-q", "--filter", f"label={PROJECT}={self.name}")).split()

    def volumes(self) -> list[str]:
        return ok(self.daemon.cli("volume", "ls", "-q", "--filter", f"label={PROJECT}={self.name}")).split()

    def inspect(self, what: str) -> dict:
        return json.loads(ok(self.daemon.cli("inspect", what)))[0]

    def by_name(self) -> dict[str, dict]:
        """Every container of the project: name → inspect document."""
        docs = [self.inspect(cid) for cid in self.container_ids()]
        return {d["Name"].lstrip("/"): d for d in docs}

    def teardown(self) -> None:
        if self.last_good is not None:
            with open(self.file, "w") as f:
                f.write(self.last_good)
            self("down", "-v", "-t", "0", "--remove-orphans")
        # Whatever down missed (or a test broke): by label, so nothing is left behind.
        ids = self.container_ids()
        if ids:
            self.daemon.cli("rm", "-f", "-v", *ids)
        for net in self.networks():
            self.daemon.cli("network", "rm", net)
        for vol in self.volumes():
            self.daemon.cli("volume", "rm", "-f", vol)


@pytest.fixture
def compose(daemon, tmp_path):
    made: list[Project] = []

    def make(name: str, text: str | None = None) -> Project:
        directory = tmp_path / name
        directory.mkdir()
        p = Project(daemon, directory, name)
        if text is not None:
            p.write(text)
        made.append(p)
        return p

    yield make
    for p in made:
        p.teardown()


def assert_nothing_of(p: Project) -> None:
    assert p.container_ids() == [], "containers left"
    assert p.networks() == [], "networks left"


SLEEP = '["sleep", "300"]'
HTTPD = ('["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"]')


# -- up: order, health, labels, idempotence -----------------------------------------------------


def test_up_waits_for_healthy_dependency(compose):
    p = compose("dyt-health", f"""
        services:
          web:
            image: busybox
            command: {SLEEP}
            depends_on:
              db: {{condition: service_healthy}}
              cache: {{condition: service_started}}
          cache:
            image: busybox
            command: {SLEEP}
          db:
            image: busybox
            command: ["sh", "-c", "sleep 2; touch /tmp/ready; exec sleep 300"]
            healthcheck:
              test: ["CMD", "test", "-f", "/tmp/ready"]
              interval: 200ms
              timeout: 2s
              retries: 100
    """)
    began = time.time()
    r = p("up", "-d")
    ok(r)
    assert time.time() - began >= 1.8  # it waited for the health check
    c = p.by_name()
    assert sorted(c) == ["dyt-health-cache-1", "dyt-health-db-1", "dyt-health-web-1"]
    db, web, cache = c["dyt-health-db-1"], c["dyt-health-web-1"], c["dyt-health-cache-1"]
    assert db["State"]["Health"]["Status"] == "healthy"
    first_healthy = min(when(e["End"]) for e in db["State"]["Health"]["Log"] if e["ExitCode"] == 0)
    # web was created (and started) only after db's first passing probe.
    assert when(web["Created"]) >= first_healthy - 0.05, (web["Created"], db["State"]["Health"]["Log"])
    assert when(web["State"]["StartedAt"]) >= first_healthy
    assert when(web["State"]["StartedAt"]) - when(db["State"]["StartedAt"]) >= 1.8
    assert when(cache["State"]["StartedAt"]) <= when(web["State"]["StartedAt"])
    assert web["State"]["Running"] and cache["State"]["Running"]
    # The progress shows db healthy before web starts.
    err = r.stderr.decode()
    assert err.index("dyt-health-db-1") < err.index("Healthy") < err.rindex("dyt-health-web-1")


def test_unhealthy_dependency_fails_up(compose):
    p = compose("dyt-unhealthy", f"""
        services:
          web: {{image: busybox, command: {SLEEP}, depends_on: {{db: {{condition: service_healthy}}}}}}
          db:
            image: busybox
            command: {SLEEP}
            healthcheck: {{test: ["CMD", "false"], interval: 100ms, retries: 2}}
    """)
    r = p("up", "-d", timeout=60)
    assert r.returncode != 0
    assert "dyt-unhealthy-db-1 is unhealthy" in r.stderr.decode(), r.stderr.decode()
    assert "dyt-unhealthy-web-1" not in p.by_name()


def test_labels_on_containers_networks_volumes(compose):
    p = compose("dyt-labels", f"""
        services:
          app:
            image: busybox
            command: {SLEEP}
            labels: {{mine: "1"}}
            volumes: ["data:/data"]
            networks: [default, back]
        networks:
          back: {{}}
        volumes:
          data: {{}}
    """)
    ok(p("up", "-d"))
    doc = p.by_name()["dyt-labels-app-1"]
    labels = doc["Config"]["Labels"]
    expected_hash = ok(p("config", "--hash", "app")).split()[1]
    assert labels["mine"] == "1"
    assert labels[PROJECT] == "dyt-labels"
    assert labels["com.docker.compose.service"] == "app"
    assert labels["com.docker.compose.container-number"] == "1"
    assert labels["com.docker.compose.oneoff"] == "False"
    assert labels["com.docker.compose.config-hash"] == expected_hash and len(expected_hash) == 64
    assert labels["com.docker.compose.project.config_files"] == p.file
    assert labels["com.docker.compose.project.working_dir"] == str(p.dir)
    assert sorted(doc["NetworkSettings"]["Networks"]) == ["dyt-labels_back", "dyt-labels_default"]
    for key in ("default", "back"):
        net = json.loads(ok(p.daemon.cli("network", "inspect", f"dyt-labels_{key}")))[0]
        assert net["Labels"][PROJECT] == "dyt-labels"
        assert net["Labels"]["com.docker.compose.network"] == key
    vol = json.loads(ok(p.daemon.cli("volume", "inspect", "dyt-labels_data")))[0]
    assert vol["Labels"][PROJECT] == "dyt-labels"
    assert vol["Labels"]["com.docker.compose.volume"] == "data"
    assert [m["Name"] for m in doc["Mounts"] if m["Destination"] == "/data"] == ["dyt-labels_data"]
    listing = [line.split() for line in ok(p("ls")).splitlines()]
    assert listing[0] == ["NAME", "STATUS", "CONFIG", "FILES"]
    assert ["dyt-labels", "running(1)", p.file] in listing
    assert "dyt-labels" in ok(p("ls", "-q")).split()


def test_up_twice_changes_nothing(compose):
    p = compose("dyt-idem", f"""
        services:
          a: {{image: busybox, command: {SLEEP}}}
          b: {{image: busybox, command: {SLEEP}, depends_on: [a]}}
    """)
    ok(p("up", "-d"))
    before = {n: (d["Id"], d["State"]["StartedAt"]) for n, d in p.by_name().items()}
    assert len(before) == 2
    r = p("up", "-d")
    ok(r)
    after = {n: (d["Id"], d["State"]["StartedAt"]) for n, d in p.by_name().items()}
    assert after == before
    assert "Recreate" not in r.stderr.decode() and "Creat" not in r.stderr.decode()


def test_changed_environment_recreates_only_that_service(compose):
    p = compose("dyt-recreate", f"""
        services:
          web:
            image: busybox
            command: {SLEEP}
            environment: {{VAL: "${{WEB_VAL}}"}}
          db:
            image: busybox
            command: {SLEEP}
    """)
    ok(p("up", "-d", env={"WEB_VAL": "one"}))
    before = {n: d["Id"] for n, d in p.by_name().items()}
    assert "VAL=one" in p.inspect("dyt-recreate-web-1")["Config"]["Env"]
    ok(p("up", "-d", "-t", "0", env={"WEB_VAL": "two"}))
    after = {n: d["Id"] for n, d in p.by_name().items()}
    assert sorted(after) == ["dyt-recreate-db-1", "dyt-recreate-web-1"]  # no renamed leftovers
    assert after["dyt-recreate-db-1"] == before["dyt-recreate-db-1"]
    assert after["dyt-recreate-web-1"] != before["dyt-recreate-web-1"]
    web = p.inspect("dyt-recreate-web-1")
    assert "VAL=two" in web["Config"]["Env"] and web["State"]["Running"]
    assert ok(p("exec", "-T", "web", "sh", "-c", "echo $VAL")) == "two"


def test_stopped_started_force_and_no_recreate(compose):
    p = compose("dyt-conv", f"""
        services:
          a: {{image: busybox, command: {SLEEP}, environment: {{V: "${{V}}"}}}}
    """)
    ok(p("up", "-d", env={"V": "1"}))
    first = p.inspect("dyt-conv-a-1")["Id"]
    ok(p("stop", "-t", "0"))
    assert not p.inspect(first)["State"]["Running"]
    ok(p("up", "-d", env={"V": "1"}))
    doc = p.inspect("dyt-conv-a-1")
    assert doc["Id"] == first and doc["State"]["Running"]  # started, not recreated
    ok(p("up", "-d", "--force-recreate", "-t", "0", env={"V": "1"}))
    forced = p.inspect("dyt-conv-a-1")
    assert forced["Id"] != first and forced["State"]["Running"]
    ok(p("up", "-d", "--no-recreate", env={"V": "2"}))
    kept = p.inspect("dyt-conv-a-1")
    assert kept["Id"] == forced["Id"] and "V=1" in kept["Config"]["Env"]
    r = p("up", "-d", "--no-recreate", "--force-recreate", env={"V": "2"})
    assert r.returncode != 0 and "incompatible" in r.stderr.decode()


def test_recreate_keeps_anonymous_volume(compose):
    p = compose("dyt-anon", f"""
        services:
          a: {{image: busybox, command: {SLEEP}, volumes: ["/anon"], environment: {{V: "${{V}}"}}}}
    """)
    ok(p("up", "-d", env={"V": "1"}))
    old = p.inspect("dyt-anon-a-1")
    ok(p("exec", "-T", "a", "sh", "-c", "echo mine > /anon/f"))
    ok(p("up", "-d", "-t", "0", env={"V": "2"}))
    new = p.inspect("dyt-anon-a-1")
    assert new["Id"] != old["Id"]
    volume = [m["Name"] for m in old["Mounts"] if m["Destination"] == "/anon"]
    assert [m["Name"] for m in new["Mounts"] if m["Destination"] == "/anon"] == volume
    assert ok(p("exec", "-T", "a", "cat", "/anon/f")) == "mine"
    ok(p("down", "-v", "-t", "0"))
    # Mounted by name, rm -v alone would keep it (moby's rule for a mount with
    # a source): down -v removes it itself.
    assert volume[0] not in p.daemon.cli("volume", "ls", "-q").stdout.decode().split()


def test_renew_anon_volumes(compose):
    p = compose("dyt-renew", f"""
        services:
          a: {{image: busybox, command: {SLEEP}, volumes: ["/anon"]}}
    """)
    ok(p("up", "-d"))
    ok(p("exec", "-T", "a", "sh", "-c", "echo mine > /anon/f"))
    ok(p("up", "-d", "-t", "0", "--force-recreate", "-V"))
    assert p("exec", "-T", "a", "cat", "/anon/f").returncode != 0  # a fresh anonymous volume


def test_service_selection_and_no_deps(compose):
    p = compose("dyt-select", f"""
        services:
          web: {{image: busybox, command: {SLEEP}, depends_on: [db]}}
          db: {{image: busybox, command: {SLEEP}}}
          other: {{image: busybox, command: {SLEEP}}}
    """)
    ok(p("up", "-d", "web"))
    assert sorted(p.by_name()) == ["dyt-select-db-1", "dyt-select-web-1"]
    ok(p("down", "-t", "0"))
    ok(p("up", "-d", "--no-deps", "web"))
    assert sorted(p.by_name()) == ["dyt-select-web-1"]
    r = p("up", "-d", "nope")
    assert r.returncode != 0 and "no such service: nope" in r.stderr.decode()


def test_depends_on_completed_successfully(compose):
    p = compose("dyt-done", f"""
        services:
          migrate: {{image: busybox, command: ["sh", "-c", "sleep 1; exit ${{CODE:-0}}"]}}
          app:
            image: busybox
            command: {SLEEP}
            depends_on: {{migrate: {{condition: service_completed_successfully}}}}
    """)
    ok(p("up", "-d"))
    c = p.by_name()
    migrate, app = c["dyt-done-migrate-1"]["State"], c["dyt-done-app-1"]["State"]
    assert migrate["Status"] == "exited" and migrate["ExitCode"] == 0
    assert app["Running"] and when(app["StartedAt"]) >= when(migrate["FinishedAt"])
    ok(p("down", "-t", "0"))
    r = p("up", "-d", env={"CODE": "3"})
    assert r.returncode != 0
    assert "didn't complete successfully: exit 3" in r.stderr.decode(), r.stderr.decode()
    assert "dyt-done-app-1" not in p.by_name()


def test_dependency_restart_true_restarts_dependent(compose):
    p = compose("dyt-deprestart", f"""
        services:
          db: {{image: busybox, command: {SLEEP}, environment: {{V: "${{V}}"}}}}
          web:
            image: busybox
            command: {SLEEP}
            depends_on: {{db: {{condition: service_started, restart: true}}}}
          other:
            image: busybox
            command: {SLEEP}
            depends_on: [db]
    """)
    ok(p("up", "-d", env={"V": "1"}))
    before = {n: (d["Id"], d["State"]["StartedAt"]) for n, d in p.by_name().items()}
    ok(p("up", "-d", "-t", "0", env={"V": "2"}))
    after = {n: (d["Id"], d["State"]["StartedAt"]) for n, d in p.by_name().items()}
    assert after["dyt-deprestart-db-1"][0] != before["dyt-deprestart-db-1"][0]
    web_before, web_after = before["dyt-deprestart-web-1"], after["dyt-deprestart-web-1"]
    assert web_after[0] == web_before[0] and web_after[1] != web_before[1]  # restarted, same container
    assert after["dyt-deprestart-other-1"] == before["dyt-deprestart-other-1"]  # restart: false


def test_up_wait_exec_index_logs_tail(compose):
    p = compose("dyt-wait", """
        services:
          app:
            image: busybox
            command: ["sh", "-c", "echo l1; echo l2; echo l3; sleep 1; touch /tmp/ok; exec sleep 300"]
            healthcheck: {test: ["CMD", "test", "-f", "/tmp/ok"], interval: 200ms, retries: 100}
    """)
    ok(p("up", "-d", "--wait", "--scale", "app=2"))
    c = p.by_name()
    assert sorted(c) == ["dyt-wait-app-1", "dyt-wait-app-2"]
    assert all(d["State"]["Health"]["Status"] == "healthy" for d in c.values())
    assert ok(p("exec", "-T", "--index", "2", "app", "hostname")) == c["dyt-wait-app-2"]["Config"]["Hostname"]
    assert ok(p("exec", "-T", "app", "hostname")) == c["dyt-wait-app-1"]["Config"]["Hostname"]
    tail = ok(p("logs", "--tail", "1", "--index", "2", "app")).splitlines()
    assert tail == ["dyt-wait-app-2 | l3"], tail


# -- scale ------------------------------------------------------------------------------------


def test_scale_up_resolves_every_replica_and_scale_down(compose):
    p = compose("dyt-scale", f"""
        services:
          web:
            image: busybox
            command: {HTTPD}
          client:
            image: busybox
            command: {SLEEP}
    """)
    ok(p("up", "-d", "--scale", "web=3"))
    c = p.by_name()
    names = [f"dyt-scale-web-{i}" for i in (1, 2, 3)]
    assert sorted(c) == ["dyt-scale-client-1", *names]
    for i, n in enumerate(names, 1):
        assert c[n]["Config"]["Labels"]["com.docker.compose.container-number"] == str(i)
        assert c[n]["State"]["Running"]
    ips = {c[n]["NetworkSettings"]["Networks"]["dyt-scale_default"]["IPAddress"] for n in names}
    assert len(ips) == 3
    looked_up = ok(p("exec", "-T", "client", "nslookup", "web"))
    answers = set(re.findall(r"Address(?: \d+)?:\s*(\d+\.\d+\.\d+\.\d+)", looked_up.split("Name:", 1)[-1]))
    assert answers == ips, looked_up
    # Every replica serves its own hostname; each answers from the client.
    # (This busybox's wget -T crashes; timeout(1) bounds it instead.)
    hostnames = {c[n]["Config"]["Hostname"] for n in names}
    served = set()
    for ip in sorted(ips):
        served.add(ok(p("exec", "-T", "client", "sh", "-c",
                        f"for i in $(seq 50); do timeout 2 wget -qO- http://{ip}/ && exit 0; sleep 0.1; done; exit 1")))
    assert served == hostnames
    # By the service name, each request reaches a replica.  (The C library
    # sorts the addresses, so wget alone would not show the spread; the DNS
    # answer's order does.)
    by_name = ok(p("exec", "-T", "client", "sh", "-c",
                   "for i in $(seq 5); do timeout 2 wget -qO- http://web/; done")).split()
    assert len(by_name) == 5 and set(by_name) <= hostnames, by_name
    firsts = ok(p("exec", "-T", "client", "sh", "-c",
                  "for i in $(seq 12); do nslookup web | sed -n '/^Name:/,$p' | "
                  "grep -m1 -o '[0-9]*\\.[0-9]*\\.[0-9]*\\.[0-9]*'; done")).split()
    assert len(firsts) == 12 and set(firsts) <= ips, firsts
    assert len(set(firsts)) >= 2, f"the DNS answer for a scaled service is not rotated: {firsts}"
    ok(p("up", "-d", "-t", "0", "--scale", "web=1"))
    after = p.by_name()
    assert sorted(after) == ["dyt-scale-client-1", "dyt-scale-web-1"]
    assert after["dyt-scale-web-1"]["Id"] == c["dyt-scale-web-1"]["Id"]
    assert ok(p("ps", "--services")).split() == ["client", "web"]
    # Each replica also answers to its container name.
    looked_up = ok(p("exec", "-T", "client", "nslookup", "dyt-scale-web-1"))
    ip1 = after["dyt-scale-web-1"]["NetworkSettings"]["Networks"]["dyt-scale_default"]["IPAddress"]
    assert ip1 in looked_up.split("Name:", 1)[-1], looked_up
    assert p("exec", "-T", "client", "nslookup", "dyt-scale-web-3").returncode != 0  # gone with it


# -- volumes ----------------------------------------------------------------------------------


def test_named_volume_survives_down_and_goes_with_down_v(compose):
    p = compose("dyt-vol", f"""
        services:
          app:
            image: busybox
            command: {SLEEP}
            volumes: ["data:/data"]
        volumes:
          data: {{}}
    """)
    ok(p("up", "-d"))
    ok(p("exec", "-T", "app", "sh", "-c", "echo kept > /data/f"))
    ok(p("down", "-t", "0"))
    assert p.container_ids() == [] and p.networks() == []
    assert p.volumes() == ["dyt-vol_data"]
    ok(p("up", "-d"))
    assert ok(p("exec", "-T", "app", "cat", "/data/f")) == "kept"
    ok(p("down", "-v", "-t", "0"))
    assert p.volumes() == []
    assert p.daemon.cli("volume", "inspect", "dyt-vol_data").returncode != 0


# -- logs -------------------------------------------------------------------------------------


def test_logs_prefix_and_follow(compose):
    p = compose("dyt-logs", """
        services:
          talker:
            image: busybox
            command: ["sh", "-c", "echo first; sleep 3; echo later; sleep 1; echo last"]
          quiet:
            image: busybox
            command: ["sh", "-c", "echo q-line; exec sleep 300"]
    """)
    ok(p("up", "-d"))
    deadline = time.time() + 5
    while True:
        text = ok(p("logs"))
        if "first" in text and "q-line" in text or time.time() > deadline:
            break
        time.sleep(0.1)
    lines = text.splitlines()
    # Names padded to the longest: "dyt-logs-talker-1" is the longer.
    assert "dyt-logs-talker-1 | first" in lines, text
    assert "dyt-logs-quiet-1  | q-line" in lines, text
    assert ok(p("logs", "--no-log-prefix", "quiet")) == "q-line"
    follower = p.popen("logs", "-f", "talker")
    try:
        time.sleep(1)
        assert follower.poll() is None, "logs -f ended while the container runs"
        stdout, stderr = follower.communicate(timeout=20)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert follower.returncode == 0, stderr.decode()
    followed = stdout.decode().splitlines()
    assert followed[:3] == ["dyt-logs-talker-1 | first", "dyt-logs-talker-1 | later",
                            "dyt-logs-talker-1 | last"], followed
    assert p.inspect("dyt-logs-talker-1")["State"]["Status"] == "exited"


# -- exec and run -----------------------------------------------------------------------------


def test_exec_and_run(compose):
    p = compose("dyt-exec", f"""
        services:
          app:
            image: busybox
            command: {SLEEP}
            environment: {{FROM_FILE: "f"}}
            working_dir: /tmp
    """)
    ok(p("up", "-d"))
    r = p("exec", "-T", "app", "sh", "-c", "echo out-$FROM_FILE-$(pwd); echo err >&2; exit 3")
    assert r.returncode == 3
    assert out(r) == "out-f-/tmp" and r.stderr.decode().strip() == "err"
    assert ok(p("exec", "-T", "-e", "X=y", "-w", "/", "app", "sh", "-c", "echo $X$(pwd)")) == "y/"
    r = p("exec", "-T", "nope", "true")
    assert r.returncode != 0 and "nope" in r.stderr.decode()
    before = set(p.container_ids())
    r = p("run", "--rm", "-T", "app", "echo", "x")
    assert ok(r) == "x"
    assert set(p.container_ids()) == before  # --rm left nothing
    assert p.container_ids("com.docker.compose.oneoff=True") == []
    r = p("run", "--rm", "-T", "app", "sh", "-c", "echo $FROM_FILE; exit 4")
    assert r.returncode == 4 and out(r) == "f"
    # Without --rm the one-off stays, labelled as one, and ps -a shows it.
    r = p("run", "-T", "app", "true")
    ok(r)
    oneoff = p.container_ids("com.docker.compose.oneoff=True")
    assert len(oneoff) == 1
    doc = p.inspect(oneoff[0])
    assert doc["Name"].startswith("/dyt-exec-app-run-")
    assert doc["Config"]["Labels"]["com.docker.compose.service"] == "app"
    assert doc["Name"].lstrip("/") in ok(p("ps", "-a"))
    assert doc["Name"].lstrip("/") not in ok(p("ps"))
    ok(p("down", "-t", "0"))
    assert p.container_ids() == []  # down takes the one-off containers too


# -- the lifecycle commands -------------------------------------------------------------------


def test_lifecycle_commands(compose):
    p = compose("dyt-life", f"""
        services:
          web:
            image: busybox
            command: {HTTPD}
            ports: ["18121:80"]
            stop_grace_period: 1s
          worker:
            image: busybox
            command: {SLEEP}
    """)
    ok(p("up", "-d"))
    web, worker = "dyt-life-web-1", "dyt-life-worker-1"

    def state(name):
        return p.inspect(name)["State"]

    ok(p("pause", "worker"))
    assert state(worker)["Paused"] and state(worker)["Status"] == "paused"
    assert not state(web)["Paused"]
    ok(p("unpause"))
    assert not state(worker)["Paused"] and state(worker)["Running"]

    ok(p("stop", "-t", "0", "worker"))
    assert not state(worker)["Running"] and state(web)["Running"]
    assert ok(p("ps", "--services")).split() == ["web"]
    assert ok(p("ps", "-a", "--services")).split() == ["web", "worker"]
    ok(p("start", "worker"))
    assert state(worker)["Running"]

    started = state(worker)["StartedAt"]
    ok(p("restart", "-t", "0", "worker"))
    assert state(worker)["Running"] and state(worker)["StartedAt"] != started

    ok(p("kill", "worker"))
    s = state(worker)
    assert not s["Running"] and s["ExitCode"] == 137

    assert ok(p("ps", "-q")).split() == [p.inspect(web)["Id"]]  # full ids, as docker compose prints
    assert len(ok(p("ps", "-a", "-q")).split()) == 2

    top = ok(p("top", "web"))
    assert top.splitlines()[0] == web and "httpd" in top

    assert ok(p("port", "web", "80")) == "0.0.0.0:18121"
    assert p("port", "web", "81").returncode != 0
    assert _http("127.0.0.1", 18121) == p.inspect(web)["Config"]["Hostname"]

    images = ok(p("images"))
    rows = [line.split() for line in images.splitlines()]
    assert rows[0][:3] == ["CONTAINER", "REPOSITORY", "TAG"]
    assert sorted(r[0] for r in rows[1:]) == [web, worker]
    assert all(r[1] == "busybox" for r in rows[1:])
    assert len(ok(p("images", "-q")).split()) == 1

    table = ok(p("ps")).splitlines()
    assert re.split(r"\s{2,}", table[0]) == ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"]
    assert len(table) == 2 and table[1].startswith(web + " ")
    assert "0.0.0.0:18121->80/tcp" in table[1] and " web " in table[1], table
    ps = [json.loads(line) for line in ok(p("ps", "-a", "--format", "json")).splitlines()]  # JSON lines
    assert {row["Service"]: row["State"] for row in ps} == {"web": "running", "worker": "exited"}
    assert {row["Service"]: row["ExitCode"] for row in ps}["worker"] == 137
    assert not any("…" in row["Command"] for row in ps)

    ok(p("rm", "-f", "worker"))
    assert sorted(p.by_name()) == [web]
    began = time.time()
    ok(p("rm", "-f", "-s", "web"))  # stops first, within the service's stop_grace_period
    assert time.time() - began < 6
    assert p.container_ids() == []


def test_commands_on_stopped_paused_and_missing_containers(compose):
    p = compose("dyt-states", f"""
        services:
          a: {{image: busybox, command: {SLEEP}}}
          b: {{image: busybox, command: {SLEEP}}}
    """)
    r = p("start")
    assert r.returncode != 0 and "no containers to start" in r.stderr.decode()
    r = p("exec", "-T", "a", "true")
    assert r.returncode != 0 and "not running" in r.stderr.decode()
    ok(p("up", "-d"))
    ok(p("stop", "-t", "0", "b"))
    r = p("exec", "-T", "b", "true")
    assert r.returncode != 0 and "not running" in r.stderr.decode()
    ok(p("pause", "a"))
    assert p.inspect("dyt-states-a-1")["State"]["Paused"]
    # down takes paused and stopped containers alike.
    ok(p("down", "-t", "0"))
    assert_nothing_of(p)


def _http(host: str, port: int, timeout: float = 5.0) -> str:
    deadline = time.time() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            return data.split(b"\r\n\r\n", 1)[-1].decode().strip()
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def test_config_output(compose):
    p = compose("dyt-config", """
        services:
          web:
            image: "busybox:${TAG:-latest}"
            ports: ["18130:80"]
            depends_on: [db]
          db:
            image: busybox
        volumes:
          data: {}
    """)
    assert sorted(ok(p("config", "--services")).split()) == ["db", "web"]
    assert ok(p("config", "--volumes")).split() == ["data"]
    import yaml

    doc = yaml.safe_load(ok(p("config", env={"TAG": "1.36"})))
    assert doc["name"] == "dyt-config"
    assert doc["services"]["web"]["image"] == "busybox:1.36"
    assert doc["services"]["web"]["ports"] == [{"target": 80, "published": "18130", "protocol": "tcp"}]
    assert doc["services"]["web"]["depends_on"] == {"db": {"condition": "service_started", "restart": False}}
    assert doc["networks"] == {"default": {"name": "dyt-config_default"}}
    assert doc["volumes"] == {"data": {"name": "dyt-config_data"}}
    assert json.loads(ok(p("config", "--format", "json")))["services"]["db"]["image"] == "busybox"
    assert p.container_ids() == [] and p.networks() == []  # config makes nothing


def test_config_services_in_dependency_order(compose):
    p = compose("dyt-config-order", """
        services:
          web: {image: busybox, depends_on: [db]}
          db: {image: busybox}
    """)
    assert ok(p("config", "--services")).split() == ["db", "web"]
    assert [line.split()[0] for line in ok(p("config", "--hash", "*")).splitlines()] == ["db", "web"]


def test_project_found_from_directory_dotenv_and_env_file(compose):
    p = compose("dyt-dir", f"""
        services:
          app:
            image: busybox
            command: {SLEEP}
            environment: {{FROM_DOTENV: "${{DOTENV_VAL}}", FROM_FILE: "${{FILE_VAL:-unset}}"}}
    """)
    (p.dir / ".env").write_text("DOTENV_VAL=dot\n")
    (p.dir / "other.env").write_text("FILE_VAL=given\nDOTENV_VAL=overridden\n")
    ok(p.bare("up", "-d"))
    doc = p.inspect("dyt-dir-app-1")  # the directory's name is the project's
    assert doc["Config"]["Labels"][PROJECT] == "dyt-dir"
    assert "FROM_DOTENV=dot" in doc["Config"]["Env"] and "FROM_FILE=unset" in doc["Config"]["Env"]
    config = ok(p.bare("--env-file", "other.env", "config", "--format", "json"))
    env = json.loads(config)["services"]["app"]["environment"]
    assert env == {"FROM_DOTENV": "overridden", "FROM_FILE": "given"}
    assert ok(p.bare("ps", "--services")) == "app"
    ok(p.bare("down", "-t", "0"))
    assert p.container_ids() == []


# -- attached up --------------------------------------------------------------------------------


def test_attached_up_prints_prefixed_output_and_returns(compose):
    p = compose("dyt-att", """
        services:
          one: {image: busybox, command: ["sh", "-c", "echo hello-one; echo again-one"]}
          two: {image: busybox, command: ["sh", "-c", "sleep 0.5; echo hello-two"]}
    """)
    r = p("up", timeout=60)
    text = ok(r)
    lines = text.splitlines()
    assert "dyt-att-one-1 | hello-one" in lines, text
    assert "dyt-att-one-1 | again-one" in lines, text
    assert "dyt-att-two-1 | hello-two" in lines, text
    assert "dyt-att-one-1 exited with code 0" in lines and "dyt-att-two-1 exited with code 0" in lines
    assert lines.index("dyt-att-one-1 | hello-one") < lines.index("dyt-att-one-1 | again-one")
    assert all(not d["State"]["Running"] for d in p.by_name().values())


def test_attached_up_interrupted_stops_containers(compose):
    p = compose("dyt-int", """
        services:
          a: {image: busybox, command: ["sh", "-c", "echo ready; exec sleep 300"]}
    """)
    proc = p.popen("up", "-t", "0")
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            ids = p.container_ids()
            if ids and p.inspect(ids[0])["State"]["Running"]:
                break
            time.sleep(0.1)
        assert proc.poll() is None
        time.sleep(0.5)
        proc.send_signal(2)  # Ctrl-C
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (stdout + stderr).decode()
    assert "dyt-int-a-1 | ready" in stdout.decode().splitlines()
    assert not p.inspect("dyt-int-a-1")["State"]["Running"]  # stopped, not removed


def test_abort_on_container_exit_returns_its_code(compose):
    p = compose("dyt-abort", f"""
        services:
          quick: {{image: busybox, command: ["sh", "-c", "sleep 0.5; echo bye; exit 7"]}}
          slow: {{image: busybox, command: {SLEEP}}}
    """)
    began = time.time()
    r = p("up", "--exit-code-from", "quick", "-t", "0", timeout=60)
    assert r.returncode == 7, (r.stdout + r.stderr).decode()
    assert time.time() - began < 30
    assert "dyt-abort-quick-1 | bye" in out(r).splitlines()
    c = p.by_name()
    assert not c["dyt-abort-slow-1"]["State"]["Running"]  # stopped on the abort
    assert c["dyt-abort-quick-1"]["State"]["ExitCode"] == 7
    r = p("up", "-d", "--abort-on-container-exit")
    assert r.returncode != 0 and "incompatible" in r.stderr.decode()


# -- bad input ------------------------------------------------------------------------------------


def test_invalid_yaml_reports_file_and_line(compose):
    p = compose("dyt-badyaml")
    p.write("services:\n  a:\n    image: busybox\n    command: [unclosed\n  b:\n", good=False)
    r = p("up", "-d")
    assert r.returncode != 0
    err = r.stderr.decode()
    assert re.search(rf"{re.escape(p.file)}:\d+", err), err
    assert_nothing_of(p)


@pytest.mark.parametrize("text, message", [
    ("""
        services:
          a: {image: busybox, depends_on: [b]}
          b: {image: busybox, depends_on: [a]}
     """, "cycle"),
    ("""
        services:
          a: {image: "busybox:${MISSING_TAG:?set MISSING_TAG please}"}
     """, "set MISSING_TAG please"),
    ("""
        services:
          a: {image: busybox, networks: [nowhere]}
     """, "nowhere"),
    ("""
        services:
          a: {image: busybox, volumes: ["nodata:/data"]}
     """, "nodata"),
])
def test_bad_model_fails_and_makes_nothing(compose, text, message):
    p = compose("dyt-badmodel")
    p.write(text, good=False)
    r = p("up", "-d")
    assert r.returncode != 0
    assert message in r.stderr.decode(), r.stderr.decode()
    assert "Traceback" not in r.stderr.decode()
    assert_nothing_of(p)


def test_container_name_with_scale_is_refused(compose):
    p = compose("dyt-cname", f"""
        services:
          a: {{image: busybox, command: {SLEEP}, container_name: dyt-cname-fixed}}
    """)
    r = p("up", "-d", "--scale", "a=2")
    assert r.returncode != 0 and "container_name" in r.stderr.decode(), r.stderr.decode()
    assert_nothing_of(p)
    ok(p("up", "-d"))
    assert sorted(p.by_name()) == ["dyt-cname-fixed"]
    assert ok(p("exec", "-T", "a", "echo", "in-fixed")) == "in-fixed"


def test_recreate_keeps_its_published_port(compose):
    p = compose("dyt-repub", f"""
        services:
          web:
            image: busybox
            command: {HTTPD}
            ports: ["18140:80"]
            environment: {{V: "${{V}}"}}
    """)
    ok(p("up", "-d", env={"V": "1"}))
    first = p.inspect("dyt-repub-web-1")
    assert _http("127.0.0.1", 18140) == first["Config"]["Hostname"]
    # The port is the project's own: up replaces the container instead of refusing.
    ok(p("up", "-d", "-t", "0", env={"V": "2"}))
    second = p.inspect("dyt-repub-web-1")
    assert second["Id"] != first["Id"]
    assert _http("127.0.0.1", 18140) == second["Config"]["Hostname"]


def test_port_taken_fails_before_anything_is_made(compose):
    p = compose("dyt-port", f"""
        services:
          first: {{image: busybox, command: {SLEEP}}}
          web:
            image: busybox
            command: {SLEEP}
            ports: ["18150:80"]
            depends_on: [first]
    """)
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 18150))
        holder.listen()
        r = p("up", "-d")
        assert r.returncode != 0
        err = r.stderr.decode()
        assert "18150" in err and "already allocated" in err, err
        assert "Traceback" not in err
        assert_nothing_of(p)
    finally:
        holder.close()
    ok(p("up", "-d"))  # once freed, it works
    assert p.inspect("dyt-port-web-1")["State"]["Running"]


def test_external_network(compose):
    p = compose("dyt-ext", f"""
        services:
          a: {{image: busybox, command: {SLEEP}, networks: [outside]}}
        networks:
          outside: {{external: true, name: dyt-ext-net}}
    """)
    r = p("up", "-d")
    assert r.returncode != 0
    assert "dyt-ext-net declared as external, but could not be found" in r.stderr.decode(), r.stderr.decode()
    assert_nothing_of(p)
    ok(p.daemon.cli("network", "create", "dyt-ext-net"))
    try:
        ok(p("up", "-d"))
        assert list(p.inspect("dyt-ext-a-1")["NetworkSettings"]["Networks"]) == ["dyt-ext-net"]
        ok(p("down", "-t", "0"))
        assert p.container_ids() == []
        ok(p.daemon.cli("network", "inspect", "dyt-ext-net"))  # not the project's to remove
    finally:
        p("down", "-t", "0")
        p.daemon.cli("network", "rm", "dyt-ext-net")


def test_existing_unlabelled_network_is_a_conflict(compose):
    p = compose("dyt-netconf", f"""
        services:
          a: {{image: busybox, command: {SLEEP}}}
    """)
    ok(p.daemon.cli("network", "create", "dyt-netconf_default"))
    try:
        r = p("up", "-d")
        assert r.returncode != 0
        assert "dyt-netconf_default" in r.stderr.decode() and "label" in r.stderr.decode(), r.stderr.decode()
        assert p.container_ids() == []
    finally:
        p.daemon.cli("network", "rm", "dyt-netconf_default")


def test_port_held_by_another_project_fails_before_anything_is_made(compose):
    text = f"""
        services:
          web: {{image: busybox, command: {SLEEP}, ports: ["18152:80"]}}
    """
    first = compose("dyt-porta", text)
    ok(first("up", "-d"))
    second = compose("dyt-portb", text)
    r = second("up", "-d")
    assert r.returncode != 0
    assert "18152" in r.stderr.decode() and "Traceback" not in r.stderr.decode(), r.stderr.decode()
    assert_nothing_of(second)
    assert first.inspect("dyt-porta-web-1")["State"]["Running"]


# -- orphans ------------------------------------------------------------------------------------


def test_orphans_warned_and_removed(compose):
    both = f"""
        services:
          keep: {{image: busybox, command: {SLEEP}}}
          gone: {{image: busybox, command: {SLEEP}}}
    """
    p = compose("dyt-orphan", both)
    ok(p("up", "-d"))
    gone_id = p.inspect("dyt-orphan-gone-1")["Id"]
    p.write(f"""
        services:
          keep: {{image: busybox, command: {SLEEP}}}
    """)
    r = p("up", "-d")
    ok(r)
    assert "orphan" in r.stderr.decode() and "dyt-orphan-gone-1" in r.stderr.decode(), r.stderr.decode()
    assert p.inspect("dyt-orphan-gone-1")["Id"] == gone_id  # warned, not removed
    assert ok(p("ps", "--services", "--orphans=false")) == "keep"
    ok(p("down", "-t", "0", "--remove-orphans"))
    assert p.container_ids() == []
    assert p.networks() == []


def test_run_starts_dependencies(compose):
    p = compose("dyt-rundeps", f"""
        services:
          db: {{image: busybox, command: {HTTPD}}}
          app: {{image: busybox, depends_on: [db]}}
    """)
    r = p("run", "--rm", "-T", "app", "sh", "-c",
          "for i in $(seq 50); do timeout 2 wget -qO- http://db/ && exit 0; sleep 0.1; done; exit 1")
    db = p.inspect("dyt-rundeps-db-1")
    assert ok(r) == db["Config"]["Hostname"]
    assert sorted(p.by_name()) == ["dyt-rundeps-db-1"]
    r = p("run", "--rm", "--no-deps", "-T", "app", "sh", "-c", "nslookup app; nslookup db")
    # A one-off container is not the service's name; the other services are.
    text = (r.stdout + r.stderr).decode()
    assert "can't find app" in text and "can't find db" not in text, text
    ok(p("stop", "-t", "0"))
    assert ok(p("ps", "--status", "exited", "--services")) == "db"
    assert ok(p("ps", "--services")) == ""
    r = p("rm")  # asks, and stdin says nothing: nothing removed
    assert r.returncode == 0 and "Going to remove dyt-rundeps-db-1" in r.stderr.decode()
    assert sorted(p.by_name()) == ["dyt-rundeps-db-1"]
    ok(p("rm", "-f"))
    assert p.container_ids() == []


def test_down_without_remove_orphans_leaves_them_and_succeeds(compose):
    p = compose("dyt-orphan2", f"""
        services:
          keep: {{image: busybox, command: {SLEEP}}}
          gone: {{image: busybox, command: {SLEEP}}}
    """)
    ok(p("up", "-d"))
    p.write(f"""
        services:
          keep: {{image: busybox, command: {SLEEP}}}
    """)
    r = p("down", "-t", "0")
    assert "orphan" in r.stderr.decode() and "dyt-orphan2-gone-1" in r.stderr.decode()
    assert sorted(p.by_name()) == ["dyt-orphan2-gone-1"]  # left, as asked
    assert len(p.networks()) == 1  # still in use by the orphan
    ok(r)


# -- behaviour from the review against docker compose's source -----------------------------------


def test_quick_service_started_dependency_does_not_fail_up(compose):
    # service_started asks only that the dependency was started: a one-shot
    # that has already exited is fine (docker compose does not wait on it).
    p = compose("dyt-oneshot", f"""
        services:
          init: {{image: busybox, command: ["true"]}}
          app: {{image: busybox, command: {SLEEP}, depends_on: [init]}}
    """)
    ok(p("up", "-d"))
    ok(p("up", "-d"))
    assert p.inspect("dyt-oneshot-app-1")["State"]["Running"]


def test_optional_dependency_failure_is_a_warning(compose):
    p = compose("dyt-optional", f"""
        services:
          broken: {{image: busybox, command: ["sh", "-c", "exit 3"]}}
          app:
            image: busybox
            command: {SLEEP}
            depends_on:
              broken: {{condition: service_completed_successfully, required: false}}
    """)
    r = p("up", "-d")
    assert r.returncode == 0, r.stderr
    assert "optional dependency 'broken'" in r.stderr.decode()
    assert p.inspect("dyt-optional-app-1")["State"]["Running"]


def test_recreate_keeps_the_images_volumes(compose, daemon):
    built = daemon.cli("build", "-q", "-t", "dyt-volimage", "-", input=b"FROM busybox\nVOLUME /data\n")
    assert built.returncode == 0, built.stderr
    p = compose("dyt-imgvol", """
        services:
          db: {image: dyt-volimage, command: ["sleep", "300"], environment: {V: "${V}"}}
    """)
    try:
        ok(p("up", "-d", env={"V": "1"}))
        ok(p("exec", "-T", "db", "sh", "-c", "echo kept > /data/f"))
        ok(p("up", "-d", "-t", "0", env={"V": "2"}))
        assert ok(p("exec", "-T", "db", "cat", "/data/f")) == "kept"
        ok(p("down", "-v", "-t", "0"))
    finally:
        daemon.cli("rmi", "-f", "dyt-volimage")


def test_network_mode_service_follows_a_recreated_parent(compose):
    p = compose("dyt-netns", f"""
        services:
          base: {{image: busybox, command: {SLEEP}, environment: {{V: "${{V}}"}}}}
          side: {{image: busybox, command: {SLEEP}, network_mode: "service:base"}}
    """)
    ok(p("up", "-d", env={"V": "1"}))
    side = p.inspect("dyt-netns-side-1")
    ok(p("up", "-d", "-t", "0", env={"V": "2"}))
    base = p.inspect("dyt-netns-base-1")
    new_side = p.inspect("dyt-netns-side-1")
    assert new_side["Id"] != side["Id"] and new_side["State"]["Running"]
    assert new_side["HostConfig"]["NetworkMode"] == f"container:{base['Id']}"


def test_down_given_services_takes_only_them_and_their_dependents(compose):
    p = compose("dyt-partial", f"""
        services:
          db: {{image: busybox, command: {SLEEP}}}
          web: {{image: busybox, command: {SLEEP}, depends_on: [db]}}
          other: {{image: busybox, command: {SLEEP}}}
    """)
    ok(p("up", "-d"))
    ok(p("down", "-t", "0", "db"))
    assert sorted(p.by_name()) == ["dyt-partial-other-1"]
    assert p.networks(), "down SERVICE must leave the networks"


def test_down_with_only_a_project_name(compose):
    p = compose("dyt-nameonly", f"""
        services:
          a: {{image: busybox, command: {SLEEP}, volumes: ["v:/v"]}}
        volumes:
          v: {{}}
    """)
    ok(p("up", "-d"))
    elsewhere = p.dir.parent / "dyt-nameonly-empty"
    elsewhere.mkdir()
    env = dict(os.environ, DOCKYARD_HOST=p.daemon.host)
    run = lambda *a: subprocess.run([DOCKYARD, "compose", "-p", p.name, *a], cwd=elsewhere, env=env,  # noqa: E731
                                    capture_output=True, timeout=60)
    assert "dyt-nameonly-a-1" in ok(run("ps"))
    ok(run("down", "-v", "-t", "0"))
    assert p.container_ids() == [] and p.networks() == [] and p.volumes() == []
    r = run("up", "-d")
    assert r.returncode != 0 and "no configuration file provided" in r.stderr.decode()


def test_a_bad_value_fails_before_anything_is_made(compose):
    p = compose("dyt-badvalue", f"""
        services:
          good: {{image: busybox, command: {SLEEP}}}
          bad: {{image: busybox, command: {SLEEP}, mem_limit: lots}}
    """)
    r = p("up", "-d")
    assert r.returncode != 0 and "service 'bad'" in r.stderr.decode() and "lots" in r.stderr.decode()
    assert_nothing_of(p)


def test_dry_run_is_refused(compose):
    p = compose("dyt-dry", f"services:\n  a: {{image: busybox, command: {SLEEP}}}\n")
    r = subprocess.run(
        [DOCKYARD, "compose", "--dry-run", "-f", p.file, "-p", p.name, "up", "-d"],
        env=dict(os.environ, DOCKYARD_HOST=p.daemon.host), capture_output=True, timeout=30)
    assert r.returncode != 0 and "not supported" in r.stderr.decode()
    assert_nothing_of(p)


def test_build_push_pull_through_a_registry(compose, daemon, tmp_path):
    """compose build tags the image, push sends it to a registry (ours), and
    pull brings it back after it was removed; a buildable service without an
    image name is not pulled."""
    from test_pull_push import Registry

    (tmp_path / "registry").mkdir()
    registry = Registry(str(tmp_path / "registry"), ours=True)
    ref = f"{registry.host}/dyt/app:1"
    p = compose("dyt-registry")
    (p.dir / "app").mkdir()
    (p.dir / "app" / "Dockerfile").write_text("FROM busybox\nRUN echo built > /built\n")
    p.write(f"""
        services:
          app: {{build: ./app, image: "{ref}", command: ["cat", "/built"]}}
          local: {{build: ./app, command: ["true"]}}
    """)
    try:
        ok(p("build"))
        assert p.daemon.cli("image", "inspect", ref).returncode == 0
        assert p.daemon.cli("image", "inspect", "dyt-registry-local").returncode == 0
        ok(p("push"))
        assert registry.requests("PUT /v2/dyt/app/manifests/1") == 1
        ok(p.daemon.cli("rmi", ref))
        pulled = p("pull")
        assert pulled.returncode == 0, pulled.stderr
        assert p.daemon.cli("image", "inspect", ref).returncode == 0
        assert ok(p("run", "--rm", "-T", "app")) == "built"
    finally:
        registry.stop()
        p.daemon.cli("rmi", "-f", ref, "dyt-registry-local")


def test_log_prefix_colours_follow_ansi(compose):
    p = compose("dyt-ansi", """
        services:
          a: {image: busybox, command: ["echo", "from-a"]}
          bb: {image: busybox, command: ["echo", "from-bb"]}
    """)
    ok(p("up", "-d"))
    deadline = time.time() + 10
    while time.time() < deadline and "from-bb" not in out(p("logs")):
        time.sleep(0.1)
    plain = ok(p("logs", "a"))
    assert plain == "dyt-ansi-a-1 | from-a"  # not a terminal: no colour
    coloured = ok(subprocess.run([DOCKYARD, "compose", "--ansi", "always", "-f", p.file, "-p", p.name, "logs"],
                                 env=dict(os.environ, DOCKYARD_HOST=p.daemon.host), capture_output=True))
    assert "\x1b[36mdyt-ansi-a-1  | \x1b[0mfrom-a" in coloured.splitlines()
    assert "\x1b[" not in ok(subprocess.run(
        [DOCKYARD, "compose", "--ansi", "always", "-f", p.file, "-p", p.name, "logs", "--no-color"],
        env=dict(os.environ, DOCKYARD_HOST=p.daemon.host), capture_output=True))
    help_text = ok(subprocess.run([DOCKYARD, "compose", "--help"], capture_output=True))
    assert "Commands:" in help_text and "  up " in help_text and "--project-name" in help_text


def test_logs_follow_picks_up_new_containers(compose):
    p = compose("dyt-logwatch", """
        services:
          w:
            image: busybox
            command: ["sh", "-c", "trap 'exit 0' TERM; echo hello-from-$$(hostname); sleep 300 & wait"]
    """)
    ok(p("up", "-d"))
    follower = p.popen("logs", "-f", "--no-color")
    try:
        time.sleep(1)
        ok(p("up", "-d", "--scale", "w=2"))
        second = p.inspect("dyt-logwatch-w-2")["Config"]["Hostname"]
        time.sleep(1.5)  # w-2 says hello
        ok(p("stop", "-t", "2"))  # every stream ends, and logs -f with them
        stdout, stderr = follower.communicate(timeout=20)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    lines = stdout.decode().splitlines()
    assert any(line.startswith("dyt-logwatch-w-2") and line.endswith(f"hello-from-{second}") for line in lines), lines
    assert follower.returncode == 0, stderr.decode()


def test_attached_up_follows_policy_restarts(compose):
    p = compose("dyt-restarts", """
        services:
          r:
            image: busybox
            restart: on-failure:2
            command: ["sh", "-c", "echo run; sleep 0.3; exit 1"]
    """)
    r = p("up", timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    # Three runs (the first and two restarts), each printed once, then the exit.
    assert lines.count("dyt-restarts-r-1 | run") == 3, lines
    assert lines[-1] == "dyt-restarts-r-1 exited with code 1", lines
    assert p.inspect("dyt-restarts-r-1")["RestartCount"] == 2
