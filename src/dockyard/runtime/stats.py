"""A container's resource usage from its cgroup, in the Engine API's stats shape.

Reads whichever hierarchy holds each controller (cgroup v1 files such as
cpuacct.usage and memory.stat, or their v2 counterparts cpu.stat and
memory.current), plus the host's /proc/stat for the system CPU time the
client divides by, and the container's /proc/<pid>/net/dev for network I/O.
"""

from __future__ import annotations

import os

from .cgroups import Cgroup

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_NS_PER_TICK = 1_000_000_000 // _CLK_TCK


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _int(path: str, default: int = 0) -> int:
    text = _read(path)
    if text is None:
        return default
    text = text.strip()
    return default if text in ("", "max") else int(text.split()[0])


def _keyed(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (_read(path) or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def system_cpu_usage() -> int:
    """Host CPU time in nanoseconds, as docker computes it from /proc/stat."""
    for line in (_read("/proc/stat") or "").splitlines():
        if line.startswith("cpu "):
            return sum(int(x) for x in line.split()[1:8]) * _NS_PER_TICK
    return 0


def cpu_stats(group: Cgroup) -> dict:
    d = group.controller_dir("cpuacct") if "cpuacct" in group.h.v1 else group.controller_dir("cpu")
    usage: dict = {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0}
    throttling = {"periods": 0, "throttled_periods": 0, "throttled_time": 0}
    if d and not group.is_v2("cpuacct" if "cpuacct" in group.h.v1 else "cpu"):
        usage["total_usage"] = _int(os.path.join(d, "cpuacct.usage"))
        percpu = (_read(os.path.join(d, "cpuacct.usage_percpu")) or "").split()
        if percpu:
            usage["percpu_usage"] = [int(x) for x in percpu]
        ticks = _keyed(os.path.join(d, "cpuacct.stat"))
        usage["usage_in_usermode"] = ticks.get("user", 0) * _NS_PER_TICK
        usage["usage_in_kernelmode"] = ticks.get("system", 0) * _NS_PER_TICK
        cpu_dir = group.controller_dir("cpu")
        if cpu_dir:
            t = _keyed(os.path.join(cpu_dir, "cpu.stat"))
            throttling = {"periods": t.get("nr_periods", 0), "throttled_periods": t.get("nr_throttled", 0),
                          "throttled_time": t.get("throttled_time", 0)}
    elif d:
        t = _keyed(os.path.join(d, "cpu.stat"))
        usage = {"total_usage": t.get("usage_usec", 0) * 1000, "usage_in_kernelmode": t.get("system_usec", 0) * 1000,
                 "usage_in_usermode": t.get("user_usec", 0) * 1000}
        throttling = {"periods": t.get("nr_periods", 0), "throttled_periods": t.get("nr_throttled", 0),
                      "throttled_time": t.get("throttled_usec", 0) * 1000}
    return {"cpu_usage": usage, "system_cpu_usage": system_cpu_usage(), "online_cpus": os.cpu_count() or 1,
            "throttling_data": throttling}


def memory_stats(group: Cgroup) -> dict:
    d = group.controller_dir("memory")
    if not d:
        return {}
    if not group.is_v2("memory"):
        limit = _int(os.path.join(d, "memory.limit_in_bytes"))
        return {
            "usage": _int(os.path.join(d, "memory.usage_in_bytes")),
            "max_usage": _int(os.path.join(d, "memory.max_usage_in_bytes")),
            "failcnt": _int(os.path.join(d, "memory.failcnt")),
            "stats": _keyed(os.path.join(d, "memory.stat")),
            # an unlimited v1 group reports a huge number: show the host's memory, as docker does
            "limit": min(limit, _host_memory()) if limit else _host_memory(),
        }
    limit = _int(os.path.join(d, "memory.max"), 0)
    return {
        "usage": _int(os.path.join(d, "memory.current")),
        "stats": _keyed(os.path.join(d, "memory.stat")),
        "limit": limit or _host_memory(),
    }


def _host_memory() -> int:
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def pids_stats(group: Cgroup) -> dict:
    d = group.controller_dir("pids")
    if not d:
        return {}
    stats = {"current": _int(os.path.join(d, "pids.current"))}
    limit = (_read(os.path.join(d, "pids.max")) or "").strip()
    if limit and limit != "max":
        stats["limit"] = int(limit)
    return stats


def blkio_stats(group: Cgroup) -> dict:
    entries = []
    d = group.controller_dir("blkio")
    if d and not group.is_v2("blkio"):
        for line in (_read(os.path.join(d, "blkio.throttle.io_service_bytes")) or "").splitlines():
            parts = line.split()
            if len(parts) == 3 and ":" in parts[0]:
                major, minor = parts[0].split(":")
                entries.append({"major": int(major), "minor": int(minor), "op": parts[1].lower(), "value": int(parts[2])})
    else:
        io = group.controller_dir("io")
        for line in ((_read(os.path.join(io, "io.stat")) or "") if io else "").splitlines():
            dev, *fields = line.split()
            major, minor = dev.split(":")
            kv = dict(f.split("=") for f in fields if "=" in f)
            for op, key in (("read", "rbytes"), ("write", "wbytes")):
                entries.append({"major": int(major), "minor": int(minor), "op": op, "value": int(kv.get(key, 0))})
    return {"io_service_bytes_recursive": entries or None, "io_serviced_recursive": None,
            "io_queue_recursive": None, "io_service_time_recursive": None, "io_wait_time_recursive": None,
            "io_merged_recursive": None, "io_time_recursive": None, "sectors_recursive": None}


def network_stats(pid: int) -> dict:
    networks = {}
    for line in (_read(f"/proc/{pid}/net/dev") or "").splitlines()[2:]:
        name, _, rest = line.partition(":")
        name = name.strip()
        if name == "lo" or not rest:
            continue
        v = [int(x) for x in rest.split()]
        networks[name] = {
            "rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
            "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10], "tx_dropped": v[11],
        }
    return networks


def sample(group: Cgroup, pid: int) -> dict:
    """One stats sample, without the `read`/`precpu_stats` fields the caller adds."""
    doc = {
        "pids_stats": pids_stats(group),
        "blkio_stats": blkio_stats(group),
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu_stats(group),
        "memory_stats": memory_stats(group),
    }
    if pid:
        doc["networks"] = network_stats(pid)
    return doc
