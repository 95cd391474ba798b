"""Names, labels and the config hash: how a project's objects are made
recognisable, and read back (``row_*``); the network and volume bodies.

Pure functions, no daemon (the container body is ``containers``'s).  The
naming is docker compose's: the engine names resources ``<project>_<key>``
(networks, volumes) and containers ``<project>-<service>-<n>``; every object
carries the labels below, which are all compose ever reads back — the
project is rediscovered from the daemon by label, never kept in a file.

The hash differs from docker compose's own (Go's JSON of its typed model),
so a project moved between the two tools is recreated once.

The config hash covers what the container is made from, not how many there
are or how they were built: ``build``, ``deploy.replicas``, ``scale``,
``depends_on`` and ``profiles`` are left out (as docker compose leaves them
out), so scaling or a dependency change does not recreate a container.  A
rebuilt image recreates through the image label, not the hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"
NUMBER = "com.docker.compose.container-number"
CONFIG_HASH = "com.docker.compose.config-hash"
ONEOFF = "com.docker.compose.oneoff"
IMAGE = "com.docker.compose.image"
DEPENDS_ON = "com.docker.compose.depends_on"
WORKING_DIR = "com.docker.compose.project.working_dir"
CONFIG_FILES = "com.docker.compose.project.config_files"
VERSION = "com.docker.compose.version"
NETWORK = "com.docker.compose.network"
VOLUME = "com.docker.compose.volume"
SLUG = "com.docker.compose.slug"

COMPOSE_VERSION = "2.29.0"  # what docker compose would write; tools read it

_HASH_EXCLUDED = ("build", "scale", "depends_on", "profiles", "pull_policy")


def config_hash(service: Mapping[str, Any]) -> str:
    """sha256 of the service's container-relevant configuration."""
    relevant = {k: v for k, v in service.items() if k not in _HASH_EXCLUDED}
    if "deploy" in relevant:
        relevant["deploy"] = {k: v for k, v in relevant["deploy"].items() if k != "replicas"}
    text = json.dumps(relevant, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def image_name(project: str, service_name: str, service: Mapping[str, Any]) -> str:
    """The image a service runs: its ``image``, else ``<project>-<service>``."""
    return service.get("image") or f"{project}-{service_name}"


def scale(service: Mapping[str, Any]) -> int:
    """How many containers: ``scale``, else ``deploy.replicas``, else 1."""
    if "scale" in service:
        return int(service["scale"])
    replicas = (service.get("deploy") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)


def container_name(project: str, service_name: str, service: Mapping[str, Any], number: int) -> str:
    return service.get("container_name") or f"{project}-{service_name}-{number}"


def network_body(project: str, key: str, net: Mapping[str, Any]) -> dict[str, Any]:
    """``POST /networks/create`` for a project network."""
    ipam = net.get("ipam") or {}
    body: dict[str, Any] = {
        "Name": net["name"],
        "Driver": net.get("driver") or "bridge",
        "Internal": bool(net.get("internal")),
        "Attachable": bool(net.get("attachable")),
        "EnableIPv6": bool(net.get("enable_ipv6")),
        "Options": {k: str(v) for k, v in (net.get("driver_opts") or {}).items()},
        "Labels": {**(net.get("labels") or {}), PROJECT: project, NETWORK: key,
                   VERSION: COMPOSE_VERSION},
    }
    if ipam.get("config"):
        body["IPAM"] = {"Driver": ipam.get("driver") or "default", "Config": [
            {{"subnet": "Subnet", "gateway": "Gateway", "ip_range": "IPRange"}[k]: v
             for k, v in c.items() if k in ("subnet", "gateway", "ip_range")}
            for c in ipam["config"]]}
    return body


def volume_body(project: str, key: str, vol: Mapping[str, Any]) -> dict[str, Any]:
    """``POST /volumes/create`` for a project volume."""
    return {
        "Name": vol["name"],
        "Driver": vol.get("driver") or "local",
        "DriverOpts": {k: str(v) for k, v in (vol.get("driver_opts") or {}).items()},
        "Labels": {**(vol.get("labels") or {}), PROJECT: project, VOLUME: key,
                   VERSION: COMPOSE_VERSION},
    }


# -- reading back -------------------------------------------------------------------------

RUNNING_STATES = ("running", "paused", "restarting")


def row_name(row: Mapping[str, Any]) -> str:
    """A ``GET /containers/json`` entry's name."""
    return (row.get("Names") or ["/"])[0].lstrip("/")


def row_service(row: Mapping[str, Any]) -> str:
    return (row.get("Labels") or {}).get(SERVICE, "")


def row_number(row: Mapping[str, Any]) -> int:
    try:
        return int((row.get("Labels") or {}).get(NUMBER, "0"))
    except ValueError:
        return 0
