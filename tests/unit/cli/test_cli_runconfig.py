"""run/create flags → the create body; env files; restart policies."""

import pytest

from dockyard.cli.flags import UsageError
from dockyard.cli.run import run_flags, start_status
from dockyard.cli.runconfig import container_config, parse_env_file, parse_restart_policy


def body(argv, **kw):
    opts, args = run_flags().parse(argv)
    return container_config(opts, args, detach=opts.detach, auto_remove=opts.rm, **kw)


def test_full_mapping():
    got = body(["-m", "32m", "--cpus", "1.5", "-e", "A=1", "--entrypoint", "", "busybox",
                "sh", "-c", "x"])
    assert got == {
        "Hostname": "", "User": "", "AttachStdin": False, "AttachStdout": True,
        "AttachStderr": True, "Tty": False, "OpenStdin": False, "StdinOnce": False,
        "Env": ["A=1"], "Cmd": ["sh", "-c", "x"], "Image": "busybox", "WorkingDir": "",
        "Entrypoint": [""], "Labels": {},
        "HostConfig": {
            "Binds": None, "VolumesFrom": None, "LogConfig": {"Type": "", "Config": {}},
            "NetworkMode": "default", "PortBindings": {},
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "AutoRemove": False,
            "CapAdd": None, "CapDrop": None, "Privileged": False, "ReadonlyRootfs": False,
            "SecurityOpt": None, "Runtime": "", "Memory": 32 << 20, "MemorySwap": 0,
            "NanoCpus": 1_500_000_000,
        },
    }


def test_options_stop_at_the_image():
    got = body(["--rm", "busybox", "ls", "-l", "--rm", "-d"])
    assert got["Cmd"] == ["ls", "-l", "--rm", "-d"]
    assert got["HostConfig"]["AutoRemove"] is True


def test_no_command_and_no_entrypoint_are_null():
    got = body(["busybox"])
    assert got["Cmd"] is None and got["Entrypoint"] is None


def test_entrypoint_is_one_word():
    assert body(["--entrypoint", "/bin/sh -c", "img"])["Entrypoint"] == ["/bin/sh -c"]


def test_interactive_tty_and_detach():
    got = body(["-it", "busybox"])
    assert (got["Tty"], got["OpenStdin"], got["AttachStdin"], got["StdinOnce"]) == \
        (True, True, True, True)
    got = body(["-dit", "busybox"])
    assert (got["AttachStdin"], got["AttachStdout"], got["StdinOnce"], got["OpenStdin"]) == \
        (False, False, False, True)


def test_many_flags():
    got = body(["--name", "web", "-w", "/srv", "-u", "1000:1000", "-h", "box", "-l", "a=b",
                "-l", "flag", "--init", "--read-only", "--cap-add", "NET_ADMIN", "--cap-drop",
                "ALL", "--privileged", "--runtime", "runc", "--stop-signal", "SIGINT",
                "--stop-timeout", "3", "--security-opt", "no-new-privileges",
                "--restart", "on-failure:5", "--pids-limit", "64", "--memory-swap", "-1",
                "-p", "8080:80", "-p", "127.0.0.1:53:53/udp", "img"])
    host = got["HostConfig"]
    assert got["WorkingDir"] == "/srv" and got["User"] == "1000:1000"
    assert got["Hostname"] == "box" and got["Labels"] == {"a": "b", "flag": ""}
    assert got["StopSignal"] == "SIGINT" and got["StopTimeout"] == 3
    assert host["Init"] is True and host["ReadonlyRootfs"] is True
    assert host["CapAdd"] == ["NET_ADMIN"] and host["CapDrop"] == ["ALL"]
    assert host["Privileged"] is True and host["Runtime"] == "runc"
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 5}
    assert host["PidsLimit"] == 64 and host["MemorySwap"] == -1
    assert host["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                                    "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "53"}]}
    assert got["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}


def test_env_from_environment_and_files(tmp_path, monkeypatch):
    monkeypatch.setenv("FROM_HOST", "yes")
    monkeypatch.delenv("UNSET_VAR", raising=False)
    env_file = tmp_path / "env"
    env_file.write_text("\ufeff# comment\n\n  FILE=1\nFROM_HOST\nUNSET_VAR\nQ=\"quoted\" \n")
    got = body(["--env-file", str(env_file), "-e", "FROM_HOST", "-e", "UNSET_VAR", "img"])
    assert got["Env"] == ["FILE=1", "FROM_HOST=yes", 'Q="quoted" ', "FROM_HOST=yes",
                          "UNSET_VAR"]


def test_env_file_errors(tmp_path):
    bad = tmp_path / "bad"
    bad.write_text("MY VAR=1\n")
    with pytest.raises(ValueError, match="variable 'MY VAR' contains whitespaces"):
        parse_env_file(str(bad))
    bad.write_text("=1\n")
    with pytest.raises(ValueError, match="no variable name on line '=1'"):
        parse_env_file(str(bad))


def test_empty_env_flag_is_a_flag_error():
    with pytest.raises(UsageError) as info:
        run_flags().parse(["-e", "", "img"])
    assert str(info.value).startswith(
        'invalid argument "" for "-e, --env" flag: invalid environment variable: ')
    assert info.value.status == 125


def test_restart_and_rm_conflict():
    with pytest.raises(ValueError, match="cannot specify both --restart and --rm"):
        body(["--rm", "--restart", "always", "img"])


def test_restart_policies():
    assert parse_restart_policy("always") == {"Name": "always", "MaximumRetryCount": 0}
    with pytest.raises(ValueError):
        parse_restart_policy("sometimes")
    with pytest.raises(ValueError):
        parse_restart_policy("always:3")


@pytest.mark.parametrize("message,status", [
    ('exec: "nope": executable file not found in $PATH', 127),
    ("open /x: no such file or directory", 127),
    ("exec /etc: permission denied", 126),
    ("cannot invoke a directory", 126),
    ("No such image: x:latest", 125),
])
def test_start_error_statuses(message, status):
    assert start_status(message) == status
