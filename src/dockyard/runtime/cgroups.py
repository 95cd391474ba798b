"""Control groups: create a container's group, apply limits, read results.

Two hierarchies exist in the wild and this machine has both at once: cgroup
v1 controllers mounted one per directory (cpu, memory, pids, freezer, …) and
a v2 mount holding whatever controllers v1 did not claim.  A `Cgroup` works
on every hierarchy that has the controller it needs: limits go to the v1
directory when the controller lives in v1, to the v2 group otherwise.

The OCI spec's ``linux.cgroupsPath`` (``/dockyard/<id>``) names the group; it
is created under each hierarchy's root, the same place runc's cgroupfs driver
puts it, so a bundle means the same thing under every runtime.
"""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass

CGROUP_ROOT = "/sys/fs/cgroup"
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids", "freezer", "blkio", "cpuset", "devices")


@dataclass(frozen=True, slots=True)
class Hierarchies:
    """Where each controller lives: v1 mount points, and the v2 mount."""

    v1: dict  # controller name -> mount point
    v2: str | None  # mount point of the unified hierarchy
    v2_controllers: frozenset

    @staticmethod
    def detect() -> "Hierarchies":
        v1: dict[str, str] = {}
        v2 = None
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fields = left.split()
                fstype, _src, *opts = right.split()
                mount_point = fields[4]
                if fstype == "cgroup2" and v2 is None:
                    v2 = mount_point
                elif fstype == "cgroup":
                    for opt in opts[-1].split(","):
                        if opt in V1_CONTROLLERS:
                            v1.setdefault(opt, mount_point)
        controllers: frozenset = frozenset()
        if v2:
            try:
                with open(os.path.join(v2, "cgroup.controllers")) as f:
                    controllers = frozenset(f.read().split())
            except OSError:
                pass
        return Hierarchies(v1, v2, controllers)

    def controller_present(self, name: str) -> bool:
        return name in self.v1 or name in self.v2_controllers

    def hybrid(self) -> bool:
        """v1 controllers and a v2 hierarchy that holds controllers too."""
        return bool(self.v1) and bool(self.v2_controllers)

    def unified_only(self) -> bool:
        return not self.v1 and self.v2 is not None


_hierarchies: Hierarchies | None = None


def hierarchies() -> Hierarchies:
    global _hierarchies
    if _hierarchies is None:
        _hierarchies = Hierarchies.detect()
    return _hierarchies


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


