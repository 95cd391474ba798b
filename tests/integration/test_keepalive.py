"""Keeping containers up: restart policies (also across a daemon restart) and health checks."""

from __future__ import annotations

import json
import os
import signal
import time




def out(r) -> str:
    return r.stdout.decode().strip()


def wait_for(predicate, timeout=15.0, step=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def test_on_failure_restarts_up_to_the_limit(daemon):
    daemon.docker("run", "-d", "--name", "t-crash", "--restart", "on-failure:2", "busybox", "sh", "-c", "sleep 0.3; exit 1")
    try:
        assert wait_for(lambda: out(daemon.docker("inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "t-crash")) == "2 exited")
        time.sleep(1)
        assert out(daemon.docker("inspect", "-f", "{{.RestartCount}}", "t-crash")) == "2"
    finally:
        daemon.docker("rm", "-f", "t-crash")


def test_a_policy_restart_never_shows_exited_in_between(daemon, api):
    """docker keeps a container "restarting" from its exit until it runs
    again; a client polling in between must not see "exited" (compose's
    attached up would think it gone for good)."""
    daemon.cli("run", "-d", "--name", "t-bouncy", "--restart", "on-failure:3", "busybox",
               "sh", "-c", "sleep 0.2; exit 1", check=True)
    seen = []
    try:
        deadline = time.time() + 15
        while time.time() < deadline:
            _, doc, _ = api("GET", "/containers/t-bouncy/json")
            seen.append((doc["RestartCount"], doc["State"]["Status"]))
            if doc["RestartCount"] == 3 and doc["State"]["Status"] == "exited":
                break
            time.sleep(0.005)
        early_exits = [s for s in seen if s[1] == "exited" and s[0] < 3]
        assert seen[-1] == (3, "exited") and not early_exits, early_exits[:5]
        assert {status for _, status in seen} >= {"running", "restarting"}
    finally:
        daemon.cli("rm", "-f", "t-bouncy")


def test_on_failure_leaves_a_clean_exit_alone_and_stop_is_final(daemon):
    daemon.docker("run", "-d", "--name", "t-clean", "--restart", "on-failure", "busybox", "true")
    daemon.docker("run", "-d", "--name", "t-always", "--restart", "always", "busybox", "sleep", "300")
    try:
        time.sleep(1)
        assert out(daemon.docker("inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "t-clean")) == "0 exited"
        assert daemon.docker("stop", "-t", "0", "t-always").returncode == 0
        time.sleep(1)
        assert out(daemon.docker("inspect", "-f", "{{.State.Status}}", "t-always")) == "exited"
    finally:
        daemon.docker("rm", "-f", "t-clean", "t-always")


def test_always_restarts_after_a_crash(daemon):
    daemon.docker("run", "-d", "--name", "t-phoenix", "--restart", "always", "busybox", "sleep", "300")
    try:
        pid = int(out(daemon.docker("inspect", "-f", "{{.State.Pid}}", "t-phoenix")))
        os.kill(pid, signal.SIGKILL)
        assert wait_for(lambda: out(daemon.docker("inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "t-phoenix")) == "1 running")
    finally:
        daemon.docker("rm", "-f", "t-phoenix")


def test_restart_policy_across_a_daemon_kill(own_daemon):
    d = own_daemon
    d.cli("run", "-d", "--name", "kept", "--restart", "always", "busybox", "sleep", "300", check=True)
    d.cli("run", "-d", "--name", "stopped-by-user", "--restart", "unless-stopped", "busybox", "sleep", "300", check=True)
    d.cli("stop", "-t", "0", "stopped-by-user", check=True)
    pid = int(out(d.cli("inspect", "-f", "{{.State.Pid}}", "kept")))
    d.stop(signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)  # the process dies while no daemon is there
    time.sleep(0.5)
    d.start()
    assert wait_for(lambda: out(d.cli("inspect", "-f", "{{.State.Status}}", "kept")) == "running")
    assert out(d.cli("inspect", "-f", "{{.State.Status}}", "stopped-by-user")) == "exited"


def test_health_check_starting_healthy_unhealthy(daemon):
    r = daemon.docker("run", "-d", "--name", "t-health", "--health-cmd", "test -f /tmp/ok", "--health-interval", "1s",
                      "--health-retries", "2", "busybox", "sh", "-c", "sleep 1.5; touch /tmp/ok; sleep 3; rm /tmp/ok; sleep 300")
    assert r.returncode == 0, r.stderr
    try:
        assert out(daemon.docker("inspect", "-f", "{{.State.Health.Status}}", "t-health")) == "starting"
        assert wait_for(lambda: out(daemon.docker("inspect", "-f", "{{.State.Health.Status}}", "t-health")) == "healthy")
        assert "(healthy)" in out(daemon.docker("ps", "--filter", "name=t-health", "--format", "{{.Status}}"))
        assert wait_for(lambda: out(daemon.docker("inspect", "-f", "{{.State.Health.Status}}", "t-health")) == "unhealthy")
        health = json.loads(out(daemon.docker("inspect", "-f", "{{json .State.Health}}", "t-health")))
        assert health["FailingStreak"] >= 2 and health["Log"][-1]["ExitCode"] == 1
    finally:
        daemon.docker("rm", "-f", "t-health")


def test_no_healthcheck_flag(daemon):
    r = daemon.docker("run", "-d", "--name", "t-nohealth", "--no-healthcheck", "busybox", "sleep", "30")
    try:
        assert r.returncode == 0
        assert out(daemon.docker("inspect", "-f", "{{.State.Health}}", "t-nohealth")) in ("<nil>", "<no value>", "")
    finally:
        daemon.docker("rm", "-f", "t-nohealth")


def test_json_file_log_rotation(daemon):
    r = daemon.docker("run", "-d", "--log-opt", "max-size=1k", "--log-opt", "max-file=3", "busybox", "sh", "-c",
                      "for i in $(seq 1 300); do echo line $i; done")
    cid = out(r)
    try:
        daemon.docker("wait", cid)
        directory = os.path.join(daemon.data_root, "containers", cid)
        logs = sorted(f for f in os.listdir(directory) if "-json.log" in f)
        assert logs == [f"{cid}-json.log", f"{cid}-json.log.1", f"{cid}-json.log.2"]
        assert all(os.path.getsize(os.path.join(directory, f)) <= 1024 for f in logs)
        lines = out(daemon.docker("logs", cid)).splitlines()
        assert lines[-1] == "line 300" and len(lines) < 300  # the oldest were rotated away
        numbers = [int(x.split()[1]) for x in lines]
        assert numbers == list(range(numbers[0], 301))  # in order, nothing lost in between
    finally:
        daemon.docker("rm", "-f", cid)
    r = daemon.docker("run", "--rm", "--log-opt", "bogus=1", "busybox", "true")
    assert r.returncode == 125 and b"unknown log opt 'bogus'" in r.stderr


def test_health_checks_continue_after_a_daemon_restart(own_daemon):
    d = own_daemon
    d.cli("run", "-d", "--name", "probed", "--health-cmd", "test -f /tmp/ok", "--health-interval", "1s",
          "--health-retries", "1", "busybox", "sh", "-c", "touch /tmp/ok; sleep 300", check=True)
    assert wait_for(lambda: out(d.cli("inspect", "-f", "{{.State.Health.Status}}", "probed")) == "healthy")
    d.stop(signal.SIGKILL)
    d.start()
    d.cli("exec", "probed", "rm", "/tmp/ok", check=True)
    assert wait_for(lambda: out(d.cli("inspect", "-f", "{{.State.Health.Status}}", "probed")) == "unhealthy")
