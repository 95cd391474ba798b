"""Short syntax to long syntax, one file's services at a time.

Runs before merging so that the merge rules see one shape per key: ports and
volumes as mappings keyed by their fields, environment and labels as
mappings, depends_on and networks as mappings, build as a mapping.  Relative
paths (build context, bind sources, env_file) resolve against the project
directory, as docker compose resolves them.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from typing import Any

from dockyard.compose.loader import parse_env_file
from dockyard.errors import InvalidArgument, NotFound


def normalize_file(data: Mapping[str, Any], working_dir: str, env: Mapping[str, str]) -> dict[str, Any]:
    """One validated file's dict with every service in long syntax; ``version`` dropped."""
    out = {k: v for k, v in data.items() if k != "version"}
    services = data.get("services") or {}
    out["services"] = {name: normalize_service(name, svc or {}, working_dir, env)
                       for name, svc in services.items()}
    for kind in ("networks", "volumes"):
        if kind in data:
            out[kind] = {name: dict(opts or {}) for name, opts in (data[kind] or {}).items()}
    return out


def normalize_service(name: str, svc: Mapping[str, Any], working_dir: str,
                      env: Mapping[str, str]) -> dict[str, Any]:
    out = dict(svc)
    where = f"service {name!r}"
    if "build" in out:
        out["build"] = _build(out["build"], working_dir, env)
    for key in ("command", "entrypoint"):
        if isinstance(out.get(key), str):
            out[key] = shlex.split(out[key])
    if "env_file" in out:
        files = [out.pop("env_file")] if isinstance(svc["env_file"], str) else out.pop("env_file")
        from_files: dict[str, str | None] = {}
        for f in files:
            from_files.update(_read_env_file(os.path.join(working_dir, f), where))
        # Values set in the file itself win over env_file.
        out["environment"] = {**from_files, **_mapping(out.get("environment", {}), where, "environment", env)}
    if "environment" in out:
        out["environment"] = _mapping(out["environment"], where, "environment", env)
    if "labels" in out:
        out["labels"] = _mapping(out["labels"], where, "labels", None)
    if "ports" in out:
        out["ports"] = [p for spec in out["ports"] for p in parse_port(spec, where)]
    if "expose" in out:
        out["expose"] = [str(p) for p in out["expose"]]
    if "volumes" in out:
        out["volumes"] = [parse_volume(v, working_dir, where) for v in out["volumes"]]
    if isinstance(out.get("tmpfs"), str):
        out["tmpfs"] = [out["tmpfs"]]
    for key in ("dns", "dns_search"):
        if isinstance(out.get(key), str):
            out[key] = [out[key]]
    if "depends_on" in out:
        out["depends_on"] = _depends_on(out["depends_on"])
    if "networks" in out:
        nets = out["networks"]
        out["networks"] = {n: None for n in nets} if isinstance(nets, list) else \
            {n: (dict(o) if o else None) for n, o in nets.items()}
    if "healthcheck" in out:
        hc = dict(out["healthcheck"])
        if isinstance(hc.get("test"), str):
            hc["test"] = ["CMD-SHELL", hc["test"]]
        out["healthcheck"] = hc
    return out


def _build(build: Any, working_dir: str, env: Mapping[str, str]) -> dict[str, Any]:
    spec = {"context": build} if isinstance(build, str) else dict(build)
    context = spec.get("context", ".")
    if "://" not in context and not context.startswith("git@"):
        context = os.path.normpath(os.path.join(working_dir, os.path.expanduser(context)))
    spec["context"] = context
    spec.setdefault("dockerfile", "Dockerfile")
    if "args" in spec:
        spec["args"] = _mapping(spec["args"], "build", "args", env)
    return spec


def _mapping(value: Any, where: str, key: str, env: Mapping[str, str] | None) -> dict[str, Any]:
    """A ``KEY=VALUE`` list or a mapping as a mapping of strings.

    A bare ``KEY`` in a list takes its value from *env* when given (as
    docker compose does for environment), else null.
    """
    if isinstance(value, dict):
        return {str(k): _scalar(v) for k, v in value.items()}
    result: dict[str, Any] = {}
    for item in value:
        if not isinstance(item, str):
            raise InvalidArgument(f"{where} key {key!r}: entries must be strings like KEY=VALUE, not {item!r}")
        k, sep, v = item.partition("=")
        result[k] = v if sep else (env.get(k) if env is not None else None)
    return result


