"""Body mappings, table formats and copy rules of exec, top, stats, port,
update, volume, system df/prune, cp and the run/create mount flags."""

import io
import tarfile

import pytest

from dockyard.cli import archive
from dockyard.cli.diskusage import summary_rows
from dockyard.cli.execs import exec_config, exec_flags
from dockyard.cli.formatter import render
from dockyard.cli.mounts import parse_mount, volumes_and_binds
from dockyard.cli.processes import top_table
from dockyard.cli.prune import system_prune_warning
from dockyard.cli.run import run_flags
from dockyard.cli.runconfig import container_config
from dockyard.cli.session import StatusError
from dockyard.cli.settings import port_lines, update_config, update_flags
from dockyard.cli.stats import (STATS_HEADERS, STATS_TABLE, StatsEntry, StatsRow, cpu_percent,
                                frame, memory_usage)
from dockyard.cli.volumes import VOLUME_HEADERS, VOLUME_TABLE, VolumeRow, volume_create_body


def test_exec_config_mapping(tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("FROM_FILE=1\n")
    opts, args = exec_flags().parse(["-it", "-u", "1000", "-w", "/tmp", "--env-file",
                                     str(env_file), "-e", "A=2", "--privileged", "c1", "sh",
                                     "-c", "echo -u"])
    assert args == ["c1", "sh", "-c", "echo -u"]
    assert exec_config(opts, args[1:], (24, 80)) == {
        "User": "1000", "Privileged": True, "Tty": True, "AttachStdin": True,
        "AttachStdout": True, "AttachStderr": True, "DetachKeys": "",
        "Env": ["FROM_FILE=1", "A=2"], "WorkingDir": "/tmp", "Cmd": ["sh", "-c", "echo -u"],
        "ConsoleSize": [24, 80]}


def test_exec_detached_attaches_nothing():
    opts, args = exec_flags().parse(["-d", "-i", "c1", "sleep", "9"])
    config = exec_config(opts, args[1:])
    assert not (config["AttachStdin"] or config["AttachStdout"] or config["AttachStderr"])
    assert "ConsoleSize" not in config


def test_top_table_uses_width_20():
    text = top_table({"Titles": ["UID", "PID", "CMD"],
                      "Processes": [["root", "1", "sleep 100"]]})
    assert text == ("UID                 PID                 CMD\n"
                    "root                1                   sleep 100\n")


SAMPLE = {
    "name": "/web", "id": "a" * 64,
    "cpu_stats": {"cpu_usage": {"total_usage": 400, "percpu_usage": [1, 1]},
                  "system_cpu_usage": 2000, "online_cpus": 0},
    "precpu_stats": {"cpu_usage": {"total_usage": 200}, "system_cpu_usage": 1000},
    "memory_stats": {"usage": 3 << 20, "limit": 1 << 30,
                     "stats": {"inactive_file": 1 << 20}},
    "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 0}},
    "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 4096},
                                                   {"op": "write", "value": 0}]},
    "pids_stats": {"current": 3},
}


def test_stats_calculations():
    assert cpu_percent(SAMPLE) == pytest.approx(40.0)  # 200/1000 * 2 CPUs * 100
    assert memory_usage(SAMPLE["memory_stats"]) == 2 << 20
    v1 = {"usage": 100, "stats": {"total_inactive_file": 30, "inactive_file": 50}}
    assert memory_usage(v1) == 70
    assert memory_usage({"usage": 10, "stats": {"inactive_file": 50}}) == 10


def test_stats_table():
    rows = [StatsRow("web", StatsEntry.from_api(SAMPLE), True),
            StatsRow("gone", StatsEntry(invalid=True), True)]
    text = render("", rows, STATS_HEADERS, STATS_TABLE)
    lines = text.splitlines()
    assert lines[0].split("   ")[0] == "CONTAINER ID"
    assert "40.00%" in lines[1] and "2MiB / 1GiB" in lines[1] and "0.20%" in lines[1]
    assert "1.5kB / 0B" in lines[1] and "4.1kB / 0B" in lines[1]
    assert lines[1].startswith("aaaaaaaaaaaa   web ")
    assert lines[1].rstrip().endswith("3")
    assert "-- / --" in lines[2]
    assert frame("a\n") == "\033[Ha\033[K\n\033[K\n\033[J"


