"""A normalized service → the Engine API bodies that make it real.

Pure functions, no daemon: the planner and the executor both use them, and
they are tested on their own.  The mapping is docker compose's: the engine
names resources ``<project>_<key>`` (networks, volumes) and containers
``<project>-<service>-<n>``; every object carries the labels below, which
are all compose ever reads back — the project is rediscovered from the
daemon by label, never kept in a file.

The config hash covers what the container is made from, not how many there
are or how they were built: ``build``, ``deploy.replicas``, ``scale``,
``depends_on`` and ``profiles`` are left out (as docker compose leaves them
out), so scaling or a dependency change does not recreate a container.  A
rebuilt image recreates through the image label, not the hash.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

from dockyard.cli import units
from dockyard.errors import InvalidArgument

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
REPLACE = "com.docker.compose.replace"

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


class ServiceView:
    """What the container body needs to know about the rest of the project."""

    def __init__(self, project: str, working_dir: str, config_files: list[str],
                 networks: Mapping[str, Mapping[str, Any]], volumes: Mapping[str, Mapping[str, Any]],
                 environ: Mapping[str, str] | None = None):
        self.project = project
        self.working_dir = working_dir
        self.config_files = config_files
        self.networks = networks
        self.volumes = volumes
        self.environ = os.environ if environ is None else environ


def container_body(view: ServiceView, service_name: str, service: Mapping[str, Any], number: int, *,
                   image_id: str = "", oneoff: bool = False,
                   peer: Mapping[str, str] | None = None,
                   inherited_volumes: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``POST /containers/create`` for container *number* of a service.

    *peer* maps a service name to a container id (``network_mode:
    service:x``); *inherited_volumes* maps a target path to the anonymous
    volume an old container had there, so a recreated container keeps it.
    Raises InvalidArgument for a value the engine cannot take.
    """
    where = f"service {service_name!r}"
    svc = service
    try:
        labels = {
            **(svc.get("labels") or {}),
            PROJECT: view.project, SERVICE: service_name, NUMBER: str(number),
            ONEOFF: "True" if oneoff else "False", CONFIG_HASH: config_hash(svc),
            WORKING_DIR: view.working_dir, CONFIG_FILES: ",".join(view.config_files),
            VERSION: COMPOSE_VERSION,
            DEPENDS_ON: ",".join(f"{d}:{o['condition']}:{str(o.get('restart', False)).lower()}"
                                 for d, o in (svc.get("depends_on") or {}).items()),
        }
        if image_id:
            labels[IMAGE] = image_id
        body: dict[str, Any] = {
            "Image": image_name(view.project, service_name, svc),
            "Labels": labels,
            "Env": _environment(svc.get("environment") or {}, view.environ),
            "AttachStdin": False, "AttachStdout": False, "AttachStderr": False,
            "Tty": bool(svc.get("tty")), "OpenStdin": bool(svc.get("stdin_open")),
        }
        if "command" in svc and svc["command"] is not None:
            body["Cmd"] = list(svc["command"])
        if "entrypoint" in svc and svc["entrypoint"] is not None:
            body["Entrypoint"] = list(svc["entrypoint"]) or [""]
        for key, api in (("hostname", "Hostname"), ("domainname", "Domainname"),
                         ("working_dir", "WorkingDir"), ("stop_signal", "StopSignal"),
                         ("mac_address", "MacAddress")):
            if svc.get(key):
                body[api] = str(svc[key])
        if "user" in svc:
            body["User"] = str(svc["user"])
        if svc.get("stop_grace_period"):
            body["StopTimeout"] = int(units.go_duration(svc["stop_grace_period"]))
        if "healthcheck" in svc:
            body["Healthcheck"] = _healthcheck(svc["healthcheck"])
        exposed = {_port_key(p) for p in svc.get("expose") or []}
        exposed |= {f"{p['target']}/{p.get('protocol', 'tcp')}" for p in svc.get("ports") or []}
        if exposed:
            body["ExposedPorts"] = {k: {} for k in sorted(exposed)}
        body["HostConfig"] = _host_config(view, service_name, svc, peer or {}, inherited_volumes or {})
        networking = _endpoints(view, service_name, svc, number, oneoff)
        if networking:
            body["NetworkingConfig"] = {"EndpointsConfig": networking}
        return body
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidArgument(f"{where}: {exc}") from None


