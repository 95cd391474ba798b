"""Containers as the Engine API shows them: ``/containers/json`` and ``…/json``.

The record keeps docker's Config and HostConfig shapes (they are what the
API returns); this module adds the derived views: the list entry with its
human status, inspect's full document, and the list filters.
"""

from __future__ import annotations

import time

from .. import errors
from ..paths import ContainerPaths
from ..units import human_duration, parse_rfc3339
from ..network.ports import PortBinding, to_api as ports_to_api, to_summary as ports_list
from .container_state import Container


def status_text(c: Container, now: float | None = None) -> str:
    """docker's State.String(): "Up 3 seconds", "Exited (0) 2 minutes ago", "Created"."""
    now = now or time.time()
    s = c.state
    if s.status == "paused":
        return f"Up {human_duration(now - parse_rfc3339(s.started_at))} (Paused)"
    if s.status == "restarting":
        return f"Restarting ({s.exit_code}) {human_duration(now - parse_rfc3339(s.finished_at))} ago"
    if s.running:
        health = ""
        if s.health is not None:
            health = " (health: starting)" if s.health["Status"] == "starting" else f" ({s.health['Status']})"
        return f"Up {human_duration(now - parse_rfc3339(s.started_at))}{health}"
    if s.status == "removing":
        return "Removal In Progress"
    if s.status == "dead":
        return "Dead"
    if s.status == "created" or parse_rfc3339(s.started_at) == 0:
        return "Created"
    if parse_rfc3339(s.finished_at) == 0:
        return ""
    return f"Exited ({s.exit_code}) {human_duration(now - parse_rfc3339(s.finished_at))} ago"


def list_entry(c: Container, mounts_api: list | None = None) -> dict:
    network_mode = c.host_config.get("NetworkMode") or "bridge"
    return {
        "Id": c.id,
        "Names": ["/" + c.name],
        "Image": c.image,
        "ImageID": c.image_id,
        "Command": " ".join([c.path, *c.args]),
        "Created": int(parse_rfc3339(c.created)),
        "Ports": ports_list([PortBinding.from_json(b) for b in c.ports] if c.state.running else [],
                            c.config.get("ExposedPorts") or {}),
        "Labels": c.config.get("Labels") or {},
        "State": c.state.status,
        "Status": status_text(c),
        "HostConfig": {"NetworkMode": network_mode},
        "NetworkSettings": {"Networks": {k: dict(v) for k, v in (c.networks or {}).items()}},
        "Mounts": mounts_api or [],
    }


def inspect(c: Container, paths: ContainerPaths, graph_data: dict | None = None, mounts_api: list | None = None) -> dict:
    return {
        "Id": c.id,
        "Created": c.created,
        "Path": c.path,
        "Args": c.args,
        "State": c.state.to_api(),
        "Image": c.image_id,
        "ResolvConfPath": paths.resolv_conf,
        "HostnamePath": paths.hostname,
        "HostsPath": paths.hosts,
        "LogPath": paths.log,
        "Name": "/" + c.name,
        "RestartCount": c.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": c.host_config,
        "GraphDriver": {"Name": "overlay2", "Data": graph_data or {}},
        "Mounts": mounts_api or [],
        "Config": c.config,
        "NetworkSettings": network_settings(c),
    }


def network_settings(c: Container) -> dict:
    """NetworkSettings: the endpoints (addresses only while running), the
    published ports, and the default bridge's address at the top level."""
    nets = c.networks or {}
    default = nets.get("bridge") or {}
    running = c.state.running
    return {
        "Bridge": "", "SandboxID": c.id if running and c.sandbox else "",
        "SandboxKey": c.sandbox if running and c.sandbox not in ("", "host") else "",
        "Ports": ports_to_api([PortBinding.from_json(b) for b in c.ports] if running else [],
                              c.config.get("ExposedPorts") or {}),
        "HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
        "EndpointID": default.get("EndpointID", ""), "Gateway": default.get("Gateway", ""),
        "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": default.get("IPAddress", ""),
        "IPPrefixLen": default.get("IPPrefixLen", 0), "IPv6Gateway": "",
        "MacAddress": default.get("MacAddress", ""),
        "Networks": {k: dict(v) for k, v in nets.items()},
    }