def test_port_lines():
    ports = {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"},
                        {"HostIp": "::", "HostPort": "8080"}],
             "9/udp": [{"HostIp": "0.0.0.0", "HostPort": "9"}], "443/tcp": None}
    assert port_lines(ports) == ["9/udp -> 0.0.0.0:9", "80/tcp -> 0.0.0.0:8080",
                                 "80/tcp -> [::]:8080"]
    assert port_lines(ports, "80", "c") == ["0.0.0.0:8080", "[::]:8080"]
    with pytest.raises(StatusError, match="No public port '443' published for c"):
        port_lines(ports, "443", "c")


def test_update_body():
    opts, _ = update_flags().parse(["-m", "64m", "--cpus", "0.5", "--pids-limit", "10",
                                    "--restart", "on-failure:3", "c"])
    body = update_config(opts)
    assert body["Memory"] == 64 << 20 and body["NanoCpus"] == 500_000_000
    assert body["PidsLimit"] == 10 and body["CpuShares"] == 0
    assert body["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    opts, _ = update_flags().parse(["--cpu-shares", "512", "c"])
    assert "PidsLimit" not in update_config(opts)
    assert update_config(opts)["RestartPolicy"] == {"Name": "", "MaximumRetryCount": 0}


def test_volume_body_and_table():
    assert volume_create_body("data", "local", ["type=tmpfs"], ["a=b"]) == {
        "Driver": "local", "DriverOpts": {"type": "tmpfs"}, "Labels": {"a": "b"},
        "Name": "data"}
    rows = [VolumeRow({"Name": "data", "Driver": "local"})]
    assert render("", rows, VOLUME_HEADERS, VOLUME_TABLE) == (
        "DRIVER    VOLUME NAME\nlocal     data\n")


def test_system_df_summary():
    df = {"LayersSize": 2_000_000,
          "Images": [{"Containers": 1, "Size": 1_000_000, "SharedSize": 0},
                     {"Containers": 0, "Size": 1_000_000, "SharedSize": 0}],
          "Containers": [{"State": "running", "SizeRw": 10}, {"State": "exited", "SizeRw": 30}],
          "Volumes": [{"UsageData": {"RefCount": 0, "Size": 500}}],
          "BuildCache": []}
    text = render("", summary_rows(df), {"Type": "TYPE", "TotalCount": "TOTAL",
                                         "Active": "ACTIVE", "Size": "SIZE",
                                         "Reclaimable": "RECLAIMABLE"},
                  "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}")
    assert text.splitlines() == [
        "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE",
        "Images          2         1         2MB       1MB (50%)",
        "Containers      2         1         40B       30B (75%)",
        "Local Volumes   1         0         500B      500B (100%)",
        "Build Cache     0         0         0B        0B",
    ]


def test_system_prune_warning():
    assert system_prune_warning(False, False, {}) == (
        "WARNING! This will remove:\n  - all stopped containers\n"
        "  - all networks not used by at least one container\n  - all dangling images\n"
        "  - unused build cache\n\nAre you sure you want to continue?")
    text = system_prune_warning(True, True, {"label": ["a=b"]})
    assert "  - all anonymous volumes not used by at least one container\n" in text
    assert text.endswith("\n\n  Items to be pruned will be filtered with:\n  - label=a=b\n\n"
                         "Are you sure you want to continue?")


def create_body(argv):
    opts, args = run_flags().parse(argv)
    return container_config(opts, args)


def test_volumes_binds_mounts_tmpfs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    body = create_body(["-v", "/data", "-v", "/host:/c:ro", "-v", "./rel:/r", "-v", "named:/n",
                        "--mount", "type=bind,src=/s,dst=/d,readonly,bind-propagation=rshared",
                        "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770",
                        "--mount", "source=vol,target=/v,volume-nocopy",
                        "--tmpfs", "/run:rw,size=64k", "--volumes-from", "other:ro",
                        "busybox"])
    host = body["HostConfig"]
    assert body["Volumes"] == {"/data": {}}
    assert host["Binds"] == ["/host:/c:ro", f"{tmp_path}/rel:/r", "named:/n"]
    assert host["Mounts"] == [
        {"Type": "bind", "Source": "/s", "Target": "/d", "ReadOnly": True,
         "BindOptions": {"Propagation": "rshared"}},
        {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1770}},
        {"Type": "volume", "Source": "vol", "Target": "/v", "VolumeOptions": {"NoCopy": True}}]
    assert host["Tmpfs"] == {"/run": "rw,size=64k"}
    assert host["VolumesFrom"] == ["other:ro"]


