"""A container's configuration → the OCI runtime spec (config.json).

The spec is the contract between the daemon and whichever runtime executes
the container: our own (runtime/linux.py), runc or crun.  It is built from
a `ProcessSettings` (what to run, as whom) and a `HostSettings` (limits,
capabilities, namespaces, mounts), both already resolved by the container
service: names of users are uids here, and the command is final.

Defaults follow what docker hands runc: the same mounts, devices, masked and
read-only paths, and capability set, so a container behaves the same here.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass, field

from . import capabilities

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
INIT_PATH = "/sbin/docker-init"
TINI_BINARIES = ("/usr/bin/tini-static", "/usr/bin/docker-init", "/usr/bin/tini")

MASKED_PATHS = (
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

# (path, major, minor): the nodes every container's /dev has.
DEFAULT_DEVICES = (
    ("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
    ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0),
)


@dataclass(frozen=True, slots=True)
class ProcessSettings:
    args: list
    env: list
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    additional_gids: list = field(default_factory=list)
    terminal: bool = False
    console_size: tuple = ()  # (height, width) of the client's terminal, when known


@dataclass(frozen=True, slots=True)
class BindMount:
    source: str
    destination: str
    readonly: bool = False


@dataclass(frozen=True, slots=True)
class HostSettings:
    container_id: str
    hostname: str
    memory: int = 0  # bytes, 0 = unlimited
    memory_swap: int = 0  # bytes of memory+swap; -1 unlimited; 0 = docker's default (2x memory)
    nano_cpus: int = 0
    cpu_shares: int = 0
    pids_limit: int = 0  # <= 0 = unlimited
    cap_add: tuple = ()
    cap_drop: tuple = ()
    privileged: bool = False
    readonly_rootfs: bool = False
    no_new_privileges: bool = False
    init: bool = False
    binds: tuple = ()  # BindMount, in order
    # None: a new network namespace; "host": the host's; otherwise a path to join
    network_namespace: str | None = None


def _nofile_limit() -> int:
    # Ask for no more than the host allows: a runtime that asks for more than
    # the hard limit fails to start anything (DESIGN.md).
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1048576
    return wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)


def tini_binary() -> str | None:
    import os

    for path in TINI_BINARIES:
        if os.path.exists(path):
            return path
    return None


def build(process: ProcessSettings, host: HostSettings) -> dict:
    caps = capabilities.effective_set(list(host.cap_add), list(host.cap_drop), host.privileged)
    args = list(process.args)
    mounts = _default_mounts(host)
    if host.init:
        tini = tini_binary()
        if tini is None:
            from ..errors import SystemError

            raise SystemError("--init requires tini: install the Debian package 'tini'")
        args = [INIT_PATH, "--", *args]
        mounts.append({"destination": INIT_PATH, "type": "bind", "source": tini, "options": ["bind", "ro"]})
    nofile = _nofile_limit()
    spec: dict = {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": process.terminal,
            "user": {"uid": process.uid, "gid": process.gid, "additionalGids": list(process.additional_gids)},
            "args": args,
            "env": list(process.env),
            "cwd": process.cwd or "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps,
                "inheritable": [], "ambient": [],
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": nofile, "soft": nofile}],
            "noNewPrivileges": host.no_new_privileges,
            "oomScoreAdj": 0,
        },
        "root": {"path": "rootfs", "readonly": host.readonly_rootfs},
        "hostname": host.hostname,
        "mounts": mounts,
        "linux": {
            "cgroupsPath": f"/dockyard/{host.container_id}",
            "resources": resources(host),
            "namespaces": _namespaces(host),
            "devices": [
                {"path": p, "type": "c", "major": ma, "minor": mi, "fileMode": 0o666, "uid": 0, "gid": 0}
                for p, ma, mi in DEFAULT_DEVICES
            ],
            "maskedPaths": [] if host.privileged else list(MASKED_PATHS),
            "readonlyPaths": [] if host.privileged else list(READONLY_PATHS),
        },
    }
    if process.terminal and process.console_size and all(process.console_size):
        spec["process"]["consoleSize"] = {"height": process.console_size[0], "width": process.console_size[1]}
    return spec


def _default_mounts(host: HostSettings) -> list[dict]:
    sys_opts = ["nosuid", "noexec", "nodev"] + ([] if host.privileged else ["ro"])
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]},
    ]
    for b in host.binds:
        opts = ["rbind", "rprivate"] + (["ro"] if b.readonly else [])
        mounts.append({"destination": b.destination, "type": "bind", "source": b.source, "options": opts})
    return mounts


# docker's device cgroup: deny everything, allow mknod of any device, and
# read/write on the nodes a container has (the defaults and the pty ones).
DEFAULT_DEVICE_RULES = (
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "major": None, "minor": None, "access": "m"},
    {"allow": True, "type": "b", "major": None, "minor": None, "access": "m"},
    *({"allow": True, "type": "c", "major": ma, "minor": mi, "access": "rwm"} for _p, ma, mi in DEFAULT_DEVICES),
    {"allow": True, "type": "c", "major": 5, "minor": 1, "access": "rwm"},  # /dev/console
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},  # /dev/ptmx
    {"allow": True, "type": "c", "major": 136, "minor": None, "access": "rwm"},  # /dev/pts/*
    {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"},  # /dev/net/tun
)


def resources(host: HostSettings) -> dict:
    res: dict = {}
    if host.privileged:
        res["devices"] = [{"allow": True, "access": "rwm"}]
    else:
        res["devices"] = [{k: v for k, v in rule.items() if v is not None} for rule in DEFAULT_DEVICE_RULES]
    if host.memory:
        if host.memory_swap == 0:
            swap = host.memory * 2  # docker's default: as much swap as memory
        else:
            swap = host.memory_swap
        res["memory"] = {"limit": host.memory, "swap": swap}
    cpu: dict = {}
    if host.nano_cpus:
        cpu["period"] = 100000
        cpu["quota"] = host.nano_cpus * 100000 // 1_000_000_000
    if host.cpu_shares:
        cpu["shares"] = host.cpu_shares
    if cpu:
        res["cpu"] = cpu
    if host.pids_limit and host.pids_limit > 0:
        res["pids"] = {"limit": host.pids_limit}
    return res


def _namespaces(host: HostSettings) -> list[dict]:
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "cgroup")]
    if host.network_namespace == "host":
        return namespaces
    net = {"type": "network"}
    if host.network_namespace:
        net["path"] = host.network_namespace
    namespaces.append(net)
    return namespaces
