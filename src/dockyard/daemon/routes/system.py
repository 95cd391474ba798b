"""/_ping, /version, /info and /events."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import time

from ... import __version__
from ...runtime import cgroups
from ...services.events import EventBus
from ...units import now_rfc3339, parse_timestamp
from ..filters import parse_filters
from ..http import API_VERSION, MIN_API_VERSION, Request, Response, Router, StreamResponse, json_response


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def _mem_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def register(router: Router, *, events: EventBus, counts, data_root: str, daemon_id: str) -> None:
    """`counts()` returns (containers, running, paused, stopped, images)."""

    async def ping(req: Request):
        return Response(200, b"OK", content_type="text/plain; charset=utf-8",
                        headers=[("Cache-Control", "no-cache, no-store, must-revalidate"), ("Pragma", "no-cache"),
                                 ("Builder-Version", "1")])

    def version_doc() -> dict:
        uname = platform.uname()
        return {
            "Platform": {"Name": "dockyard"},
            "Components": [{
                "Name": "Engine",
                "Version": __version__,
                "Details": {
                    "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Arch": "amd64",
                    "Os": "linux", "KernelVersion": uname.release, "GitCommit": "", "GoVersion": "",
                    "Experimental": "false", "BuildTime": "",
                },
            }],
            "Version": __version__,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "",
            "GoVersion": f"python{platform.python_version()}",
            "Os": "linux",
            "Arch": "amd64",
            "KernelVersion": uname.release,
            "BuildTime": "",
        }

    async def version(req: Request):
        return json_response(version_doc())

    async def info(req: Request):
        total, running, paused, stopped, images = counts()
        h = cgroups.hierarchies()
        uname = platform.uname()
        doc = {
            "ID": daemon_id,
            "Containers": total,
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": stopped,
            "Images": images,
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"],
                        "Authorization": None, "Log": ["json-file"]},
            "MemoryLimit": h.controller_present("memory"),
            "SwapLimit": h.controller_present("memory"),
            "CpuCfsPeriod": h.controller_present("cpu"),
            "CpuCfsQuota": h.controller_present("cpu"),
            "CPUShares": h.controller_present("cpu"),
            "CPUSet": h.controller_present("cpuset"),
            "PidsLimit": h.controller_present("pids"),
            "IPv4Forwarding": True,
            "Debug": False,
            "NFd": len(os.listdir("/proc/self/fd")),
            "OomKillDisable": False,
            "NGoroutines": 1,
            "SystemTime": now_rfc3339(),
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": "2" if h.unified_only() else "1",
            "NEventsListener": 0,
            "KernelVersion": uname.release,
            "OperatingSystem": _os_name(),
            "OSVersion": "",
            "OSType": "linux",
            "Architecture": uname.machine,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": ["127.0.0.0/8"], "Mirrors": []},
            "NCPU": os.cpu_count(),
            "MemTotal": _mem_total(),
            "GenericResources": None,
            "DockerRootDir": data_root,
            "HttpProxy": os.environ.get("HTTP_PROXY", ""),
            "HttpsProxy": os.environ.get("HTTPS_PROXY", ""),
            "NoProxy": os.environ.get("NO_PROXY", ""),
            "Name": uname.node,
            "Labels": [],
            "ExperimentalBuild": False,
            "ServerVersion": __version__,
            "Runtimes": {"dockyard": {"path": "dockyard"}, "runc": {"path": "runc"}, "crun": {"path": "crun"}},
            "DefaultRuntime": "dockyard",
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
                      "Error": "", "RemoteManagers": None},
            "LiveRestoreEnabled": True,
            "Isolation": "",
            "InitBinary": "docker-init",
            "ContainerdCommit": {"ID": ""},
            "RuncCommit": {"ID": ""},
            "InitCommit": {"ID": ""},
            "SecurityOptions": ["name=no-new-privileges"],
            "CDISpecDirs": [],
            "Warnings": [],
        }
        return json_response(doc)

    async def events_(req: Request):
        filters = parse_filters(req.q("filters"))
        since = req.q("since")
        until = req.q("until")
        since_ns = int(parse_timestamp(since) * 1e9) if since else None
        until_ns = int(parse_timestamp(until) * 1e9) if until else None

        async def stream():
            queue = events.subscribe()
            subscribed_at = time.time_ns()
            try:
                if since_ns is not None:
                    for e in events.since(since_ns):
                        if e.time_nano >= subscribed_at:
                            break
                        if until_ns is not None and e.time_nano > until_ns:
                            return
                        if e.matches(filters):
                            yield json.dumps(e.to_api()).encode() + b"\n"
                while True:
                    timeout = None
                    if until_ns is not None:
                        timeout = (until_ns - time.time_ns()) / 1e9
                        if timeout <= 0:
                            return
                    try:
                        e = await asyncio.wait_for(queue.get(), timeout)
                    except asyncio.TimeoutError:
                        return
                    if until_ns is not None and e.time_nano > until_ns:
                        return
                    if e.matches(filters):
                        yield json.dumps(e.to_api()).encode() + b"\n"
            finally:
                events.unsubscribe(queue)

        return StreamResponse(stream())

    router.add("GET", "/_ping", ping)
    router.add("GET", "/version", version)
    router.add("GET", "/info", info)
    router.add("GET", "/events", events_)
