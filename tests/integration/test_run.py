"""Real containers through our CLI: isolation, exit codes, users, limits, logs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest


def out(r) -> str:
    return r.stdout.decode().strip()


def test_echo(dy):
    r = dy("run", "--rm", "busybox", "echo", "hello")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"hello\n"


def test_isolation_pid_hostname_processes(dy):
    r = dy("run", "--rm", "--hostname", "boxy", "busybox", "sh", "-c",
           'echo $$; hostname; ls /proc | grep -c "^[0-9]"')
    pid, hostname, nprocs = out(r).splitlines()
    assert pid == "1"
    assert hostname == "boxy"
    assert int(nprocs) <= 3  # sh, ls, grep: nothing of the host's


def test_own_mount_namespace_and_rootfs(dy):
    r = dy("run", "--rm", "busybox", "sh", "-c", "cat /proc/self/mountinfo | head -1; ls /")
    assert r.returncode == 0, r.stderr
    assert " / / " in out(r).splitlines()[0]
    assert "bin" in out(r).split()
    # the host's files are not visible
    assert dy("run", "--rm", "busybox", "test", "-e", "/work").returncode == 1


def test_network_namespace_is_the_containers_own(dy):
    r = dy("run", "--rm", "busybox", "cat", "/proc/net/dev")
    ifaces = sorted(line.split(":")[0].strip() for line in out(r).splitlines()[2:])
    assert ifaces == ["eth0", "lo"]  # the default bridge's endpoint, nothing of the host's
    r = dy("run", "--rm", "--network", "none", "busybox", "cat", "/proc/net/dev")
    assert [line.split(":")[0].strip() for line in out(r).splitlines()[2:]] == ["lo"]


def test_processes_start_with_default_signal_dispositions(dy):
    # Python ignores SIGPIPE/SIGXFSZ; none of that may leak into containers.
    r = dy("run", "--rm", "busybox", "grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status")
    assert out(r).split() == ["SigBlk:", "0000000000000000", "SigIgn:", "0000000000000000"], out(r)
    r = dy("run", "--rm", "busybox", "sh", "-c", "yes | head -1")
    assert out(r) == "y"


def test_exit_codes(dy):
    assert dy("run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3
    r = dy("run", "--rm", "busybox", "/nonexistent")
    assert r.returncode == 127
    assert b"no such file or directory" in r.stderr
    assert dy("run", "--rm", "busybox", "nosuchcommand").returncode == 127
    assert dy("run", "--rm", "busybox", "/etc/passwd").returncode == 126
    assert dy("run", "--rm", "nosuchimage:v9", "true").returncode == 125
    assert dy("run", "--rm", "--no-such-flag", "busybox", "true").returncode == 125


def test_killed_by_signal_gives_128_plus_signal(dy):
    # pid 1 cannot be SIGKILLed from inside its own namespace (as in docker),
    # so the signal goes to a child whose status the shell passes on
    assert dy("run", "--rm", "busybox", "sh", "-c", r'sh -c "kill -9 \$\$"; exit $?').returncode == 137
    # a process killed from outside reports 128 + the signal
    assert dy("run", "--rm", "busybox", "sh", "-c", "kill -TERM $$; exit 0").returncode == 0


def test_user_by_id_and_by_name(dy):
    assert out(dy("run", "--rm", "-u", "65534:65534", "busybox", "id")).startswith("uid=65534(nobody) gid=65534(nogroup)")
    assert out(dy("run", "--rm", "-u", "nobody", "busybox", "id", "-u")) == "65534"
    assert out(dy("run", "--rm", "-u", "www-data", "busybox", "id", "-g")) == "33"
    r = dy("run", "--rm", "-u", "nosuchuser", "busybox", "id")
    assert r.returncode != 0
    assert b"unable to find user nosuchuser" in r.stderr


def test_environment_workdir_entrypoint(dy):
    r = dy("run", "--rm", "-e", "FOO=bar", "-w", "/made/here", "busybox", "sh", "-c", 'echo $FOO $PWD $PATH')
    assert out(r) == "bar /made/here /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert out(dy("run", "--rm", "--entrypoint", "echo", "busybox", "a", "b")) == "a b"
    # an entrypoint given on the command line drops the image's CMD
    assert out(dy("run", "--rm", "--entrypoint", "echo", "busybox")) == ""


def test_memory_limit_oom_kills(dy):
    r = dy("run", "--rm", "-m", "32m", "busybox", "sh", "-c", "head -c 300m /dev/zero | tail -n1 >/dev/null")
    assert r.returncode == 137


def test_pids_limit(dy):
    r = dy("run", "--rm", "--pids-limit", "5", "busybox", "sh", "-c",
           "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done 2>/dev/null; wait; echo done")
    assert b"can't fork" in r.stderr or b"Resource temporarily unavailable" in r.stderr or r.returncode != 0


def test_limits_land_in_the_cgroup(dy):
    cid = out(dy("run", "-d", "--cpus", "0.5", "-m", "64m", "--pids-limit", "20", "busybox", "sleep", "30"))
    try:
        def read(controller, name):
            for base in (f"/sys/fs/cgroup/{controller}/dockyard/{cid}", f"/sys/fs/cgroup/dockyard/{cid}"):
                try:
                    with open(f"{base}/{name}") as f:
                        return f.read().strip()
                except FileNotFoundError:
                    continue
            raise AssertionError(f"no cgroup file {name} for {cid}")

        if os.path.exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"):
            assert read("cpu", "cpu.cfs_quota_us") == "50000"
            assert read("cpu", "cpu.cfs_period_us") == "100000"
            assert read("memory", "memory.limit_in_bytes") == str(64 * 1024 * 1024)
        else:
            assert read("cpu", "cpu.max") == "50000 100000"
            assert read("memory", "memory.max") == str(64 * 1024 * 1024)
        assert read("pids", "pids.max") == "20"
    finally:
        dy("rm", "-f", cid)
    # the group goes away with the container
    assert not os.path.exists(f"/sys/fs/cgroup/memory/dockyard/{cid}")


def test_capabilities(dy):
    default = out(dy("run", "--rm", "busybox", "grep", "CapEff", "/proc/self/status")).split()[1]
    assert default == "00000000a80425fb"  # docker's default set
    dropped = out(dy("run", "--rm", "--cap-drop", "ALL", "busybox", "grep", "CapEff", "/proc/self/status")).split()[1]
    assert int(dropped, 16) == 0
    added = out(dy("run", "--rm", "--cap-add", "NET_ADMIN", "busybox", "grep", "CapEff", "/proc/self/status")).split()[1]
    assert int(added, 16) & (1 << 12)
    # without CAP_NET_ADMIN the loopback cannot be taken down
    assert dy("run", "--rm", "busybox", "ip", "link", "set", "lo", "down").returncode != 0
    assert dy("run", "--rm", "--cap-add", "NET_ADMIN", "busybox", "ip", "link", "set", "lo", "down").returncode == 0


def test_read_only_rootfs(dy):
    r = dy("run", "--rm", "--read-only", "busybox", "touch", "/x")
    assert r.returncode != 0
    assert b"Read-only file system" in r.stderr
    assert dy("run", "--rm", "--read-only", "busybox", "touch", "/dev/shm/x").returncode == 0


def test_no_new_privileges(dy):
    r = dy("run", "--rm", "--security-opt", "no-new-privileges", "busybox", "grep", "NoNewPrivs", "/proc/self/status")
    assert out(r).split()[1] == "1"
    r = dy("run", "--rm", "busybox", "grep", "NoNewPrivs", "/proc/self/status")
    assert out(r).split()[1] == "0"


def test_init_runs_tini_as_pid1(dy):
    r = dy("run", "--rm", "--init", "busybox", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$")
    lines = out(r).splitlines()
    assert lines[0].startswith("/sbin/docker-init -- sh")
    assert lines[1] != "1"


def test_dev_and_sys(dy):
    r = dy("run", "--rm", "busybox", "sh", "-c", "ls /dev; touch /sys/x 2>&1; echo data >/dev/null && echo ok")
    listing = out(r)
    for node in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue"):
        assert node in listing.split()
    assert "Read-only file system" in listing
    assert listing.endswith("ok")


def test_etc_files(dy):
    r = dy("run", "--rm", "--hostname", "web1", "busybox", "sh", "-c", "cat /etc/hostname; grep web1 /etc/hosts")
    lines = out(r).splitlines()
    assert lines[0] == "web1"
    assert "web1" in lines[1]


@pytest.mark.parametrize("runtime", ["runc", "crun"])
def test_same_bundle_runs_under_other_runtimes(dy, runtime):
    r = dy("run", "--rm", "--runtime", runtime, "--hostname", "other", "busybox", "sh", "-c", "echo $$; hostname")
    assert r.returncode == 0, r.stderr
    assert out(r).splitlines() == ["1", "other"]
    assert dy("run", "--rm", "--runtime", runtime, "busybox", "sh", "-c", "exit 7").returncode == 7


def test_detached_logs_stop_rm(dy):
    cid = out(dy("run", "-d", "--name", "t-logs", "busybox", "sh", "-c", "echo up; echo err >&2; sleep 300"))
    try:
        assert len(cid) == 64
        time.sleep(0.3)
        r = dy("logs", "t-logs")
        assert r.stdout == b"up\n" and r.stderr == b"err\n"
        r = dy("logs", "-t", "t-logs")
        assert r.stdout.decode().split(" ", 1)[1] == "up\n"
        assert dy("inspect", "-f", "{{.State.Status}}", "t-logs").stdout == b"running\n"
        r = dy("rm", "t-logs")
        assert r.returncode != 0 and b"container is running" in r.stderr
        started = time.time()
        assert dy("stop", "-t", "1", "t-logs").returncode == 0
        assert time.time() - started < 5  # sleep ignores SIGTERM as pid 1: killed after 1 s
        assert dy("inspect", "-f", "{{.State.ExitCode}}", "t-logs").stdout == b"137\n"
    finally:
        dy("rm", "-f", "t-logs")
    assert dy("inspect", "t-logs").returncode != 0


def test_stop_signal_graceful(dy):
    dy("run", "-d", "--name", "t-trap", "busybox", "sh", "-c", "trap 'exit 42' TERM; while true; do sleep 0.1; done")
    try:
        time.sleep(0.3)
        assert dy("stop", "t-trap").returncode == 0
        assert dy("inspect", "-f", "{{.State.ExitCode}}", "t-trap").stdout == b"42\n"
    finally:
        dy("rm", "-f", "t-trap")


def test_name_conflict_and_rm_running(dy):
    dy("create", "--name", "t-dup", "busybox", "true")
    try:
        r = dy("create", "--name", "t-dup", "busybox", "true")
        assert r.returncode == 125
        assert b'The container name "/t-dup" is already in use' in r.stderr
    finally:
        dy("rm", "t-dup")


def test_stdin_pipe(dy):
    r = dy("run", "--rm", "-i", "busybox", "sh", "-c", "tr a-z A-Z", input=b"hello stdin\n")
    assert r.stdout == b"HELLO STDIN\n"


def test_logs_follow_and_tail(dy):
    dy("run", "-d", "--name", "t-follow", "busybox", "sh", "-c", "for i in 1 2 3 4 5; do echo $i; sleep 0.2; done")
    try:
        r = dy("logs", "-f", "t-follow", timeout=20)
        assert r.stdout == b"1\n2\n3\n4\n5\n"
        assert dy("logs", "--tail", "2", "t-follow").stdout == b"4\n5\n"
    finally:
        dy("rm", "-f", "t-follow")


def test_ps_and_prune(dy):
    dy("run", "--name", "t-exited", "busybox", "true")
    r = dy("ps", "-a", "--filter", "name=t-exited", "--format", "{{.Names}} {{.Status}}")
    assert out(r).startswith("t-exited Exited (0)")
    assert "t-exited" not in out(dy("ps", "--format", "{{.Names}}"))
    r = dy("container", "prune", "-f")
    assert r.returncode == 0
    assert dy("inspect", "t-exited").returncode != 0


def test_start_attach_wait_restart(dy):
    dy("create", "--name", "t-restart", "busybox", "sh", "-c", "echo started; exit 4")
    try:
        r = dy("start", "-a", "t-restart")
        assert r.stdout == b"started\n" and r.returncode == 4
        assert dy("wait", "t-restart").stdout == b"4\n"
        # a restart right after the exit must not be confused by the old shim
        assert dy("restart", "t-restart").returncode == 0
        assert dy("wait", "t-restart").stdout == b"4\n"
        assert dy("logs", "t-restart").stdout == b"started\nstarted\n"
        assert dy("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "t-restart").stdout == b"exited 4\n"
    finally:
        dy("rm", "-f", "t-restart")


def test_privileged_gets_every_capability_and_writable_sys(dy):
    r = dy("run", "--rm", "--privileged", "busybox", "sh", "-c", "grep CapEff /proc/self/status; mount | grep ' /sys '")
    cap, sysline = out(r).splitlines()
    with open("/proc/self/status") as f:
        held = next(line.split()[1] for line in f if line.startswith("CapBnd:"))
    assert cap.split()[1] == held  # all we hold (hosts may withhold some)
    assert "(rw," in sysline


@pytest.mark.skipif(not shutil.which("script"), reason="script(1) gives the CLI a terminal")
def test_interactive_shell_with_tty(daemon):
    """`dockyard run -it busybox sh` under a real terminal (script(1) provides it)."""
    env = dict(os.environ, DOCKYARD_HOST=daemon.host)
    cli = os.path.join(os.path.dirname(__file__), "..", "..", ".venv", "bin", "dockyard")
    feed = subprocess.Popen(
        ["sh", "-c", "sleep 1; printf 'tty; echo $((6*7))\\n'; sleep 0.5; printf 'exit 5\\n'; sleep 0.5"],
        stdout=subprocess.PIPE,
    )
    p = subprocess.run(["script", "-qec", f"stty rows 30 cols 90; {cli} run -it --rm busybox sh -c 'stty size; exec sh'", "/dev/null"],
                       stdin=feed.stdout, capture_output=True, env=env, timeout=30)
    feed.wait()
    text = p.stdout.decode(errors="replace")
    assert p.returncode == 5, text
    assert "30 90" in text  # the terminal's size reached the container
    assert "/dev/pts/0" in text and "42" in text


def test_json_file_log_format(daemon, dy):
    cid = out(dy("run", "-d", "busybox", "sh", "-c", "echo line1; echo line2 >&2"))
    try:
        dy("wait", cid)
        with open(os.path.join(daemon.data_root, "containers", cid, f"{cid}-json.log")) as f:
            entries = [json.loads(line) for line in f]
        assert [(e["log"], e["stream"]) for e in entries] == [("line1\n", "stdout"), ("line2\n", "stderr")] or \
            sorted((e["log"], e["stream"]) for e in entries) == [("line1\n", "stdout"), ("line2\n", "stderr")]
        assert all(e["time"].endswith("Z") and "T" in e["time"] for e in entries)
    finally:
        dy("rm", "-f", cid)


def test_container_prune_filters(daemon):
    daemon.docker("run", "--name", "t-prune-keep", "--label", "keep=yes", "busybox", "true")
    daemon.docker("run", "--name", "t-prune-go", "busybox", "true")
    try:
        r = daemon.docker("container", "prune", "-f", "--filter", "until=1h")
        assert r.returncode == 0, r.stderr
        assert daemon.docker("inspect", "t-prune-go").returncode == 0  # younger than an hour: kept
        r = daemon.docker("container", "prune", "-f", "--filter", "label!=keep=yes")
        assert r.returncode == 0, r.stderr
        assert daemon.docker("inspect", "t-prune-go").returncode != 0
        assert daemon.docker("inspect", "t-prune-keep").returncode == 0
        r = daemon.docker("container", "prune", "-f", "--filter", "bogus=1")
        assert r.returncode != 0
    finally:
        daemon.docker("rm", "-f", "t-prune-keep", "t-prune-go")
