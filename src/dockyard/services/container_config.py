"""From an Engine API create request to a container's recorded configuration.

`merge_config` applies docker's rules for combining the request with the
image's config (command and entrypoint, environment, labels, working
directory, user); `validate_host_config` refuses what docker refuses, with
docker's words; `process_settings`/`host_settings` turn the record into the
runtime's typed inputs when the container starts.
"""

from __future__ import annotations

import os
import re
import signal as _signal

from .. import errors
from ..runtime import capabilities
from ..runtime.spec import DEFAULT_PATH, BindMount, HostSettings, ProcessSettings
from ..runtime.users import resolve as resolve_user

NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
KNOWN_RUNTIMES = {"runc": "runc", "crun": "crun", "dockyard": "dockyard"}
MIN_MEMORY = 6 * 1024 * 1024

# Settings accepted by docker that dockyard does not apply yet: refused rather
# than silently ignored.
UNSUPPORTED = {
    "CpusetCpus": "--cpuset-cpus", "CpusetMems": "--cpuset-mems", "BlkioWeight": "--blkio-weight",
    "BlkioWeightDevice": "--blkio-weight-device", "BlkioDeviceReadBps": "--device-read-bps",
    "BlkioDeviceWriteBps": "--device-write-bps", "BlkioDeviceReadIOps": "--device-read-iops",
    "BlkioDeviceWriteIOps": "--device-write-iops", "CpuRealtimePeriod": "--cpu-rt-period",
    "CpuRealtimeRuntime": "--cpu-rt-runtime", "Devices": "--device", "DeviceCgroupRules": "--device-cgroup-rule",
    "DeviceRequests": "--gpus", "OomKillDisable": "--oom-kill-disable",
}


