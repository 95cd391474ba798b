"""``run``/``create`` flags → the body of ``POST /containers/create``.

A pure pipeline, testable without a daemon:

    argv ──FlagSet.parse──▶ options + [IMAGE, COMMAND…]
         ──container_config──▶ {"Image": …, "HostConfig": {…},
                                "NetworkingConfig": {…}}          (API JSON)

The networking flags (``--network``, ``-p``, ``--dns``, …) and their part of
the body are ``netconfig``'s.

The mapping follows docker's CLI: ``--entrypoint ""`` sends ``[""]`` (which
clears the image's entrypoint), ``--env-file`` entries come before ``-e``
ones, ``-i`` with attached stdin sets ``StdinOnce``, ``-d`` clears the
Attach* fields, ``--init`` is only sent when given.
"""

from __future__ import annotations

import os

from dockyard.cli import units
from dockyard.cli.flags import FlagSet, Options, key_value_map
from dockyard.cli.mounts import parse_mount, tmpfs_map, volumes_and_binds
from dockyard.cli.netconfig import add_network_flags, network_config

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable


def validate_env(value: str) -> str:
    """docker's ValidateEnv: ``VAR`` alone takes its value from our environment."""
    key, eq, _ = value.partition("=")
    if not key:
        raise ValueError(f"invalid environment variable: {value}")
    if eq:
        return value
    if key in os.environ:
        return f"{key}={os.environ[key]}"
    return value


def parse_env_file(path: str, lookup: Callable[[str], str | None] = os.environ.get) -> list[str]:
    """Read a docker env file: ``VAR=value`` lines, ``#`` comments, blank lines.

    A line ``VAR`` alone passes the variable through from ``lookup`` and is
    dropped when unset.  Values are kept verbatim (no quotes removed, no
    trimming); leading whitespace of the line and a UTF-8 BOM are ignored.
    """
    with open(path, "rb") as fh:
        data = fh.read()
    result: list[str] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"env file {path} contains invalid utf8 bytes at line {number}: "
                             f"{list(raw)}") from None
        line = text.lstrip()
        if not line or line.startswith("#"):
            continue
        variable, eq, value = line.partition("=")
        variable = variable.lstrip(" \t")
        if " " in variable or "\t" in variable:
            raise ValueError(
                f"poorly formatted environment: variable '{variable}' contains whitespaces")
        if not variable:
            raise ValueError(f"poorly formatted environment: no variable name on line '{line}'")
        if eq:
            result.append(f"{variable}={value}")
        else:
            found = lookup(line)
            if found is not None:
                result.append(f"{variable.strip()}={found}")
    return result


def parse_restart_policy(text: str) -> dict[str, Any]:
    """``no``, ``always``, ``unless-stopped``, ``on-failure[:N]``."""
    name, colon, count = text.partition(":")
    if name not in ("", "no", "always", "unless-stopped", "on-failure"):
        raise ValueError(f"invalid restart policy: unknown policy '{name}'; use one of 'no', "
                         "'always', 'on-failure', or 'unless-stopped'")
    retries = 0
    if colon:
        if name != "on-failure":
            raise ValueError("invalid restart policy: maximum retry count can only be "
                             "used with 'on-failure'")
        try:
            retries = int(count)
        except ValueError:
            raise ValueError(f"invalid restart policy: invalid count '{count}'") from None
    return {"Name": name, "MaximumRetryCount": retries}


def nanoseconds(text: str) -> int:
    """A Go duration flag ("30s", "1m30s") in nanoseconds, as the API wants."""
    return int(round(units.go_duration(text) * 1_000_000_000))


