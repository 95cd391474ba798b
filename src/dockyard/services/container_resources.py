"""Running containers' resources: pause/unpause, top, update, stats.

All of these act on the container's cgroup (runtime/cgroups.py), which is
at the same path under every runtime, so they work the same for containers
run by our runtime, runc or crun.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

from .. import errors
from ..runtime import cgroups, stats
from ..runtime import spec as oci
from ..units import format_rfc3339
from . import container_config as cc
from .container_state import Container
from .containers import ContainerService

# What `docker update` may change, and what docker calls the fields.
UPDATABLE = ("Memory", "MemorySwap", "NanoCpus", "CpuShares", "PidsLimit", "RestartPolicy",
             "CpuQuota", "CpuPeriod", "MemoryReservation", "BlkioWeight", "CpusetCpus", "CpusetMems")


class ContainerResources:
    def __init__(self, containers: ContainerService):
        self.containers = containers

    def _group(self, c: Container) -> cgroups.Cgroup:
        return cgroups.Cgroup(f"/dockyard/{c.id}")

    def _need_running(self, c: Container) -> None:
        if not c.state.running:
            raise errors.Conflict(f"Container {c.id} is not running")

    # -- pause ---------------------------------------------------------------------

    async def pause(self, ref: str) -> None:
        c = self.containers.get(ref)
        self._need_running(c)
        if c.state.status == "paused":
            raise errors.Conflict(f"Container {c.id} is already paused")
        try:
            await asyncio.to_thread(self._group(c).freeze)
        except OSError as e:
            raise errors.SystemError(f"cannot pause container {c.id}: {e}") from None
        c.state.status = "paused"
        self.containers.save(c)
        self.containers.event(c, "pause")

    async def unpause(self, ref: str) -> None:
        c = self.containers.get(ref)
        if c.state.status != "paused":
            raise errors.Conflict(f"Container {c.id} is not paused")
        try:
            await asyncio.to_thread(self._group(c).thaw)
        except OSError as e:
            raise errors.SystemError(f"cannot unpause container {c.id}: {e}") from None
        c.state.status = "running"
        self.containers.save(c)
        self.containers.event(c, "unpause")

    # -- top -----------------------------------------------------------------------

    async def top(self, ref: str, ps_args: str | None) -> dict:
        """docker's top: the host's ps, limited to the container's processes."""
        c = self.containers.get(ref)
        self._need_running(c)
        pids = set(self._group(c).pids())
        args = ["ps", *((ps_args or "-ef").split())]
        proc = await asyncio.create_subprocess_exec(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise errors.SystemError(f"Error running ps: {err.decode().strip()}")
        lines = out.decode().splitlines()
        titles = lines[0].split()
        try:
            pid_col = titles.index("PID")
        except ValueError:
            raise errors.InvalidArgument("Couldn't find PID field in ps output") from None
        processes = []
        for line in lines[1:]:
            fields = line.split(None, len(titles) - 1)
            if len(fields) > pid_col and fields[pid_col].isdigit() and int(fields[pid_col]) in pids:
                processes.append(fields)
        return {"Titles": titles, "Processes": processes}

    # -- update --------------------------------------------------------------------

    async def update(self, ref: str, body: dict) -> dict:
        c = self.containers.get(ref)
        if not isinstance(body, dict):
            raise errors.InvalidArgument("invalid JSON: expected an object")
        changes = {k: v for k, v in body.items() if k in UPDATABLE and v not in (None, "")}
        new_hc = dict(c.host_config)
        new_hc.update(changes)
        if "RestartPolicy" in changes and c.host_config.get("AutoRemove") and \
                (changes["RestartPolicy"] or {}).get("Name") not in (None, "", "no"):
            raise errors.InvalidArgument("Restart policy cannot be updated because AutoRemove is enabled for the container")
        new_hc = cc.validate_host_config(new_hc)
        if c.state.running:
            old = oci.resources(cc.host_settings(c.id, c.config, c.host_config, []))
            new = oci.resources(cc.host_settings(c.id, c.config, new_hc, []))
            new.pop("devices", None)
            if not new.get("memory") and old.get("memory"):
                new["memory"] = {"limit": -1, "swap": -1}
            if not new.get("pids") and old.get("pids"):
                new["pids"] = {"limit": 0}
            if not new.get("cpu") and old.get("cpu"):
                new["cpu"] = {"quota": -1, "period": 100000}
            group = self._group(c)
            try:
                await asyncio.to_thread(group.apply, new)
            except OSError as e:
                old.pop("devices", None)
                try:
                    await asyncio.to_thread(group.apply, old)
                except OSError:
                    pass
                raise errors.InvalidArgument(f"Cannot update container {c.id}: {e.strerror or e}") from None
        c.host_config = new_hc
        self.containers.save_config(c)
        self.containers.event(c, "update")
        return {"Warnings": []}

    # -- stats ---------------------------------------------------------------------

    def _sample(self, c: Container) -> dict:
        doc = stats.sample(self._group(c), c.state.pid if c.state.running else 0) if c.state.running else {
            "pids_stats": {}, "blkio_stats": {}, "cpu_stats": {"cpu_usage": {"total_usage": 0}, "system_cpu_usage": 0},
            "memory_stats": {}, "num_procs": 0, "storage_stats": {}}
        doc["read"] = format_rfc3339(time.time_ns())
        doc["name"] = "/" + c.name
        doc["id"] = c.id
        return doc

    async def stats(self, ref: str, stream: bool, one_shot: bool):
        """An async iterator of stats documents, as JSON lines."""
        c = self.containers.get(ref)
        empty_pre = {"cpu_usage": {"total_usage": 0}, "system_cpu_usage": 0, "throttling_data": {}}
        pre = self._sample(c)
        pre_read = pre["read"]
        if not stream and not one_shot:
            # docker waits for a second sample so the client can compute CPU %
            await asyncio.sleep(1.0)
        elif not stream:
            pre["precpu_stats"] = empty_pre
            pre["preread"] = "0001-01-01T00:00:00Z"
            yield json.dumps(pre).encode() + b"\n"
            return
        else:
            pre["precpu_stats"] = empty_pre
            pre["preread"] = "0001-01-01T00:00:00Z"
            yield json.dumps(pre).encode() + b"\n"
            await asyncio.sleep(1.0)
        while True:
            doc = self._sample(c)
            doc["precpu_stats"] = pre["cpu_stats"]
            doc["preread"] = pre_read
            yield json.dumps(doc).encode() + b"\n"
            if not stream or not self.containers.is_running(c):
                return
            pre, pre_read = doc, doc["read"]
            await asyncio.sleep(1.0)
