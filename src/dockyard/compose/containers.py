"""A normalized service → the body of ``POST /containers/create``.

Pure: the executor builds every service's body once before it makes
anything (so a value the engine cannot take fails ``up`` up front) and again
per container.  The mapping is docker compose's, one function per part of the
body: identity and process, mounts, ports, resources, namespaces, networks.
Compose keys this engine cannot honour (secrets, configs, devices, gpus) are
refused with InvalidArgument rather than dropped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dockyard.cli import units
from dockyard.cli.flags import key_value_map
from dockyard.compose import convert
from dockyard.errors import InvalidArgument

_UNSUPPORTED = ("secrets", "configs", "devices", "gpus", "device_cgroup_rules", "credential_spec")


@dataclass(frozen=True, slots=True)
class ServiceView:
    """What a container body needs from the rest of the project."""

    project: str
    working_dir: str
    config_files: list[str]
    networks: Mapping[str, Mapping[str, Any]]
    volumes: Mapping[str, Mapping[str, Any]]
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    def __post_init__(self) -> None:
        if self.environ is None:
            object.__setattr__(self, "environ", os.environ)


def container_body(view: ServiceView, service_name: str, svc: Mapping[str, Any], number: int | None, *,
                   image_id: str = "", oneoff: bool = False, use_aliases: bool | None = None,
                   peer: Mapping[str, str] | None = None,
                   inherited_volumes: Mapping[str, str] | None = None, slug: str = "") -> dict[str, Any]:
    """The body for container *number* of a service (None: a one-off).

    *peer* maps a service to the container id its ``service:x`` references
    resolve to; *inherited_volumes* maps a target to the anonymous volume a
    recreated container's predecessor had there.  The service's name is a
    network alias of its containers; of a one-off only with *use_aliases*.
    Raises InvalidArgument for a value the engine cannot take.
    """
    try:
        for key in _UNSUPPORTED:
            if svc.get(key):
                raise ValueError(f"{key!r} is not supported by dockyard compose")
        platform = svc.get("platform")
        if platform and platform not in ("linux/amd64", "linux/x86_64", "amd64"):
            raise ValueError(f"platform {platform!r} is not supported (linux/amd64 only)")
        body = _identity(view, service_name, svc, number, image_id, oneoff, slug)
        body.update(_process(svc, view.environ))
        host_config: dict[str, Any] = {}
        host_config.update(_mounts(view, svc, inherited_volumes or {}))
        host_config.update(_ports(svc, body))
        host_config.update(_resources(svc))
        host_config.update(_namespaces(view, svc, peer or {}))
        host_config.update(_host_options(view, svc))
        body["HostConfig"] = host_config
        aliases = (not oneoff) if use_aliases is None else use_aliases
        networking = _endpoints(view, service_name, svc, aliases)
        if networking:
            body["NetworkingConfig"] = {"EndpointsConfig": networking}
        return body
    except ValueError as exc:
        raise InvalidArgument(f"service {service_name!r}: {exc}") from None


def _identity(view: ServiceView, name: str, svc: Mapping[str, Any], number: int | None, image_id: str,
              oneoff: bool, slug: str) -> dict[str, Any]:
    labels = {
        **(svc.get("labels") or {}),
        convert.PROJECT: view.project, convert.SERVICE: name,
        convert.ONEOFF: "True" if oneoff else "False", convert.CONFIG_HASH: convert.config_hash(svc),
        convert.WORKING_DIR: view.working_dir, convert.CONFIG_FILES: ",".join(view.config_files),
        convert.VERSION: convert.COMPOSE_VERSION,
        convert.DEPENDS_ON: ",".join(f"{d}:{o['condition']}:{str(o.get('restart', False)).lower()}"
                                     for d, o in (svc.get("depends_on") or {}).items()),
    }
    if number is not None:
        labels[convert.NUMBER] = str(number)
    if slug:
        labels[convert.SLUG] = slug
    if image_id:
        labels[convert.IMAGE] = image_id
    return {"Image": convert.image_name(view.project, name, svc), "Labels": labels}


def _process(svc: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Env": _environment(svc.get("environment") or {}, environ),
        "AttachStdin": False, "AttachStdout": False, "AttachStderr": False,
        "Tty": bool(svc.get("tty")), "OpenStdin": bool(svc.get("stdin_open")),
    }
    if svc.get("command") is not None:
        body["Cmd"] = list(svc["command"])
    if svc.get("entrypoint") is not None:
        body["Entrypoint"] = list(svc["entrypoint"]) or [""]
    for key, api in (("hostname", "Hostname"), ("domainname", "Domainname"), ("working_dir", "WorkingDir"),
                     ("stop_signal", "StopSignal"), ("mac_address", "MacAddress")):
        if svc.get(key):
            body[api] = str(svc[key])
    if "user" in svc:
        body["User"] = str(svc["user"])
    if svc.get("stop_grace_period"):
        body["StopTimeout"] = int(units.go_duration(svc["stop_grace_period"]))
    if "healthcheck" in svc:
        body["Healthcheck"] = _healthcheck(svc["healthcheck"])
    return body


def _environment(env: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    # A key without a value (``FOO`` or ``FOO:``) takes the caller's value,
    # and is left out when the caller has none, as docker compose does.
    out = []
    for key, value in env.items():
        if value is None:
            if key not in environ:
                continue
            value = environ[key]
        out.append(f"{key}={value}")
    return out


def _healthcheck(hc: Mapping[str, Any]) -> dict[str, Any]:
    if hc.get("disable"):
        return {"Test": ["NONE"]}
    out: dict[str, Any] = {}
    if "test" in hc:
        out["Test"] = list(hc["test"])
    for key, api in (("interval", "Interval"), ("timeout", "Timeout"),
                     ("start_period", "StartPeriod"), ("start_interval", "StartInterval")):
        if hc.get(key) is not None:
            out[api] = int(units.go_duration(str(hc[key])) * 1_000_000_000)
    if hc.get("retries") is not None:
        out["Retries"] = int(hc["retries"])
    return out


def _bytes(value: Any) -> int:
    return value if isinstance(value, int) else units.ram_in_bytes(str(value))


def _mounts(view: ServiceView, svc: Mapping[str, Any], inherited: Mapping[str, str]) -> dict[str, Any]:
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
    # Volumes the image declares, kept from the container this one replaces.
    declared = {v["target"] for v in svc.get("volumes") or []}
    mounts += [{"Type": "volume", "Source": name, "Target": target, "ReadOnly": False}
               for target, name in sorted(inherited.items()) if target not in declared]
    out: dict[str, Any] = {}
    if binds:
        out["Binds"] = binds
    if mounts:
        out["Mounts"] = mounts
    if svc.get("tmpfs"):
        out["Tmpfs"] = {t.partition(":")[0]: t.partition(":")[2] for t in svc["tmpfs"]}
    return out


def _ports(svc: Mapping[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """PortBindings; also fills the body's ExposedPorts (``expose`` and the targets)."""
    exposed = {key for spec in svc.get("expose") or [] for key in _expose_keys(spec)}
    bindings: dict[str, list[dict[str, str]]] = {}
    for p in svc.get("ports") or []:
        key = f"{p['target']}/{p.get('protocol', 'tcp')}"
        exposed.add(key)
        bindings.setdefault(key, []).append({"HostIp": p.get("host_ip", ""),
                                             "HostPort": str(p.get("published", ""))})
    if exposed:
        body["ExposedPorts"] = {k: {} for k in sorted(exposed)}
    return {"PortBindings": bindings} if bindings else {}


