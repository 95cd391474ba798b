"""Races and leaks found in review: each once left processes, files or mounts behind."""

from __future__ import annotations

import os
import subprocess
import time


def out(r) -> str:
    return r.stdout.decode().strip()


def _count(pattern: str) -> int:
    return int(subprocess.run(["pgrep", "-fc", pattern], capture_output=True).stdout or 0)


def test_two_concurrent_starts_run_one_process(daemon):
    daemon.docker("create", "--name", "t-twice", "busybox", "sleep", "131")
    try:
        env = dict(os.environ, DOCKER_HOST=daemon.host)
        procs = [subprocess.Popen(["docker", "start", "t-twice"], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for _ in range(3)]
        for p in procs:
            p.wait(30)
        assert _count("sleep 131") == 1
    finally:
        daemon.docker("rm", "-f", "t-twice")
    time.sleep(0.3)
    assert _count("sleep 131") == 0


def test_remove_during_start_leaves_nothing_running(daemon):
    for _ in range(3):
        daemon.docker("create", "--name", "t-rmstart", "busybox", "sleep", "132")
        env = dict(os.environ, DOCKER_HOST=daemon.host)
        start = subprocess.Popen(["docker", "start", "t-rmstart"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.02)
        daemon.docker("rm", "-f", "t-rmstart")
        start.wait(30)
        daemon.docker("rm", "-f", "t-rmstart")
    time.sleep(0.3)
    assert _count("sleep 132") == 0


def test_restart_keeps_an_auto_removed_container(daemon):
    daemon.docker("run", "-d", "--rm", "--name", "t-rmrestart", "busybox", "sleep", "300")
    try:
        r = daemon.docker("restart", "-t", "0", "t-rmrestart")
        assert r.returncode == 0, r.stderr
        assert out(daemon.docker("inspect", "-f", "{{.State.Status}}", "t-rmrestart")) == "running"
    finally:
        daemon.docker("rm", "-f", "t-rmrestart")


def test_start_of_a_paused_container_is_a_conflict(daemon):
    daemon.docker("run", "-d", "--name", "t-pausedstart", "busybox", "sleep", "300")
    try:
        daemon.docker("pause", "t-pausedstart")
        r = daemon.docker("start", "t-pausedstart")
        assert r.returncode == 1 and b"cannot start a paused container" in r.stderr
    finally:
        daemon.docker("rm", "-f", "t-pausedstart")


def test_abandoned_followers_free_their_files(daemon):
    daemon.docker("run", "-d", "--name", "t-quiet", "busybox", "sleep", "300")
    try:
        pid = daemon.proc.pid
        before = len(os.listdir(f"/proc/{pid}/fd"))
        env = dict(os.environ, DOCKER_HOST=daemon.host)
        for _ in range(5):
            subprocess.run(["timeout", "0.5", "docker", "logs", "-f", "t-quiet"], env=env, capture_output=True)
            subprocess.run(["timeout", "0.5", "docker", "wait", "t-quiet"], env=env, capture_output=True)
        time.sleep(0.5)
        assert len(os.listdir(f"/proc/{pid}/fd")) <= before + 2
    finally:
        daemon.docker("rm", "-f", "t-quiet")


def test_follow_survives_rotation_in_place(daemon):
    r = daemon.docker("run", "-d", "--log-opt", "max-size=1k", "busybox", "sh", "-c",
                      "sleep 1; for i in $(seq 1 60); do echo line $i; done")
    cid = out(r)
    try:
        followed = daemon.docker("logs", "-f", cid, timeout=30)
        assert followed.stdout.decode().splitlines()[-1] == "line 60"
    finally:
        daemon.docker("rm", "-f", cid)


def test_unsupported_settings_are_refused(daemon):
    r = daemon.docker("run", "--rm", "--cpuset-cpus", "0", "busybox", "true")
    assert r.returncode == 125 and b"not supported" in r.stderr
