"""Commands that read or change a container's settings after its creation:
``rename``, ``update`` and ``port``."""

from __future__ import annotations

import re

from dockyard import errors
from dockyard.cli import units
from dockyard.cli.flags import FlagSet
from dockyard.cli.runconfig import parse_restart_policy
from dockyard.cli.session import Session, StatusError, describe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.flags import Options


def cmd_rename(session: Session, argv: list[str]) -> int:
    flags = FlagSet("rename", "CONTAINER NEW_NAME", "Rename a container", min_args=2,
                    max_args=2, aliases=["container rename", "rename"])
    _, (old, new) = flags.parse(argv)
    old, new = old.strip(), new.strip()
    if not old or not new:
        raise StatusError("Error: Neither old nor new names may be empty", 1)
    try:
        session.client.post(f"/containers/{old}/rename", {"name": new})
    except errors.DockyardError as exc:
        session.err(describe(exc))
        raise StatusError(f"Error: failed to rename container named {old}", 1) from None
    return 0


def update_flags() -> FlagSet:
    flags = FlagSet("update", "[OPTIONS] CONTAINER [CONTAINER...]",
                    "Update configuration of one or more containers", min_args=1,
                    aliases=["container update", "update"])
    flags.int("blkio-weight", None, "Block IO (relative weight), between 10 and 1000, or 0 to "
              "disable (default 0)", type_name="uint16")
    flags.int("cpu-period", None, "Limit CPU CFS (Completely Fair Scheduler) period")
    flags.int("cpu-quota", None, "Limit CPU CFS (Completely Fair Scheduler) quota")
    flags.int("cpu-rt-period", None, "Limit the CPU real-time period in microseconds")
    flags.int("cpu-rt-runtime", None, "Limit the CPU real-time runtime in microseconds")
    flags.int("cpu-shares", "c", "CPU shares (relative weight)")
    flags.string("cpus", None, "Number of CPUs", convert=units.nano_cpus, type_name="decimal")
    flags.string("cpuset-cpus", None, "CPUs in which to allow execution (0-3, 0,1)")
    flags.string("cpuset-mems", None, "MEMs in which to allow execution (0-3, 0,1)")
    flags.string("kernel-memory", None, "Kernel memory limit (deprecated)",
                 convert=units.ram_in_bytes, type_name="bytes", hidden=True)
    flags.string("memory", "m", "Memory limit", convert=units.ram_in_bytes, type_name="bytes")
    flags.string("memory-reservation", None, "Memory soft limit", convert=units.ram_in_bytes,
                 type_name="bytes")
    flags.string("memory-swap", None, "Swap limit equal to memory plus swap: -1 to enable "
                 "unlimited swap", convert=units.mem_swap_bytes, type_name="bytes")
    flags.int("pids-limit", None, "Tune container pids limit (set -1 for unlimited)")
    flags.string("restart", None, "Restart policy to apply when a container exits")
    return flags


def update_config(opts: Options) -> dict[str, Any]:
    """The body of ``POST /containers/{id}/update``, docker's UpdateConfig.

    As in docker, every resource is sent and 0 (or "") means "leave it as
    it is"; ``PidsLimit`` is sent only when non-zero, ``RestartPolicy``
    always (an empty ``Name`` leaves the policy unchanged).
    """
    restart = {"Name": "", "MaximumRetryCount": 0}
    if opts.restart:
        restart = parse_restart_policy(opts.restart)
    body: dict[str, Any] = {
        "BlkioWeight": opts.blkio_weight,
        "CpuPeriod": opts.cpu_period,
        "CpuQuota": opts.cpu_quota,
        "CpuRealtimePeriod": opts.cpu_rt_period,
        "CpuRealtimeRuntime": opts.cpu_rt_runtime,
        "CpuShares": opts.cpu_shares,
        "CpusetCpus": opts.cpuset_cpus or "",
        "CpusetMems": opts.cpuset_mems or "",
        "KernelMemory": opts.kernel_memory or 0,
        "Memory": opts.memory or 0,
        "MemoryReservation": opts.memory_reservation or 0,
        "MemorySwap": opts.memory_swap or 0,
        "NanoCpus": opts.cpus or 0,
        "RestartPolicy": restart,
    }
    if opts.pids_limit:
        body["PidsLimit"] = opts.pids_limit
    return body


def cmd_update(session: Session, argv: list[str]) -> int:
    opts, names = update_flags().parse(argv)
    if not opts.changed:
        raise StatusError("you must provide one or more flags when using this command", 1)
    try:
        body = update_config(opts)
    except ValueError as exc:
        raise StatusError(str(exc), 1) from None
    warnings: list[str] = []
    failures: list[str] = []
    for name in names:
        try:
            response = session.client.post(f"/containers/{name}/update", None, body) or {}
        except errors.DockyardError as exc:
            failures.append(describe(exc))
            continue
        session.out(name)
        warnings += response.get("Warnings") or []
    if warnings:
        # docker prints them on stdout, after the names.
        session.out("\n".join(warnings))
    if failures:
        raise StatusError("\n".join(failures), 1)
    return 0


def natural_key(text: str) -> list[Any]:
    """Sort key of docker's sortorder.NaturalLess: digit runs compare as numbers."""
    return [int(part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", text))]


def _join_host_port(host: str, port: str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def port_lines(ports: dict[str, Any], wanted: str | None = None,
               container: str = "") -> list[str]:
    """docker port's output from inspect's ``NetworkSettings.Ports``.

    Without ``wanted``: ``80/tcp -> 0.0.0.0:8080`` for every binding; with
    it (``80`` means ``80/tcp``): just ``0.0.0.0:8080``.  Naturally sorted.
    """
    out: list[str] = []
    if wanted:
        port, _, proto = wanted.partition("/")
        if not port.isdigit() or int(port) > 65535:
            reason = "value out of range" if port.isdigit() else "invalid syntax"
            raise StatusError(f'Error: invalid port ({port}): strconv.ParseUint: parsing '
                              f'"{port}": {reason}', 1)
        bindings = ports.get(f"{port}/{proto or 'tcp'}") or []
        if not bindings:
            raise StatusError(f"Error: No public port '{wanted}' published for {container}", 1)
        out = [_join_host_port(b.get("HostIp", ""), b.get("HostPort", "")) for b in bindings]
    else:
        for key, bindings in ports.items():
            for b in bindings or []:
                out.append(f"{key} -> {_join_host_port(b.get('HostIp', ''), b.get('HostPort', ''))}")
    return sorted(out, key=natural_key)


def cmd_port(session: Session, argv: list[str]) -> int:
    flags = FlagSet("port", "CONTAINER [PRIVATE_PORT[/PROTO]]",
                    "List port mappings or a specific mapping for the container", min_args=1,
                    max_args=2, aliases=["container port", "port"])
    _, args = flags.parse(argv)
    info = session.client.get(f"/containers/{args[0]}/json") or {}
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    lines = port_lines(ports, args[1] if len(args) > 1 else None, args[0])
    if lines:
        session.out("\n".join(lines))
    return 0
