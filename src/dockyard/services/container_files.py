"""The files docker bind-mounts into every container: hostname, hosts, resolv.conf.

They live in the container's directory (paths.ContainerPaths) and are
written before each start, so a changed hostname or resolver shows up after a
restart, as in docker.
"""

from __future__ import annotations

import os

from ..paths import ContainerPaths
from .container_state import Container


def write_etc_files(c: Container, paths: ContainerPaths) -> None:
    """The /etc/hostname, /etc/hosts and /etc/resolv.conf bind-mounted into the container."""
    hostname = c.config.get("Hostname") or c.id[:12]
    domain = c.config.get("Domainname")
    _write_atomic(paths.hostname, f"{hostname}\n".encode())
    fqdn = f"{hostname}.{domain}" if domain else hostname
    hosts = (
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
    )
    if c.host_config.get("NetworkMode") != "host":
        hosts += f"127.0.1.1\t{fqdn}" + (f" {hostname}" if fqdn != hostname else "") + "\n"
    for entry in c.host_config.get("ExtraHosts") or []:
        host, _, ip = entry.partition(":")
        hosts += f"{ip}\t{host}\n"
    _write_atomic(paths.hosts, hosts.encode())
    _write_atomic(paths.resolv_conf, _container_resolv_conf())


def _write_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


_resolv_cache: bytes | None = None


def _container_resolv_conf() -> bytes:
    """The host's resolv.conf without loopback resolvers (unreachable from a
    container's own network namespace), with docker's fallbacks if none is left."""
    global _resolv_cache
    if _resolv_cache is None:
        try:
            with open("/etc/resolv.conf") as f:
                lines = f.read().splitlines()
        except OSError:
            lines = []
        kept = [
            ln for ln in lines
            if not (ln.strip().startswith("nameserver") and (ln.split()[1:2] or [""])[0].startswith(("127.", "::1")))
        ]
        if not any(ln.strip().startswith("nameserver") for ln in kept):
            kept += ["nameserver 8.8.8.8", "nameserver 8.8.4.4"]
        _resolv_cache = ("\n".join(kept) + "\n").encode()
    return _resolv_cache