class Cgroup:
    """One container's group across every hierarchy."""

    def __init__(self, path: str, h: Hierarchies | None = None):
        self.path = "/" + path.strip("/")
        self.h = h or hierarchies()

    def dirs(self) -> list[str]:
        seen: list[str] = []
        for mp in self.h.v1.values():
            d = mp + self.path
            if d not in seen:
                seen.append(d)
        if self.h.v2:
            seen.append(self.h.v2 + self.path)
        return seen

    def controller_dir(self, controller: str) -> str | None:
        if controller in self.h.v1:
            return self.h.v1[controller] + self.path
        if self.h.v2 and (controller in self.h.v2_controllers or controller in ("cgroup",)):
            return self.h.v2 + self.path
        return None

    def is_v2(self, controller: str) -> bool:
        return controller not in self.h.v1

    def create(self, resources: dict | None = None) -> None:
        for d in self.dirs():
            os.makedirs(d, exist_ok=True)
        cpuset = self.h.v1.get("cpuset")
        if cpuset:
            self._init_cpuset(cpuset)
        if self.h.v2 and self.h.v1 == {}:
            self._enable_v2_controllers()
        self.apply(resources or {})

    def _init_cpuset(self, mount_point: str) -> None:
        # A v1 cpuset group starts with no cpus and no memory nodes and
        # refuses tasks (ENOSPC) until both are set: inherit the parent's.
        parts = self.path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            d = os.path.join(mount_point, *parts[:i])
            parent = os.path.dirname(d)
            for name in ("cpuset.cpus", "cpuset.mems"):
                path = os.path.join(d, name)
                with open(path) as f:
                    if f.read().strip():
                        continue
                with open(os.path.join(parent, name)) as f:
                    _write(path, f.read().strip())

    def _enable_v2_controllers(self) -> None:
        # In a pure v2 hierarchy each ancestor must delegate the controllers.
        parts = self.path.strip("/").split("/")
        for i in range(len(parts)):
            parent = os.path.join(self.h.v2, *parts[:i])
            wanted = [c for c in ("cpu", "memory", "pids") if c in self.h.v2_controllers]
            for c in wanted:
                try:
                    _write(os.path.join(parent, "cgroup.subtree_control"), "+" + c)
                except OSError:
                    pass

    def apply(self, resources: dict) -> None:
        """Write the OCI ``linux.resources`` limits (memory, cpu, pids)."""
        memory = resources.get("memory") or {}
        limit = memory.get("limit")
        swap = memory.get("swap")
        if limit:
            d = self.controller_dir("memory")
            if d and not self.is_v2("memory"):
                # memsw must never be below the limit: raise it first when lowering.
                memsw = os.path.join(d, "memory.memsw.limit_in_bytes")
                limit_file = os.path.join(d, "memory.limit_in_bytes")
                if os.path.exists(memsw):
                    # memsw may never be below the limit: when raising the
                    # limit above the current memsw, memsw must go first.
                    try:
                        _write(limit_file, str(limit))
                        _write(memsw, str(swap if swap and swap > 0 else -1))
                    except OSError:
                        _write(memsw, str(swap if swap and swap > 0 else -1))
                        _write(limit_file, str(limit))
                else:
                    _write(limit_file, str(limit))
            elif d:
                _write(os.path.join(d, "memory.max"), str(limit))
                if swap is not None and os.path.exists(os.path.join(d, "memory.swap.max")):
                    _write(os.path.join(d, "memory.swap.max"), "max" if swap < 0 else str(max(swap - limit, 0)))
        cpu = resources.get("cpu") or {}
        quota, period, shares = cpu.get("quota"), cpu.get("period"), cpu.get("shares")
        d = self.controller_dir("cpu")
        if d and (quota or shares):
            if not self.is_v2("cpu"):
                if quota:
                    _write(os.path.join(d, "cpu.cfs_period_us"), str(period or 100000))
                    _write(os.path.join(d, "cpu.cfs_quota_us"), str(quota))
                if shares:
                    _write(os.path.join(d, "cpu.shares"), str(shares))
            else:
                if quota:
                    _write(os.path.join(d, "cpu.max"), f"{quota} {period or 100000}")
                if shares:
                    # the conversion runc and the kernel docs use
                    weight = 1 + ((shares - 2) * 9999) // 262142
                    _write(os.path.join(d, "cpu.weight"), str(weight))
        self._apply_devices(resources.get("devices") or [])
        pids = (resources.get("pids") or {}).get("limit")
        d = self.controller_dir("pids")
        if d and pids is not None:
            _write(os.path.join(d, "pids.max"), "max" if pids <= 0 else str(pids))

    def _apply_devices(self, rules: list[dict]) -> None:
        # Only v1 has a devices file interface; v2 needs an eBPF program,
        # which we do not load (noted in the issue).
        d = self.h.v1.get("devices")
        if not d or not rules:
            return
        d = d + self.path
        for rule in rules:
            kind = rule.get("type", "a")
            major = rule.get("major")
            minor = rule.get("minor")
            entry = "a" if kind == "a" or (major is None and minor is None and "type" not in rule) else (
                f"{kind} {'*' if major is None else major}:{'*' if minor is None else minor} {rule.get('access', 'rwm')}"
            )
            _write(os.path.join(d, "devices.allow" if rule.get("allow") else "devices.deny"), entry)

    def add(self, pid: int) -> None:
        """Move a process into the group in every hierarchy (0 means the caller)."""
        for d in self.dirs():
            _write(os.path.join(d, "cgroup.procs"), str(pid))

    # -- freezing (pause/unpause) ------------------------------------------------

    def freeze(self, timeout: float = 5.0) -> None:
        self._set_frozen(True, timeout)

    def thaw(self, timeout: float = 5.0) -> None:
        self._set_frozen(False, timeout)

    def _set_frozen(self, frozen: bool, timeout: float) -> None:
        d = self.controller_dir("freezer")
        if d and not self.is_v2("freezer"):
            state = os.path.join(d, "freezer.state")
            want = "FROZEN" if frozen else "THAWED"
            _write(state, want)
            # FREEZING means some task has not stopped yet: ask again until done.
            deadline = time.monotonic() + timeout
            while True:
                with open(state) as f:
                    if f.read().strip() == want:
                        return
                if time.monotonic() > deadline:
                    raise OSError(f"freezer: the container did not become {want.lower()} in {timeout:.0f}s")
                time.sleep(0.005)
                _write(state, want)
        elif self.h.v2:
            _write(os.path.join(self.h.v2 + self.path, "cgroup.freeze"), "1" if frozen else "0")
        else:
            raise OSError("no freezer controller: pause is not supported on this host")

    def oom_killed(self) -> bool:
        d = self.controller_dir("memory")
        if not d:
            return False
        name = "memory.events" if self.is_v2("memory") else "memory.oom_control"
        try:
            with open(os.path.join(d, name)) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill" and int(value) > 0:
                        return True
        except OSError:
            pass
        return False

    def pids(self) -> list[int]:
        d = self.controller_dir("pids") or self.dirs()[0]
        try:
            with open(os.path.join(d, "cgroup.procs")) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def remove(self, timeout: float = 2.0) -> None:
        """Remove the group everywhere; waits briefly for the last tasks to go."""
        deadline = time.monotonic() + timeout
        for d in self.dirs():
            while True:
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if e.errno != errno.EBUSY or time.monotonic() > deadline:
                        break
                    time.sleep(0.01)