def _scalar(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _read_env_file(path: str, where: str) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as f:
            return parse_env_file(f.read(), path)
    except FileNotFoundError:
        raise NotFound(f"{where} key 'env_file': {path} not found") from None


def _depends_on(value: Any) -> dict[str, dict[str, Any]]:
    # Defaults (condition, restart) are filled in after merging, in
    # project.finalize, so an override's short form cannot reset a base
    # file's explicit options.
    if isinstance(value, list):
        return {dep: {} for dep in value}
    return {dep: dict(options or {}) for dep, options in value.items()}


def parse_port(spec: Any, where: str) -> list[dict[str, Any]]:
    """``[host_ip:][published:]target[/protocol]`` → long-syntax mappings.

    A range (``8000-8002:80-82``) gives one mapping per port.
    """
    if isinstance(spec, dict):
        port = dict(spec)
        if "target" not in port:
            raise InvalidArgument(f"{where} key 'ports': long syntax needs a target")
        port["target"] = int(port["target"])
        if "published" in port:
            port["published"] = str(port["published"])
        port.setdefault("protocol", "tcp")
        return [port]
    text = str(spec)
    text, _, protocol = text.partition("/")
    protocol = protocol or "tcp"
    host_ip = ""
    # The host IP may itself contain colons (IPv6 in brackets).
    if text.startswith("["):
        end = text.index("]")
        host_ip, text = text[1:end], text[end + 2:]
        parts = text.split(":")
    else:
        parts = text.split(":")
        if len(parts) == 3:
            host_ip, parts = parts[0], parts[1:]
    if len(parts) > 2 or not parts[-1]:
        raise InvalidArgument(f"{where} key 'ports': invalid port {spec!r}")
    targets = _port_range(parts[-1], spec, where)
    published = _port_range(parts[0], spec, where) if len(parts) == 2 and parts[0] else None
    if published is not None and len(published) not in (1, len(targets)):
        raise InvalidArgument(f"{where} key 'ports': ranges of different lengths in {spec!r}")
    result = []
    for i, target in enumerate(targets):
        port: dict[str, Any] = {"target": target, "protocol": protocol}
        if published is not None:
            port["published"] = str(published[i] if len(published) == len(targets) else published[0])
        if host_ip:
            port["host_ip"] = host_ip
        result.append(port)
    return result


def _port_range(text: str, spec: Any, where: str) -> list[int]:
    low, sep, high = text.partition("-")
    try:
        start, end = int(low), int(high) if sep else int(low)
    except ValueError:
        raise InvalidArgument(f"{where} key 'ports': invalid port {spec!r}") from None
    if not (0 < start <= end <= 65535):
        raise InvalidArgument(f"{where} key 'ports': port out of range in {spec!r}")
    return list(range(start, end + 1))


def parse_volume(spec: Any, working_dir: str, where: str) -> dict[str, Any]:
    """``[source:]target[:mode]`` → ``{type, source, target, read_only}``.

    A source starting with ``.``, ``/`` or ``~`` is a bind mount (made
    absolute); any other source names a volume; no source is an anonymous
    volume.
    """
    if isinstance(spec, dict):
        mount = dict(spec)
        if "target" not in mount:
            raise InvalidArgument(f"{where} key 'volumes': long syntax needs a target")
        mount.setdefault("type", "volume")
        if mount["type"] == "bind" and "source" in mount:
            mount["source"] = _host_path(mount["source"], working_dir)
        return mount
    parts = str(spec).split(":")
    if len(parts) == 1:
        return {"type": "volume", "target": parts[0]}
    if len(parts) > 3:
        raise InvalidArgument(f"{where} key 'volumes': invalid volume {spec!r}")
    source, target = parts[0], parts[1]
    modes = parts[2].split(",") if len(parts) == 3 else []
    for mode in modes:
        if mode not in ("ro", "rw", "z", "Z", "nocopy", "shared", "rshared", "slave", "rslave",
                        "private", "rprivate"):
            raise InvalidArgument(f"{where} key 'volumes': unknown mode {mode!r} in {spec!r}")
    if not target.startswith("/"):
        raise InvalidArgument(f"{where} key 'volumes': target {target!r} must be an absolute path")
    mount: dict[str, Any] = {"source": source, "target": target}
    if source.startswith((".", "/", "~")):
        mount["type"] = "bind"
        mount["source"] = _host_path(source, working_dir)
    else:
        mount["type"] = "volume"
    if "ro" in modes:
        mount["read_only"] = True
    return mount


def _host_path(path: str, working_dir: str) -> str:
    return os.path.normpath(os.path.join(working_dir, os.path.expanduser(path)))
