"""The files docker bind-mounts into every container: hostname, hosts, resolv.conf.

They live in the container's directory (paths.ContainerPaths) and are
written before each start — after the network endpoints exist, so the
container's own address is in /etc/hosts — and a changed hostname, link or
resolver shows up after a restart, as in docker.

What docker writes, and so what we write:

* ``--network host``: the host's own /etc/hosts and /etc/resolv.conf (plus
  ``--add-host`` entries);
* a user-defined network: ``nameserver 127.0.0.11`` (the embedded name
  server) with the host's search domains and ``options ndots:0``;
* the default bridge and ``none``: the host's resolv.conf without loopback
  resolvers (unreachable from another namespace), Google's if none is left;
* ``--dns``, ``--dns-search``, ``--dns-option`` replace those parts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..paths import ContainerPaths
from .container_state import Container

_LOCAL_HOSTS = (
    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
)


@dataclass(frozen=True)
class EtcNetwork:
    """What the network service knows that the files need: ``peers`` maps
    ``--link`` names to addresses, ``host_gateway`` is what ``--add-host
    name:host-gateway`` means, ``internal_dns`` says the container is on a
    user-defined network."""

    peers: dict = field(default_factory=dict)
    host_gateway: str = ""
    internal_dns: bool = False


def write_etc_files(c: Container, paths: ContainerPaths, net: EtcNetwork = EtcNetwork()) -> None:
    """The /etc/hostname, /etc/hosts and /etc/resolv.conf bind-mounted into the container."""
    peers, host_gateway, internal_dns = net.peers, net.host_gateway, net.internal_dns
    hostname = c.config.get("Hostname") or c.id[:12]
    domain = c.config.get("Domainname")
    _write_atomic(paths.hostname, f"{hostname}\n".encode())
    fqdn = f"{hostname}.{domain}" if domain else hostname
    names = f"{fqdn} {hostname}" if fqdn != hostname else hostname
    mode = c.host_config.get("NetworkMode") or "bridge"
    if mode == "host":
        hosts = _read("/etc/hosts") or _LOCAL_HOSTS
        if not hosts.endswith("\n"):
            hosts += "\n"
    else:
        hosts = _LOCAL_HOSTS
        for alias, address in (peers or {}).items():
            hosts += f"{address}\t{alias}\n"
        address = next((ep["IPAddress"] for ep in (c.networks or {}).values() if ep.get("IPAddress")), "")
        if address:
            hosts += f"{address}\t{names}\n"
    for entry in c.host_config.get("ExtraHosts") or []:
        host, _, ip = entry.partition(":") if "=" not in entry else entry.partition("=")
        if ip == "host-gateway":
            ip = host_gateway
        if ip:
            hosts += f"{ip}\t{host}\n"
    _write_atomic(paths.hosts, hosts.encode())
    _write_atomic(paths.resolv_conf, resolv_conf(c, internal_dns))


def resolv_conf(c: Container, internal_dns: bool) -> bytes:
    hc = c.host_config
    host_lines = (_read("/etc/resolv.conf") or "").splitlines()
    if (hc.get("NetworkMode") or "bridge") == "host" and not (hc.get("Dns") or hc.get("DnsSearch") or hc.get("DnsOptions")):
        return ("\n".join(host_lines) + "\n").encode()
    servers = [ln.split()[1] for ln in host_lines if ln.startswith("nameserver") and len(ln.split()) > 1]
    search = next((ln.split()[1:] for ln in host_lines if ln.startswith(("search", "domain"))), [])
    options = next((ln.split()[1:] for ln in host_lines if ln.startswith("options")), [])
    if internal_dns:
        servers = ["127.0.0.11"]
        options = [o for o in options if not o.startswith("ndots:")] + ["ndots:0"]
    else:
        servers = [s for s in servers if not s.startswith(("127.", "::1"))] or ["8.8.8.8", "8.8.4.4"]
        if hc.get("Dns"):
            servers = list(hc["Dns"])
    if hc.get("DnsSearch"):
        search = [] if hc["DnsSearch"] == ["."] else list(hc["DnsSearch"])
    if hc.get("DnsOptions"):
        options = list(hc["DnsOptions"])
    lines = [f"nameserver {s}" for s in servers]
    if search:
        lines.append("search " + " ".join(search))
    if options:
        lines.append("options " + " ".join(options))
    return ("\n".join(lines) + "\n").encode()


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _write_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)
