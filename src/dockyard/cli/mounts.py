"""``-v/--volume``, ``--mount`` and ``--tmpfs`` → the create body, as
docker's CLI maps them (pure functions):

* ``-v SRC:DST[:OPTS]`` with a host path (starting with ``/``, ``.`` or
  ``~``) or a volume name goes to ``HostConfig.Binds``; a host path
  starting with ``.`` is made absolute first.  ``-v /path`` alone is an
  anonymous volume: ``Config.Volumes {"/path": {}}``;
* ``--mount type=bind|volume|tmpfs,…`` → ``HostConfig.Mounts`` entries
  (docker's Mount JSON, empty fields left out);
* ``--tmpfs /path[:opts]`` → ``HostConfig.Tmpfs {"/path": "opts"}``.
"""

from __future__ import annotations

import os
import re

from dockyard.cli import units

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_VOLUME_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


def _split_spec(spec: str) -> tuple[str, str, str]:
    """docker's volumespec.Parse reduced to (source, target, options)."""
    if not spec:
        raise ValueError("invalid empty volume spec")
    if len(spec) <= 2:
        return "", spec, ""
    parts = spec.split(":")
    if any(not p for p in parts):
        raise ValueError(f"invalid spec: {spec}: empty section between colons")
    if len(parts) == 1:
        return "", parts[0], ""
    if len(parts) > 3:
        raise ValueError(f"invalid spec: {spec}: too many colons")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else ""


def _is_file_path(source: str) -> bool:
    return source[:1] in (".", "/", "~")


def volumes_and_binds(specs: list[str]) -> tuple[dict[str, Any], list[str]]:
    """``-v`` values → (Config.Volumes, HostConfig.Binds)."""
    volumes: dict[str, Any] = {}
    binds: list[str] = []
    for spec in specs:
        source, target, _ = _split_spec(spec)
        if not source:
            volumes[spec] = {}
            continue
        if _is_file_path(source):
            if source.startswith("."):
                host, _, rest = spec.partition(":")
                spec = f"{os.path.abspath(host)}:{rest}"
        elif not _VOLUME_NAME.match(source):
            # The daemon's wording for a relative path taken as a volume name.
            raise ValueError(
                f'create {source}: "{source}" includes invalid characters for a local volume '
                'name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a '
                "host directory, use absolute path")
        binds.append(spec)
    return volumes, binds


def _parse_bool(key: str, value: str) -> bool:
    from dockyard.cli.flags import _parse_bool as parse

    try:
        return parse(value)
    except ValueError:
        raise ValueError(f"invalid value for {key}: {value}") from None


def parse_mount(text: str) -> dict[str, Any]:
    """One ``--mount`` value (CSV of key=value) → a Mount (API JSON)."""
    import csv

    fields = next(csv.reader([text]))
    mount: dict[str, Any] = {"Type": "volume"}
    bind: dict[str, Any] = {}
    volume: dict[str, Any] = {}
    tmpfs: dict[str, Any] = {}
    for field in fields:
        key, eq, value = field.partition("=")
        key = key.lower()
        if not eq:
            if key in ("readonly", "ro"):
                mount["ReadOnly"] = True
            elif key == "volume-nocopy":
                volume["NoCopy"] = True
            elif key == "bind-nonrecursive":
                bind["NonRecursive"] = True
            else:
                raise ValueError(f"invalid field '{field}' must be a key=value pair")
            continue
        if key == "type":
            mount["Type"] = value.lower()
        elif key in ("source", "src"):
            mount["Source"] = os.path.abspath(value) if value.startswith(".") else value
        elif key in ("target", "dst", "destination"):
            mount["Target"] = value
        elif key in ("readonly", "ro"):
            mount["ReadOnly"] = _parse_bool(key, value)
        elif key == "consistency":
            mount["Consistency"] = value.lower()
        elif key == "bind-propagation":
            bind["Propagation"] = value.lower()
        elif key == "bind-nonrecursive":
            bind["NonRecursive"] = _parse_bool(key, value)
        elif key == "bind-recursive":
            flag = {"enabled": None, "disabled": "NonRecursive",
                    "writable": "ReadOnlyNonRecursive",
                    "readonly": "ReadOnlyForceRecursive"}
            if value not in flag:
                raise ValueError(f'invalid value for {key}: {value} (must be "enabled", '
                                 '"disabled", "writable", or "readonly")')
            if flag[value]:
                bind[flag[value]] = True
        elif key == "volume-subpath":
            volume["Subpath"] = value
        elif key == "volume-nocopy":
            volume["NoCopy"] = _parse_bool(key, value)
        elif key == "volume-label":
            k, _, v = value.partition("=")
            if k:
                volume.setdefault("Labels", {})[k] = v
        elif key == "volume-driver":
            volume.setdefault("DriverConfig", {})["Name"] = value
        elif key == "volume-opt":
            k, _, v = value.partition("=")
            if k:
                volume.setdefault("DriverConfig", {}).setdefault("Options", {})[k] = v
        elif key == "tmpfs-size":
            try:
                tmpfs["SizeBytes"] = units.ram_in_bytes(value)
            except ValueError:
                raise ValueError(f"invalid value for {key}: {value}") from None
        elif key == "tmpfs-mode":
            try:
                tmpfs["Mode"] = int(value, 8)
            except ValueError:
                raise ValueError(f"invalid value for {key}: {value}") from None
        else:
            raise ValueError(f"unexpected key '{key}' in '{field}'")
    kind = mount["Type"]
    if not kind:
        raise ValueError("type is required")
    if not mount.get("Target"):
        raise ValueError("target is required")
    for options, name, wanted in ((volume, "volume", "volume"), (bind, "bind", "bind"),
                                  (tmpfs, "tmpfs", "tmpfs")):
        if options and kind != wanted:
            raise ValueError(f"cannot mix '{name}-*' options with mount type '{kind}'")
    if bind.get("ReadOnlyNonRecursive") and not mount.get("ReadOnly"):
        raise ValueError("option 'bind-recursive=writable' requires 'readonly' to be "
                         "specified in conjunction")
    if bind.get("ReadOnlyForceRecursive"):
        if not mount.get("ReadOnly"):
            raise ValueError("option 'bind-recursive=readonly' requires 'readonly' to be "
                             "specified in conjunction")
        if bind.get("Propagation") != "rprivate":
            raise ValueError("option 'bind-recursive=readonly' requires "
                             "'bind-propagation=rprivate' to be specified in conjunction")
    if bind:
        mount["BindOptions"] = bind
    if volume:
        mount["VolumeOptions"] = volume
    if tmpfs:
        mount["TmpfsOptions"] = tmpfs
    return mount


def tmpfs_map(specs: list[str]) -> dict[str, str]:
    return {spec.partition(":")[0]: spec.partition(":")[2] for spec in specs}