def _environment(env: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    # A key without a value takes the caller's value, and is left out when
    # the caller has none (docker compose's resolution of ``FOO`` / ``FOO:``).
    out = []
    for key, value in env.items():
        if value is None:
            if key not in environ:
                continue
            value = environ[key]
        out.append(f"{key}={value}")
    return out


def _port_key(text: str) -> str:
    port, _, proto = str(text).partition("/")
    return f"{port}/{proto or 'tcp'}"


def _nanos(text: Any) -> int:
    return int(units.go_duration(str(text)) * 1_000_000_000)


def _healthcheck(hc: Mapping[str, Any]) -> dict[str, Any]:
    if hc.get("disable"):
        return {"Test": ["NONE"]}
    out: dict[str, Any] = {}
    if "test" in hc:
        out["Test"] = list(hc["test"])
    for key, api in (("interval", "Interval"), ("timeout", "Timeout"),
                     ("start_period", "StartPeriod"), ("start_interval", "StartInterval")):
        if hc.get(key) is not None:
            out[api] = _nanos(hc[key])
    if hc.get("retries") is not None:
        out["Retries"] = int(hc["retries"])
    return out


def _bytes(value: Any) -> int:
    return value if isinstance(value, int) else units.ram_in_bytes(str(value))


def _host_config(view: ServiceView, name: str, svc: Mapping[str, Any], peer: Mapping[str, str],
                 inherited: Mapping[str, str]) -> dict[str, Any]:
    hc: dict[str, Any] = {}
    binds, mounts = [], []
    for v in svc.get("volumes") or []:
        kind = v.get("type", "volume")
        read_only = bool(v.get("read_only"))
        if kind == "bind":
            # Binds, not Mounts, so a missing host path is created (as the
            # short syntax does in docker compose).
            binds.append(f"{v['source']}:{v['target']}" + (":ro" if read_only else ""))
        elif kind == "volume":
            source = v.get("source")
            if source:
                if source not in view.volumes:
                    raise ValueError(f"undefined volume {source!r}")
                source = view.volumes[source]["name"]
            else:
                source = inherited.get(v["target"], "")
            mount: dict[str, Any] = {"Type": "volume", "Target": v["target"], "ReadOnly": read_only}
            if source:
                mount["Source"] = source
            if (v.get("volume") or {}).get("nocopy"):
                mount["VolumeOptions"] = {"NoCopy": True}
            mounts.append(mount)
        elif kind == "tmpfs":
            size = (v.get("tmpfs") or {}).get("size")
            mounts.append({"Type": "tmpfs", "Target": v["target"],
                           **({"TmpfsOptions": {"SizeBytes": _bytes(size)}} if size else {})})
        else:
            raise ValueError(f"volume type {kind!r} is not supported")
    if binds:
        hc["Binds"] = binds
    if mounts:
        hc["Mounts"] = mounts
    if svc.get("tmpfs"):
        hc["Tmpfs"] = {t.partition(":")[0]: t.partition(":")[2] for t in svc["tmpfs"]}
    ports: dict[str, list[dict[str, str]]] = {}
    for p in svc.get("ports") or []:
        ports.setdefault(f"{p['target']}/{p.get('protocol', 'tcp')}", []).append(
            {"HostIp": p.get("host_ip", ""), "HostPort": str(p.get("published", ""))})
    if ports:
        hc["PortBindings"] = ports
    restart = svc.get("restart")
    if restart:
        policy, _, count = str(restart).partition(":")
        if policy not in ("no", "always", "unless-stopped", "on-failure"):
            raise ValueError(f"invalid restart policy {restart!r}")
        hc["RestartPolicy"] = {"Name": policy, "MaximumRetryCount": int(count or 0)}
    limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    memory = svc.get("mem_limit") or limits.get("memory")
    if memory:
        hc["Memory"] = _bytes(memory)
    if svc.get("memswap_limit"):
        hc["MemorySwap"] = -1 if str(svc["memswap_limit"]) == "-1" else _bytes(svc["memswap_limit"])
    cpus = svc.get("cpus") or limits.get("cpus")
    if cpus:
        hc["NanoCpus"] = units.nano_cpus(str(cpus))
    pids = svc.get("pids_limit") or limits.get("pids")
    if pids:
        hc["PidsLimit"] = int(pids)
    if svc.get("cpu_shares"):
        hc["CpuShares"] = int(svc["cpu_shares"])
    if svc.get("shm_size"):
        hc["ShmSize"] = _bytes(svc["shm_size"])
    for key, api in (("init", "Init"), ("privileged", "Privileged"), ("read_only", "ReadonlyRootfs")):
        if key in svc:
            hc[api] = bool(svc[key])
    for key, api in (("cap_add", "CapAdd"), ("cap_drop", "CapDrop"), ("dns", "Dns"),
                     ("dns_search", "DnsSearch"), ("dns_opt", "DnsOptions"),
                     ("security_opt", "SecurityOpt"), ("group_add", "GroupAdd")):
        if svc.get(key):
            hc[api] = [str(x) for x in svc[key]]
    hosts = svc.get("extra_hosts")
    if hosts:
        hc["ExtraHosts"] = [f"{k}:{v}" for k, v in hosts.items()] if isinstance(hosts, dict) else \
            [h.replace("=", ":", 1) if "=" in h else h for h in hosts]
    if svc.get("sysctls"):
        s = svc["sysctls"]
        hc["Sysctls"] = {str(k): str(v) for k, v in s.items()} if isinstance(s, dict) else \
            dict(x.partition("=")[::2] for x in s)
    if svc.get("ulimits"):
        hc["Ulimits"] = [{"Name": k, "Soft": int(v), "Hard": int(v)} if not isinstance(v, dict) else
                         {"Name": k, "Soft": int(v["soft"]), "Hard": int(v["hard"])}
                         for k, v in svc["ulimits"].items()]
    if svc.get("logging"):
        hc["LogConfig"] = {"Type": svc["logging"].get("driver") or "json-file",
                           "Config": {k: str(v) for k, v in (svc["logging"].get("options") or {}).items()}}
    for key, api in (("pid", "PidMode"), ("ipc", "IpcMode")):
        if svc.get(key):
            hc[api] = svc[key]
    if "oom_score_adj" in svc:
        hc["OomScoreAdj"] = int(svc["oom_score_adj"])
    if svc.get("links"):
        hc["Links"] = [_link(view.project, link) for link in svc["links"]]
    mode = svc.get("network_mode")
    if mode:
        if mode.startswith("service:"):
            target = mode.split(":", 1)[1]
            if target not in peer:
                raise ValueError(f"network_mode service {target!r} has no running container")
            mode = f"container:{peer[target]}"
        hc["NetworkMode"] = mode
    else:
        nets = _ordered_networks(svc)
        if nets:
            if nets[0] not in view.networks:
                raise ValueError(f"undefined network {nets[0]!r}")
            hc["NetworkMode"] = view.networks[nets[0]]["name"]
    return hc


def _link(project: str, link: str) -> str:
    target, _, alias = link.partition(":")
    return f"{project}-{target}-1:{alias or target}"


def _ordered_networks(svc: Mapping[str, Any]) -> list[str]:
    """The service's networks, highest ``priority`` first, then by name
    (docker compose's order; the first is the one ports publish on)."""
    nets = svc.get("networks") or {}
    return sorted(nets, key=lambda n: (-int((nets[n] or {}).get("priority", 0)), n))


def _endpoints(view: ServiceView, name: str, svc: Mapping[str, Any], number: int,
               oneoff: bool) -> dict[str, Any]:
    if svc.get("network_mode"):
        return {}
    out = {}
    for key in _ordered_networks(svc):
        opts = svc["networks"][key] or {}
        if key not in view.networks:
            raise ValueError(f"undefined network {key!r}")
        # The service name resolves to every replica; one-off containers
        # (compose run) are not part of the service's name.
        aliases = ([] if oneoff else [name]) + [str(a) for a in opts.get("aliases") or []]
        endpoint: dict[str, Any] = {"Aliases": aliases}
        if opts.get("ipv4_address"):
            endpoint["IPAMConfig"] = {"IPv4Address": opts["ipv4_address"]}
        out[view.networks[key]["name"]] = endpoint
    return out