def validate_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise errors.InvalidArgument(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name.lstrip("/")


def merge_config(request: dict, image_config: dict) -> dict:
    """The container's Config: the request, completed from the image as docker does."""
    img = image_config.get("config") or image_config.get("Config") or {}
    cfg = dict(request)
    for key in ("Image",):
        cfg.setdefault(key, request.get(key))
    entrypoint = request.get("Entrypoint")
    cmd = request.get("Cmd")
    if isinstance(entrypoint, str):
        entrypoint = [entrypoint]
    if isinstance(cmd, str):
        cmd = [cmd]
    # moby's merge(): an entrypoint given by the user drops the image's CMD.
    if not entrypoint:
        if not cmd:
            cmd = img.get("Cmd")
        if entrypoint is None:
            entrypoint = img.get("Entrypoint")
    cfg["Entrypoint"] = entrypoint or None
    cfg["Cmd"] = cmd or None
    env = list(img.get("Env") or [])
    keys = {e.split("=", 1)[0]: i for i, e in enumerate(env)}
    for e in request.get("Env") or []:
        k = e.split("=", 1)[0]
        if k in keys:
            env[keys[k]] = e
        else:
            keys[k] = len(env)
            env.append(e)
    cfg["Env"] = env
    labels = dict(img.get("Labels") or {})
    labels.update(request.get("Labels") or {})
    cfg["Labels"] = labels
    for key in ("WorkingDir", "User", "StopSignal"):
        if not cfg.get(key):
            cfg[key] = img.get(key) or ""
    for key in ("ExposedPorts", "Volumes", "Healthcheck", "OnBuild"):
        if not cfg.get(key) and img.get(key):
            cfg[key] = img.get(key)
    for key, default in (
        ("Hostname", ""), ("Domainname", ""), ("AttachStdin", False), ("AttachStdout", False),
        ("AttachStderr", False), ("Tty", False), ("OpenStdin", False), ("StdinOnce", False),
    ):
        cfg.setdefault(key, default)
    if cfg.get("WorkingDir") and not cfg["WorkingDir"].startswith("/"):
        raise errors.InvalidArgument(
            f"the working directory '{cfg['WorkingDir']}' is invalid, it needs to be an absolute path"
        )
    return cfg


def command_line(cfg: dict) -> list[str]:
    """Entrypoint + Cmd: the process docker would run; empty means nothing to run."""
    entrypoint = [a for a in (cfg.get("Entrypoint") or [])]
    if entrypoint == [""]:
        entrypoint = []
    argv = entrypoint + list(cfg.get("Cmd") or [])
    return argv


def validate_host_config(hc: dict) -> dict:
    hc = dict(hc or {})
    memory = int(hc.get("Memory") or 0)
    if memory and memory < MIN_MEMORY:
        raise errors.InvalidArgument("Minimum memory limit allowed is 6MB")
    swap = int(hc.get("MemorySwap") or 0)
    if memory and swap > 0 and swap < memory:
        raise errors.InvalidArgument(
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        )
    if swap and not memory and swap != -1:
        raise errors.InvalidArgument("You should always set the Memory limit when using Memoryswap limit, see usage")
    nano = int(hc.get("NanoCpus") or 0)
    ncpu = os.cpu_count() or 1
    if nano < 0 or nano > ncpu * 1_000_000_000:
        raise errors.InvalidArgument(
            f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )
    if hc.get("PidsLimit") is not None and int(hc.get("PidsLimit") or 0) < -1:
        raise errors.InvalidArgument("invalid PIDs limit")
    runtime = hc.get("Runtime") or "dockyard"
    if runtime not in KNOWN_RUNTIMES:
        raise errors.InvalidArgument(f"unknown or invalid runtime name: {runtime}")
    hc["Runtime"] = runtime
    for key in ("CapAdd", "CapDrop"):
        for cap in hc.get(key) or []:
            capabilities.normalize(cap)
    for opt in hc.get("SecurityOpt") or []:
        name = opt.split("=", 1)[0].split(":", 1)[0]
        if name not in ("no-new-privileges", "seccomp", "apparmor", "label"):
            raise errors.InvalidArgument(f"invalid --security-opt 2: \"{opt}\"")
    for key, flag in UNSUPPORTED.items():
        if hc.get(key):
            raise errors.InvalidArgument(f"{flag} is not supported by dockyard yet")
    for opt in hc.get("SecurityOpt") or []:
        name, _, value = opt.replace(":", "=", 1).partition("=")
        if name == "seccomp" and value != "unconfined":
            raise errors.InvalidArgument("seccomp profiles are not supported by dockyard yet (only seccomp=unconfined)")
    mode = hc.get("NetworkMode") or "default"
    hc["NetworkMode"] = "bridge" if mode == "default" else mode  # services/networks.py checks the rest
    policy = hc.get("RestartPolicy") or {}
    if policy.get("Name") not in (None, "", "no", "always", "unless-stopped", "on-failure"):
        raise errors.InvalidArgument(f"invalid restart policy '{policy.get('Name')}'")
    if hc.get("AutoRemove") and policy.get("Name") not in (None, "", "no"):
        raise errors.InvalidArgument("can't create 'AutoRemove' container with restart policy")
    hc.setdefault("RestartPolicy", {"Name": "no", "MaximumRetryCount": 0})
    hc["LogConfig"] = validate_log_config(hc.get("LogConfig"))
    for key, default in (
        ("Binds", None), ("Privileged", False), ("ReadonlyRootfs", False), ("AutoRemove", False),
        ("CapAdd", None), ("CapDrop", None), ("Memory", 0), ("MemorySwap", 0), ("NanoCpus", 0),
        ("CpuShares", 0), ("PidsLimit", None), ("PortBindings", {}), ("Init", None),
    ):
        hc.setdefault(key, default)
    return hc


LOG_OPTS = ("max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag")
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """docker's RAMInBytes: 10m, 1.5g, 512k, 100 (binary multiples)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmgtKMGT]?)[iI]?[bB]?", str(text).strip())
    if not m:
        raise errors.InvalidArgument(f"invalid size: '{text}'")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])


def validate_log_config(log_config: dict | None) -> dict:
    log_config = dict(log_config or {})
    kind = log_config.get("Type") or "json-file"
    opts = dict(log_config.get("Config") or {})
    if kind not in ("json-file", "local"):
        raise errors.InvalidArgument(f'logger: no log driver named \'{kind}\' is registered')
    for key in opts:
        if key not in LOG_OPTS:
            raise errors.InvalidArgument(f"unknown log opt '{key}' for json-file log driver")
    if opts.get("max-size"):
        if parse_size(opts["max-size"]) <= 0:
            raise errors.InvalidArgument("max-size must be a positive number")
    if opts.get("max-file"):
        try:
            if int(opts["max-file"]) < 1:
                raise ValueError
        except ValueError:
            raise errors.InvalidArgument("max-file cannot be less than 1") from None
        if int(opts["max-file"]) > 1 and not opts.get("max-size"):
            raise errors.InvalidArgument("max-file cannot be set without max-size")
    return {"Type": "json-file", "Config": opts}


def process_settings(cfg: dict, argv: list[str], read_file, console_size=None) -> ProcessSettings:
    """`read_file(path) -> bytes|None` reads from the container's filesystem."""
    user = resolve_user(cfg.get("User") or "", read_file("/etc/passwd"), read_file("/etc/group"))
    env = list(cfg.get("Env") or [])
    names = {e.split("=", 1)[0] for e in env}
    if "PATH" not in names:
        env.insert(0, f"PATH={DEFAULT_PATH}")
    if "HOSTNAME" not in names and cfg.get("Hostname"):
        env.append(f"HOSTNAME={cfg['Hostname']}")
    if cfg.get("Tty") and "TERM" not in names:
        env.append("TERM=xterm")
    if "HOME" not in names:
        env.append(f"HOME={user.home}")
    return ProcessSettings(
        args=argv,
        env=env,
        cwd=cfg.get("WorkingDir") or "/",
        uid=user.uid,
        gid=user.gid,
        additional_gids=list(user.additional_gids),
        terminal=bool(cfg.get("Tty")),
        console_size=tuple(console_size or ()),
    )


def host_settings(container_id: str, cfg: dict, hc: dict, binds: list[BindMount],
                  network_namespace: str | None = None) -> HostSettings:
    """``network_namespace``: "host", a namespace file to join, or None for a new one."""
    security = hc.get("SecurityOpt") or []
    no_new_privs = any(
        o in ("no-new-privileges", "no-new-privileges=true", "no-new-privileges:true") for o in security
    )
    return HostSettings(
        container_id=container_id,
        hostname=cfg.get("Hostname") or container_id[:12],
        memory=int(hc.get("Memory") or 0),
        memory_swap=int(hc.get("MemorySwap") or 0),
        nano_cpus=int(hc.get("NanoCpus") or 0),
        cpu_shares=int(hc.get("CpuShares") or 0),
        pids_limit=int(hc.get("PidsLimit") or 0),
        cap_add=tuple(hc.get("CapAdd") or ()),
        cap_drop=tuple(hc.get("CapDrop") or ()),
        privileged=bool(hc.get("Privileged")),
        readonly_rootfs=bool(hc.get("ReadonlyRootfs")),
        no_new_privileges=no_new_privs,
        init=bool(hc.get("Init")),
        binds=tuple(binds),
        network_namespace=network_namespace,
    )


def parse_signal(value, default: int = _signal.SIGTERM) -> int:
    """``SIGKILL`` / ``KILL`` / ``9`` → 9; an unknown name → InvalidArgument."""
    if value in (None, ""):
        return default
    text = str(value).strip().upper()
    if text.isdigit():
        num = int(text)
        if 0 < num < 65:
            return num
    else:
        name = text if text.startswith("SIG") else "SIG" + text
        if hasattr(_signal.Signals, name):
            return int(getattr(_signal.Signals, name))
        if name.startswith("SIGRTMIN") or name.startswith("SIGRTMAX"):
            pass
    raise errors.InvalidArgument(f"Invalid signal: {value}")