def test_volume_errors():
    with pytest.raises(ValueError, match="includes invalid characters for a local volume name"):
        volumes_and_binds(["rel/path:/x"])
    with pytest.raises(ValueError, match="too many colons"):
        volumes_and_binds(["/a:/b:ro:x"])
    with pytest.raises(ValueError, match="cannot mix 'bind-\\*' options with mount type 'volume'"):
        parse_mount("target=/x,bind-propagation=shared")
    with pytest.raises(ValueError, match="target is required"):
        parse_mount("type=bind,src=/x")


def test_health_restart_log_stop():
    body = create_body(["--health-cmd", "true", "--health-interval", "5s", "--health-timeout",
                        "1m", "--health-retries", "3", "--health-start-period", "500ms",
                        "--restart", "on-failure:2", "--log-driver", "json-file", "--log-opt",
                        "max-size=10m", "--log-opt", "max-file=3", "--stop-timeout", "7",
                        "--stop-signal", "SIGUSR1", "busybox"])
    assert body["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000,
                                   "Timeout": 60_000_000_000, "StartPeriod": 500_000_000,
                                   "Retries": 3}
    host = body["HostConfig"]
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert host["LogConfig"] == {"Type": "json-file",
                                 "Config": {"max-size": "10m", "max-file": "3"}}
    assert body["StopTimeout"] == 7 and body["StopSignal"] == "SIGUSR1"
    assert create_body(["--no-healthcheck", "busybox"])["Healthcheck"] == {"Test": ["NONE"]}
    with pytest.raises(ValueError, match="conflicts"):
        create_body(["--no-healthcheck", "--health-cmd", "x", "busybox"])


# -- cp rules ------------------------------------------------------------------

@pytest.mark.parametrize("arg,split", [
    ("c:/x", ("c", "/x")), ("/abs:x", ("", "/abs:x")), ("./a:b", ("", "./a:b")),
    ("plain", ("", "plain")), ("c:", ("c", ""))])
def test_split_cp_arg(arg, split):
    assert archive.split_cp_arg(arg) == split


def tar_of(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def copy_out(entries, src_path, src_is_dir, dst):
    src = archive.CopyInfo(src_path, True, src_is_dir)
    dst_dir, change = archive.prepare_copy(src, archive.destination_info(
        archive.resolve_local(dst)))
    archive.extract(tar_of(entries), dst_dir, change)


def test_copy_dir_into_existing_dir_and_as_new_name(tmp_path):
    entries = [("dir", None), ("dir/a", b"A")]
    (tmp_path / "out").mkdir()
    copy_out(entries, "/dir", True, str(tmp_path / "out"))
    assert (tmp_path / "out/dir/a").read_bytes() == b"A"
    copy_out(entries, "/dir", True, str(tmp_path / "new"))
    assert (tmp_path / "new/a").read_bytes() == b"A"


def test_copy_dir_contents_with_dot(tmp_path):
    (tmp_path / "out").mkdir()
    copy_out([(".", None), ("./a", b"A")], "/dir/.", True, str(tmp_path / "out"))
    assert (tmp_path / "out/a").read_bytes() == b"A"


def test_copy_file_rules(tmp_path):
    copy_out([("f", b"F")], "/f", False, str(tmp_path / "renamed"))
    assert (tmp_path / "renamed").read_bytes() == b"F"
    with pytest.raises(archive.CopyError, match="no such directory"):
        copy_out([("f", b"F")], "/f", False, str(tmp_path / "missing") + "/")
    with pytest.raises(archive.CopyError, match="cannot copy directory"):
        copy_out([("d", None)], "/d", True, str(tmp_path / "renamed"))


def test_write_tar_names_and_size(tmp_path):
    src_dir = tmp_path / "src"
    (src_dir / "sub").mkdir(parents=True)
    (src_dir / "sub/b").write_bytes(b"B")
    (tmp_path / "one").write_bytes(b"x" * 10)
    out = io.BytesIO()
    info = archive.source_info(str(tmp_path / "one"), False)
    archive.write_tar(info, out, ("one", "two"))
    assert len(out.getvalue()) == 2048  # header + data block + end: docker's "2.05kB"
    out.seek(0)
    assert tarfile.open(fileobj=out).getnames() == ["two"]
    out = io.BytesIO()
    archive.write_tar(archive.source_info(str(src_dir) + "/.", False), out)
    out.seek(0)
    assert tarfile.open(fileobj=out).getnames() == [".", "./sub", "./sub/b"]
