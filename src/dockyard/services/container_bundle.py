"""A container's OCI bundle, written before each start.

From the container's record: the /etc files docker bind-mounts, the OCI
spec (config.json) with the process resolved against the image's users and
every mount the container needs, and the configuration the shim is started
with.  Stale results of a previous run (exit file, socket) are cleared.
"""

from __future__ import annotations

import json
import os
from typing import Callable

from ..paths import ContainerPaths
from ..runtime import spec as oci
from . import container_config as cc
from .container_files import EtcNetwork, write_etc_files
from .container_state import Container


def prepare_bundle(
    c: Container,
    paths: ContainerPaths,
    read_image_file: Callable[[str, str], bytes | None],
    rootfs_mounts: list,
    extra_mounts: list,
    runtime_state_root: str,
    network_namespace: str | None = None,
    etc: EtcNetwork = EtcNetwork(),
) -> dict:
    """Write the bundle; return the shim's configuration (a ShimConfig as JSON).

    `extra_mounts` are OCI mount entries (volumes, binds, tmpfs) placed after
    the /etc files, in the order the container asked for them.
    """
    hc, cfg = c.host_config, c.config
    write_etc_files(c, paths, etc)
    process = cc.process_settings(
        cfg, [c.path, *c.args], lambda p: read_image_file(c.image_id, p), hc.get("ConsoleSize")
    )
    binds = [
        oci.BindMount(paths.resolv_conf, "/etc/resolv.conf"),
        oci.BindMount(paths.hostname, "/etc/hostname"),
        oci.BindMount(paths.hosts, "/etc/hosts"),
    ]
    spec = oci.build(process, cc.host_settings(c.id, cfg, hc, binds, network_namespace))
    # Parents before children, as docker orders them: a volume on /etc must
    # not hide the /etc/hosts mounted into it.
    spec["mounts"] = sorted(spec["mounts"] + list(extra_mounts),
                            key=lambda m: os.path.normpath(m["destination"]).count("/"))
    tmp = f"{paths.config}.tmp"
    with open(tmp, "w") as f:
        json.dump(spec, f, indent=1)
    os.rename(tmp, paths.config)
    for stale in (paths.exit_file, paths.shim_socket):
        try:
            os.unlink(stale)
        except FileNotFoundError:
            pass
    runtime = hc.get("Runtime") or "dockyard"
    return {
        "id": c.id,
        "bundle": paths.dir,
        "runtime": cc.KNOWN_RUNTIMES[runtime],
        "runtime_root": os.path.join(runtime_state_root, runtime),
        "terminal": bool(cfg.get("Tty")),
        "open_stdin": bool(cfg.get("OpenStdin")),
        "stdin_once": bool(cfg.get("StdinOnce")),
        "rootfs_mounts": [m if isinstance(m, dict) else {"type": m.type, "source": m.source, "options": list(m.options)}
                          for m in rootfs_mounts],
        "log_path": paths.log,
        **log_options(hc.get("LogConfig")),
    }


def log_options(log_config: dict | None) -> dict:
    """json-file's max-size/max-file as the shim takes them (validated at create)."""
    opts = (log_config or {}).get("Config") or {}
    return {"log_max_size": cc.parse_size(opts["max-size"]) if opts.get("max-size") else 0,
            "log_max_files": int(opts.get("max-file") or 1)}