FILTER_KEYS = {"id", "name", "label", "status", "exited", "ancestor", "before", "since", "health",
               "isolation", "network", "publish", "expose", "volume", "is-task"}
STATUSES = {"created", "restarting", "running", "removing", "paused", "exited", "dead"}


def validate_filters(filters: dict) -> None:
    for key, values in filters.items():
        if key not in FILTER_KEYS:
            raise errors.InvalidArgument(f"invalid filter '{key}'")
        if key == "status":
            for v in values:
                if v not in STATUSES:
                    raise errors.InvalidArgument(
                        f"invalid filter 'status={v}'"
                    )


def select(containers: list[Container], filters: dict, all_: bool, limit: int | None,
           lookup, image_ids_for) -> list[Container]:
    """docker's list: newest first, running only unless all, then filters and limit.

    `lookup(ref)` finds a container (for before/since); `image_ids_for(ref)`
    gives the image ids an ancestor filter value names.
    """
    validate_filters(filters)
    chosen = list(containers)
    if not all_ and not limit and "status" not in filters and "exited" not in filters:
        chosen = [c for c in chosen if c.state.running]
    if "before" in filters:
        cut = min(lookup(v).created for v in filters["before"])
        chosen = [c for c in chosen if c.created < cut]
    if "since" in filters:
        cut = max(lookup(v).created for v in filters["since"])
        chosen = [c for c in chosen if c.created > cut]
    result = []
    for c in chosen:
        if not _matches(c, filters, image_ids_for):
            continue
        result.append(c)
    if limit and limit > 0:
        result = result[:limit]
    return result


def _matches(c: Container, filters: dict, image_ids_for) -> bool:
    for key, values in filters.items():
        if not values:
            continue
        if key == "id" and not any(c.id.startswith(v) for v in values):
            return False
        if key == "name" and not any(v.lstrip("/") in c.name for v in values):
            return False
        if key == "status" and c.state.status not in values:
            return False
        if key == "exited":
            if c.state.status != "exited" or str(c.state.exit_code) not in values:
                return False
        if key == "label":
            labels = c.config.get("Labels") or {}
            for v in values:
                k, _, want = v.partition("=")
                if k not in labels or (want and labels[k] != want):
                    return False
        if key == "ancestor":
            ids = set()
            for v in values:
                ids |= image_ids_for(v)
            if c.image_id not in ids and c.image not in values:
                return False
        if key == "network":
            nets = c.networks or {}
            ids = {ep.get("NetworkID", "") for ep in nets.values()}
            if not any(v in nets or any(i and i.startswith(v) for i in ids) for v in values):
                return False
        if key in ("publish", "expose"):
            if not any(_port_matches(c, key, v) for v in values):
                return False
    return True


def _port_matches(c: Container, key: str, value: str) -> bool:
    """``publish=8080[/tcp]`` (a host port) and ``expose=80[/tcp]`` (a container
    port), each also a range ``8000-8010``."""
    spec, _, proto = value.partition("/")
    low, _, high = spec.partition("-")
    try:
        start, end = int(low), int(high or low)
    except ValueError:
        raise errors.InvalidArgument(f"invalid filter '{key}={value}'") from None
    if key == "publish":
        ports = [(b["host_port"], b["proto"]) for b in (c.ports or []) if c.state.running]
    else:
        ports = []
        for k in (c.config.get("ExposedPorts") or {}):
            port, _, p = k.partition("/")
            ports.append((int(port), p or "tcp"))
    return any(start <= port <= end and (not proto or p == proto) for port, p in ports)


def labels_match(labels: dict, filters: list[str]) -> bool:
    """label filters as prune takes them: "k", "k=v", and the negations "k!=", "k!=v"."""
    for f in filters:
        neg = "!=" in f
        k, _, v = f.replace("!=", "=").partition("=")
        has = k in labels and (not v or labels[k] == v)
        if has == neg:
            return False
    return True
