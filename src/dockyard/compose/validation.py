"""Checks on the compose model, in two passes.

``validate_shape`` runs on each file after interpolation: unknown top-level
or service keys and values of the wrong type.  ``validate_references`` runs
once on the merged, normalized model: networks, volumes and services that are
named but never defined, and cycles in ``depends_on``.  Every error names the
service and the key, and is an InvalidArgument.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from dockyard.errors import InvalidArgument

# What a value may be, per key; "x-" extension keys are accepted anywhere.
_STR, _INT, _NUM, _BOOL = (str,), (int,), (int, float, str), (bool,)
_LIST, _MAP = (list,), (dict,)
_LIST_OR_MAP, _STR_OR_LIST = (list, dict), (str, list)

TOP_LEVEL_KEYS: dict[str, tuple[type, ...]] = {
    "version": (str, int, float),
    "name": _STR,
    "services": _MAP,
    "networks": _MAP,
    "volumes": _MAP,
    "secrets": _MAP,
    "configs": _MAP,
}

SERVICE_KEYS: dict[str, tuple[type, ...]] = {
    "image": _STR,
    "build": (str, dict),
    "command": (str, list, type(None)),
    "entrypoint": (str, list, type(None)),
    "environment": _LIST_OR_MAP,
    "env_file": _STR_OR_LIST,
    "ports": _LIST,
    "expose": _LIST,
    "volumes": _LIST,
    "tmpfs": _STR_OR_LIST,
    "networks": _LIST_OR_MAP,
    "network_mode": _STR,
    "depends_on": _LIST_OR_MAP,
    "healthcheck": _MAP,
    "restart": _STR,
    "container_name": _STR,
    "hostname": _STR,
    "domainname": _STR,
    "labels": _LIST_OR_MAP,
    "user": (str, int),
    "working_dir": _STR,
    "init": _BOOL,
    "privileged": _BOOL,
    "read_only": _BOOL,
    "tty": _BOOL,
    "stdin_open": _BOOL,
    "mem_limit": (str, int),
    "memswap_limit": (str, int),
    "cpus": _NUM,
    "cpu_shares": (int, str),
    "shm_size": (str, int),
    "deploy": _MAP,
    "scale": _INT,
    "stop_grace_period": _STR,
    "stop_signal": _STR,
    "extra_hosts": _LIST_OR_MAP,
    "profiles": _LIST,
    "dns": _STR_OR_LIST,
    "dns_search": _STR_OR_LIST,
    "cap_add": _LIST,
    "cap_drop": _LIST,
    "security_opt": _LIST,
    "ulimits": _MAP,
    "sysctls": _LIST_OR_MAP,
    "devices": _LIST,
    "logging": _MAP,
    "pull_policy": _STR,
    "platform": _STR,
    "links": _LIST,
    "external_links": _LIST,
    "secrets": _LIST,
    "configs": _LIST,
    "pid": _STR,
    "ipc": _STR,
    # Accepted and passed through to ``config``; the engine may not use them yet.
    "annotations": _LIST_OR_MAP,
    "attach": _BOOL,
    "blkio_config": _MAP,
    "cpu_count": (int, str),
    "cpu_percent": (int, str),
    "cpu_period": (int, str),
    "cpu_quota": (int, str),
    "cpu_rt_runtime": (int, str),
    "cpu_rt_period": (int, str),
    "cpuset": _STR,
    "cgroup": _STR,
    "cgroup_parent": _STR,
    "credential_spec": _MAP,
    "develop": _MAP,
    "device_cgroup_rules": _LIST,
    "dns_opt": _LIST,
    "extends": (str, dict),
    "gpus": _STR_OR_LIST,
    "group_add": _LIST,
    "isolation": _STR,
    "label_file": _STR_OR_LIST,
    "mac_address": _STR,
    "mem_reservation": (str, int),
    "mem_swappiness": (int, str),
    "models": _LIST_OR_MAP,
    "oom_kill_disable": _BOOL,
    "oom_score_adj": _INT,
    "pids_limit": (int, str),
    "post_start": _LIST,
    "pre_start": _LIST,
    "pre_stop": _LIST,
    "provider": _MAP,
    "runtime": _STR,
    "storage_opt": _MAP,
    "use_api_socket": _BOOL,
    "userns_mode": _STR,
    "uts": _STR,
    "volumes_from": _LIST,
}

BUILD_KEYS: dict[str, tuple[type, ...]] = {
    "context": _STR,
    "dockerfile": _STR,
    "args": _LIST_OR_MAP,
    "target": _STR,
    "labels": _LIST_OR_MAP,
    "cache_from": _LIST,
    "network": _STR,
    "shm_size": (str, int),
    "extra_hosts": _LIST_OR_MAP,
    "no_cache": _BOOL,
    "pull": _BOOL,
}

HEALTHCHECK_KEYS: dict[str, tuple[type, ...]] = {
    "test": _STR_OR_LIST,
    "interval": _STR,
    "timeout": _STR,
    "retries": _INT,
    "start_period": _STR,
    "start_interval": _STR,
    "disable": _BOOL,
}

RESOURCE_KEYS: dict[str, tuple[type, ...]] = {
    "driver": _STR,
    "driver_opts": _MAP,
    "external": (bool, dict),
    "name": _STR,
    "labels": _LIST_OR_MAP,
    "ipam": _MAP,
    "internal": _BOOL,
    "attachable": _BOOL,
    "enable_ipv6": _BOOL,
    "enable_ipv4": _BOOL,
    "file": _STR,
    "environment": _STR,
}

PORT_KEYS: dict[str, tuple[type, ...]] = {
    "target": (int, str), "published": (int, str), "host_ip": _STR, "protocol": _STR,
    "mode": _STR, "name": _STR, "app_protocol": _STR,
}

MOUNT_KEYS: dict[str, tuple[type, ...]] = {
    "type": _STR, "source": _STR, "target": _STR, "read_only": _BOOL, "bind": _MAP,
    "volume": _MAP, "tmpfs": _MAP, "consistency": _STR,
}

SERVICE_NETWORK_KEYS: dict[str, tuple[type, ...]] = {
    "aliases": _LIST, "ipv4_address": _STR, "ipv6_address": _STR, "link_local_ips": _LIST,
    "priority": _INT, "mac_address": _STR, "driver_opts": _MAP,
}

EXTENDS_KEYS: dict[str, tuple[type, ...]] = {"service": _STR, "file": _STR}

DEPENDS_ON_KEYS: dict[str, tuple[type, ...]] = {"condition": _STR, "restart": _BOOL, "required": _BOOL}

_DURATION_KEYS = ("stop_grace_period", "healthcheck.interval", "healthcheck.timeout",
                  "healthcheck.start_period", "healthcheck.start_interval")
# Go's time.ParseDuration units, as docker compose accepts them.
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+")

DEPENDS_ON_CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")

_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
               list: "a list", dict: "a mapping", type(None): "null"}


_SCALAR = (str, int, float, bool, type(None))
# What the entries of a list-or-mapping key may be.
_ITEMS: dict[str, tuple[type, ...]] = {
    "ports": (str, int, dict), "expose": (str, int), "volumes": (str, dict),
    "dns": (str,), "dns_search": (str,), "tmpfs": (str,), "profiles": (str,),
    "cap_add": (str,), "cap_drop": (str,), "extra_hosts": (str,), "secrets": (str, dict),
    "configs": (str, dict), "environment": _SCALAR, "labels": _SCALAR, "depends_on": (str, dict, type(None)),
    "networks": (str, dict, type(None)),
}


def validate_shape(data: Mapping[str, Any], source: str,
                   lines: Mapping[tuple[str, ...], int] | None = None) -> None:
    """Reject unknown keys and wrongly typed values in one file's dict.

    *lines* maps key paths to their line in *source* (loader.Document) so
    errors read ``file:line: …``.
    """
    def at(*path: str) -> str:
        known = lines or {}
        for n in range(len(path), 0, -1):
            if path[:n] in known:
                return f"{source}:{known[path[:n]]}"
        return source

    _check_keys(data, TOP_LEVEL_KEYS, (), at, "top-level", "")
    for name, service in (data.get("services") or {}).items():
        here = ("services", str(name))
        what = f"service {name!r}"
        if service is None:
            service = {}
        if not isinstance(service, dict):
            raise InvalidArgument(f"{at(*here)}: {what} must be a mapping")
        _check_keys(service, SERVICE_KEYS, here, at, "service", what)
        for key, types in _ITEMS.items():
            value = service.get(key)
            items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
            for item in items:
                if not isinstance(item, types):
                    raise InvalidArgument(
                        f"{at(*here, key)}: {what} key {key!r}: entry {item!r} must be "
                        + " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types))
        if isinstance(service.get("extends"), dict):
            _check_keys(service["extends"], EXTENDS_KEYS, here + ("extends",), at, "extends", f"{what} key 'extends'")
            if "service" not in service["extends"]:
                raise InvalidArgument(f"{at(*here, 'extends')}: {what} key 'extends' needs a 'service'")
        if isinstance(service.get("build"), dict):
            _check_keys(service["build"], BUILD_KEYS, here + ("build",), at, "build", f"{what} key 'build'")
        for key, allowed in (("ports", PORT_KEYS), ("volumes", MOUNT_KEYS)):
            for item in service.get(key) or []:
                if isinstance(item, dict):
                    _check_keys(item, allowed, here + (key,), at, key[:-1], f"{what} key {key!r}")
        if isinstance(service.get("networks"), dict):
            for net, options in service["networks"].items():
                if options is not None:
                    _check_keys(options, SERVICE_NETWORK_KEYS, here + ("networks", str(net)), at,
                                "network", f"{what} key 'networks.{net}'")
        if isinstance(service.get("depends_on"), dict):
            for dep, options in service["depends_on"].items():
                if options is not None:
                    _check_keys(options, DEPENDS_ON_KEYS, here + ("depends_on", str(dep)), at,
                                "depends_on", f"{what} key 'depends_on.{dep}'")
        for key in _DURATION_KEYS:
            value = service.get(key)
            if key.startswith("healthcheck."):
                value = (service.get("healthcheck") or {}).get(key.split(".", 1)[1])
            if isinstance(value, str) and not _DURATION.fullmatch(value):
                raise InvalidArgument(f"{at(*here, *key.split('.'))}: {what} key {key!r}: "
                                      f"{value!r} is not a duration like 10s, 1m30s or 500ms")
        if "healthcheck" in service:
            _check_keys(service["healthcheck"], HEALTHCHECK_KEYS, here + ("healthcheck",), at,
                        "healthcheck", f"{what} key 'healthcheck'")
        depends = service.get("depends_on")
        if isinstance(depends, dict):
            for dep, options in depends.items():
                condition = (options or {}).get("condition", "service_started")
                if condition not in DEPENDS_ON_CONDITIONS:
                    raise InvalidArgument(
                        f"{at(*here, 'depends_on', str(dep))}: {what} key 'depends_on.{dep}.condition': "
                        f"{condition!r} is not one of " + ", ".join(DEPENDS_ON_CONDITIONS))
    for kind in ("networks", "volumes"):
        for name, options in (data.get(kind) or {}).items():
            what = f"{kind[:-1]} {name!r}"
            if options is None:
                continue
            if not isinstance(options, dict):
                raise InvalidArgument(f"{at(kind, str(name))}: {what} must be a mapping")
            _check_keys(options, RESOURCE_KEYS, (kind, str(name)), at, kind[:-1], what)


def _check_keys(obj: Any, allowed: Mapping[str, tuple[type, ...]], path: tuple[str, ...],
                at: Any, kind: str, what: str) -> None:
    prefix = f"{what} " if what else ""
    if not isinstance(obj, dict):
        raise InvalidArgument(f"{at(*path)}: {prefix}must be a mapping")
    for key, value in obj.items():
        if isinstance(key, str) and key.startswith("x-"):
            continue
        if key not in allowed:
            raise InvalidArgument(f"{at(*path, str(key))}: {what + ': ' if what else ''}unknown {kind} key {key!r}")
        types = allowed[key]
        # YAML's true/false are ints to isinstance; a boolean is only a boolean.
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            expected = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)
            raise InvalidArgument(
                f"{at(*path, str(key))}: {prefix}key {key!r} must be {expected}, not {_describe(value)}")


def _describe(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def validate_references(model: Mapping[str, Any]) -> None:
    """Check a merged, normalized model for dangling names and cycles."""
    services = model.get("services", {})
    networks = model.get("networks", {})
    volumes = model.get("volumes", {})
    for name, service in services.items():
        if "image" not in service and "build" not in service:
            raise InvalidArgument(f"service {name!r} has neither an image nor a build context")
        for net in service.get("networks", {}):
            if net not in networks:
                raise InvalidArgument(f"service {name!r} key 'networks' refers to undefined network {net!r}")
        for mount in service.get("volumes", []):
            if mount["type"] == "volume" and mount.get("source") and mount["source"] not in volumes:
                raise InvalidArgument(
                    f"service {name!r} key 'volumes' refers to undefined volume {mount['source']!r}")
        for dep, options in service.get("depends_on", {}).items():
            # required: false marks an optional dependency, absent on purpose.
            if dep not in services and options.get("required", True):
                raise InvalidArgument(f"service {name!r} key 'depends_on' refers to undefined service {dep!r}")
    owners: dict[str, str] = {}
    for name, service in services.items():
        container = service.get("container_name")
        if container is None:
            continue
        if container in owners:
            raise InvalidArgument(f"service {name!r} key 'container_name': {container!r} "
                                  f"is already used by service {owners[container]!r}")
        owners[container] = name
        replicas = service.get("scale", (service.get("deploy") or {}).get("replicas", 1))
        if replicas != 1:
            raise InvalidArgument(f"service {name!r} key 'container_name': a service with a fixed "
                                  f"container name cannot have {replicas} replicas")
    cycle = find_cycle({n: [d for d in s.get("depends_on", {}) if d in services] for n, s in services.items()})
    if cycle:
        raise InvalidArgument(
            f"service {cycle[0]!r} key 'depends_on': dependency cycle " + " -> ".join(cycle))


def find_cycle(graph: Mapping[str, list[str]]) -> list[str] | None:
    """A cycle in *graph* as ``[a, b, …, a]``, or None; depth-first, sorted for stable errors."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, [])):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None