def healthcheck(opts: Options) -> dict[str, Any] | None:
    """``--health-*`` / ``--no-healthcheck`` → Config.Healthcheck (docker's rules)."""
    durations = ("health_interval", "health_timeout", "health_start_period",
                 "health_start_interval")
    have = bool(opts.health_cmd) or opts.health_retries != 0 or any(
        getattr(opts, name) for name in durations)
    if opts.no_healthcheck:
        if have:
            raise ValueError("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not have:
        return None
    for name in durations + ("health_retries",):
        if (getattr(opts, name) or 0) < 0:
            raise ValueError(f"--{name.replace('_', '-')} cannot be negative")
    check: dict[str, Any] = {}
    if opts.health_cmd:
        check["Test"] = ["CMD-SHELL", opts.health_cmd]
    for name, key in (("health_interval", "Interval"), ("health_timeout", "Timeout"),
                      ("health_start_period", "StartPeriod"),
                      ("health_start_interval", "StartInterval")):
        if getattr(opts, name):
            check[key] = getattr(opts, name)
    if opts.health_retries:
        check["Retries"] = opts.health_retries
    return check


def log_config(opts: Options) -> dict[str, Any]:
    """``--log-driver`` / ``--log-opt k=v`` → HostConfig.LogConfig."""
    driver = opts.log_driver or ""
    config = dict(item.partition("=")[::2] for item in opts.log_opt)
    if driver == "none" and opts.log_opt:
        raise ValueError(f"invalid logging opts for driver {driver}")
    return {"Type": driver, "Config": config}


def add_container_flags(flags: FlagSet) -> FlagSet:
    """Declare the flags ``run`` and ``create`` share."""
    return (add_network_flags(flags)
            .list("attach", "a", "Attach to STDIN, STDOUT or STDERR")
            .list("cap-add", None, "Add Linux capabilities")
            .list("cap-drop", None, "Drop Linux capabilities")
            .string("cpus", None, "Number of CPUs", convert=units.nano_cpus, type_name="decimal")
            .string("entrypoint", None, "Overwrite the default ENTRYPOINT of the image")
            .list("env", "e", "Set environment variables", convert=validate_env)
            .list("env-file", None, "Read in a file of environment variables")
            .string("health-cmd", None, "Command to run to check health")
            .string("health-interval", None, "Time between running the check (ms|s|m|h) "
                    "(default 0s)", convert=nanoseconds, type_name="duration")
            .int("health-retries", None, "Consecutive failures needed to report unhealthy")
            .string("health-start-interval", None, "Time between running the check during the "
                    "start period (ms|s|m|h) (default 0s)", convert=nanoseconds,
                    type_name="duration")
            .string("health-start-period", None, "Start period for the container to initialize "
                    "before starting health-retries countdown (ms|s|m|h) (default 0s)",
                    convert=nanoseconds, type_name="duration")
            .string("health-timeout", None, "Maximum time to allow one check to run "
                    "(ms|s|m|h) (default 0s)", convert=nanoseconds, type_name="duration")
            .bool("init", None, "Run an init inside the container that forwards signals and "
                  "reaps processes")
            .bool("interactive", "i", "Keep STDIN open even if not attached")
            .list("label", "l", "Set meta data on a container")
            .list("label-file", None, "Read in a line delimited file of labels")
            .string("log-driver", None, "Logging driver for the container")
            .list("log-opt", None, "Log driver options")
            .list("mount", None, "Attach a filesystem mount to the container",
                  convert=parse_mount, type_name="mount")
            .string("memory", "m", "Memory limit", convert=units.ram_in_bytes, type_name="bytes")
            .string("memory-swap", None, "Swap limit equal to memory plus swap: '-1' to enable "
                    "unlimited swap", convert=units.mem_swap_bytes, type_name="bytes")
            .string("name", None, "Assign a name to the container")
            .bool("no-healthcheck", None, "Disable any container-specified HEALTHCHECK")
            .int("pids-limit", None, "Tune container pids limit (set -1 for unlimited)")
            .bool("privileged", None, "Give extended privileges to this container")
            .bool("read-only", None, "Mount the container's root filesystem as read only")
            .string("restart", None, "Restart policy to apply when a container exits",
                    default="no", convert=parse_restart_policy)
            .string("runtime", None, "Runtime to use for this container")
            .list("security-opt", None, "Security Options")
            .string("stop-signal", None, "Signal to stop the container")
            .int("stop-timeout", None, "Timeout (in seconds) to stop a container")
            .list("tmpfs", None, "Mount a tmpfs directory")
            .bool("tty", "t", "Allocate a pseudo-TTY")
            .string("user", "u", "Username or UID (format: <name|uid>[:<group|gid>])")
            .list("volume", "v", "Bind mount a volume")
            .list("volumes-from", None, "Mount volumes from the specified container(s)")
            .string("workdir", "w", "Working directory inside the container"))


def container_config(opts: Options, args: list[str], detach: bool = False,
                     auto_remove: bool = False) -> dict[str, Any]:
    """Build the create body from parsed flags and ``[IMAGE, COMMAND…]``.

    Raises ValueError with docker's message for inconsistent options.
    """
    image, command = args[0], args[1:]
    changed = opts.changed
    restart = opts.restart if isinstance(opts.restart, dict) else parse_restart_policy(
        opts.restart)
    if auto_remove and restart["Name"] not in ("", "no"):
        raise ValueError("conflicting options: cannot specify both --restart and --rm")
    attach = {a.lower() for a in opts.attach}
    for stream in attach:
        if stream not in ("stdin", "stdout", "stderr"):
            raise ValueError("valid streams are STDIN, STDOUT and STDERR")
    if detach and attach:
        raise ValueError("conflicting options: cannot specify both --attach and --detach")
    attach_stdin = "stdin" in attach or opts.interactive
    attach_stdout = "stdout" in attach or not attach
    attach_stderr = "stderr" in attach or not attach

    env: list[str] = []
    for path in opts.env_file:
        env += parse_env_file(path)
    env += opts.env
    labels: list[str] = []
    for path in opts.label_file:
        labels += parse_env_file(path, lambda _: None)
    labels += opts.label

    entrypoint: list[str] | None = None
    if opts.entrypoint:
        entrypoint = [opts.entrypoint]
    elif "entrypoint" in changed:
        entrypoint = [""]  # an explicitly empty --entrypoint resets the image's

    network = network_config(opts)

    config: dict[str, Any] = {
        **network.config,
        "User": opts.user or "",
        "AttachStdin": attach_stdin and not detach,
        "AttachStdout": attach_stdout and not detach,
        "AttachStderr": attach_stderr and not detach,
        "Tty": opts.tty,
        "OpenStdin": opts.interactive,
        "StdinOnce": opts.interactive and attach_stdin and not detach,
        "Env": env,
        "Cmd": command or None,
        "Image": image,
        "WorkingDir": opts.workdir or "",
        "Entrypoint": entrypoint,
        "Labels": key_value_map(labels),
    }
    volumes, binds = volumes_and_binds(opts.volume)
    if volumes:
        config["Volumes"] = volumes
    health = healthcheck(opts)
    if health is not None:
        config["Healthcheck"] = health
    if opts.stop_signal:
        config["StopSignal"] = opts.stop_signal
    if "stop_timeout" in changed:
        config["StopTimeout"] = opts.stop_timeout

    host: dict[str, Any] = {
        "Binds": binds or None,
        "VolumesFrom": opts.volumes_from or None,
        "LogConfig": log_config(opts),
        **network.host_config,
        "RestartPolicy": restart,
        "AutoRemove": auto_remove,
        "CapAdd": opts.cap_add or None,
        "CapDrop": opts.cap_drop or None,
        "Privileged": opts.privileged,
        "ReadonlyRootfs": opts.read_only,
        "SecurityOpt": opts.security_opt or None,
        "Runtime": opts.runtime or "",
        "Memory": opts.memory or 0,
        "MemorySwap": opts.memory_swap or 0,
        "NanoCpus": opts.cpus or 0,
    }
    if "pids_limit" in changed:
        host["PidsLimit"] = opts.pids_limit
    if "init" in changed:
        host["Init"] = opts.init
    if opts.tmpfs:
        host["Tmpfs"] = tmpfs_map(opts.tmpfs)
    if opts.mount:
        host["Mounts"] = opts.mount
    config["HostConfig"] = host
    if network.networking_config is not None:
        config["NetworkingConfig"] = network.networking_config
    return config