def _expose_keys(spec: Any) -> list[str]:
    port, _, proto = str(spec).partition("/")
    low, dash, high = port.partition("-")
    first, last = int(low), int(high) if dash else int(low)
    return [f"{n}/{proto or 'tcp'}" for n in range(first, last + 1)]


def _resources(svc: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    memory = svc.get("mem_limit") or limits.get("memory")
    if memory:
        out["Memory"] = _bytes(memory)
    if svc.get("mem_reservation"):
        out["MemoryReservation"] = _bytes(svc["mem_reservation"])
    if svc.get("memswap_limit"):
        out["MemorySwap"] = -1 if str(svc["memswap_limit"]) == "-1" else _bytes(svc["memswap_limit"])
    cpus = svc.get("cpus") or limits.get("cpus")
    if cpus:
        out["NanoCpus"] = units.nano_cpus(str(cpus))
    pids = svc.get("pids_limit") or limits.get("pids")
    if pids:
        out["PidsLimit"] = int(pids)
    if svc.get("cpu_shares"):
        out["CpuShares"] = int(svc["cpu_shares"])
    if svc.get("shm_size"):
        out["ShmSize"] = _bytes(svc["shm_size"])
    if svc.get("ulimits"):
        out["Ulimits"] = [{"Name": k, "Soft": int(v), "Hard": int(v)} if not isinstance(v, dict) else
                          {"Name": k, "Soft": int(v["soft"]), "Hard": int(v["hard"])}
                          for k, v in svc["ulimits"].items()]
    if "oom_score_adj" in svc:
        out["OomScoreAdj"] = int(svc["oom_score_adj"])
    return out


def _namespaces(view: ServiceView, svc: Mapping[str, Any], peer: Mapping[str, str]) -> dict[str, Any]:
    """NetworkMode, IpcMode, PidMode and VolumesFrom; ``service:x`` → the
    container *peer* names for x."""

    def resolve(value: str, key: str) -> str:
        if not value.startswith("service:"):
            return value
        target = value.split(":", 1)[1]
        if target not in peer:
            raise ValueError(f"{key} service {target!r} has no container")
        return f"container:{peer[target]}"

    out: dict[str, Any] = {}
    for key, api in (("network_mode", "NetworkMode"), ("ipc", "IpcMode"), ("pid", "PidMode")):
        if svc.get(key):
            out[api] = resolve(svc[key], key)
    if "NetworkMode" not in out:
        nets = _ordered_networks(svc)
        if nets:
            if nets[0] not in view.networks:
                raise ValueError(f"undefined network {nets[0]!r}")
            out["NetworkMode"] = view.networks[nets[0]]["name"]
    sources = []
    for source in svc.get("volumes_from") or []:
        if source.startswith("container:"):
            sources.append(source.split(":", 1)[1])
        else:
            name, _, mode = source.partition(":")
            sources.append(resolve(f"service:{name}", "volumes_from").split(":", 1)[1] + (f":{mode}" if mode else ""))
    if sources:
        out["VolumesFrom"] = sources
    return out


def _host_options(view: ServiceView, svc: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    restart = svc.get("restart")
    policy = (svc.get("deploy") or {}).get("restart_policy")
    if restart:
        name, _, count = str(restart).partition(":")
        if name not in ("no", "always", "unless-stopped", "on-failure"):
            raise ValueError(f"invalid restart policy {restart!r}")
        out["RestartPolicy"] = {"Name": name, "MaximumRetryCount": int(count or 0)}
    elif policy:
        # deploy.restart_policy.condition: none | on-failure | any
        names = {"none": "no", "on-failure": "on-failure", "any": "always"}
        condition = policy.get("condition", "any")
        if condition not in names:
            raise ValueError(f"invalid deploy.restart_policy.condition {condition!r}")
        out["RestartPolicy"] = {"Name": names[condition], "MaximumRetryCount": int(policy.get("max_attempts") or 0)}
    for key, api in (("init", "Init"), ("privileged", "Privileged"), ("read_only", "ReadonlyRootfs")):
        if key in svc:
            out[api] = bool(svc[key])
    for key, api in (("cap_add", "CapAdd"), ("cap_drop", "CapDrop"), ("dns", "Dns"),
                     ("dns_search", "DnsSearch"), ("dns_opt", "DnsOptions"),
                     ("security_opt", "SecurityOpt"), ("group_add", "GroupAdd")):
        if svc.get(key):
            out[api] = [str(x) for x in svc[key]]
    for key, api in (("runtime", "Runtime"), ("cgroup_parent", "CgroupParent"), ("userns_mode", "UsernsMode"),
                     ("cgroup", "CgroupnsMode")):
        if svc.get(key):
            out[api] = str(svc[key])
    hosts = svc.get("extra_hosts")
    if hosts:
        out["ExtraHosts"] = [f"{k}:{v}" for k, v in hosts.items()] if isinstance(hosts, dict) else \
            [h.replace("=", ":", 1) if "=" in h else h for h in hosts]
    if svc.get("sysctls"):
        s = svc["sysctls"]
        out["Sysctls"] = {str(k): str(v) for k, v in s.items()} if isinstance(s, dict) else key_value_map(s)
    if svc.get("logging"):
        out["LogConfig"] = {"Type": svc["logging"].get("driver") or "json-file",
                            "Config": {k: str(v) for k, v in (svc["logging"].get("options") or {}).items()}}
    links = [_link(view.project, link) for link in svc.get("links") or []]
    links += [link if ":" in link else f"{link}:{link}" for link in svc.get("external_links") or []]
    if links:
        out["Links"] = links
    return out


def _link(project: str, link: str) -> str:
    target, _, alias = link.partition(":")
    return f"{project}-{target}-1:{alias or target}"


def _ordered_networks(svc: Mapping[str, Any]) -> list[str]:
    """The service's networks, highest ``priority`` first, then by name
    (docker compose's order; the first is the one ports publish on)."""
    nets = svc.get("networks") or {}
    return sorted(nets, key=lambda n: (-int((nets[n] or {}).get("priority", 0)), n))


def _endpoints(view: ServiceView, name: str, svc: Mapping[str, Any], aliases: bool) -> dict[str, Any]:
    if svc.get("network_mode"):
        return {}
    out = {}
    for key in _ordered_networks(svc):
        opts = svc["networks"][key] or {}
        if key not in view.networks:
            raise ValueError(f"undefined network {key!r}")
        # The service name resolves to every replica (the daemon adds the
        # container's own name); a one-off has neither unless asked.
        endpoint: dict[str, Any] = {"Aliases": [name, *[str(a) for a in opts.get("aliases") or []]]
                                    if aliases else []}
        if opts.get("ipv4_address"):
            endpoint["IPAMConfig"] = {"IPv4Address": opts["ipv4_address"]}
        out[view.networks[key]["name"]] = endpoint
    return out
