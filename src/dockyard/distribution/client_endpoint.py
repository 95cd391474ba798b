"""Where a registry lives: from an image reference's domain to the URLs we try.

    docker.io/library/busybox  → https://registry-1.docker.io        (Docker Hub)
    localhost:5000/app         → https://localhost:5000 (unverified),
                                 then http://localhost:5000
    127.0.0.1:5000/app         → the same: loopback is always insecure
    registry.example/app       → https://registry.example only, unless
                                 daemon.json lists it in insecure-registries

The rule is moby's (registry/config.go): a registry is *insecure* when its
name is listed in `insecure-registries`, or when one of its addresses falls
in a CIDR listed there; 127.0.0.0/8 and ::1 are always listed.  An insecure
registry is tried over https without verifying the certificate, then over
plain http.  Docker Hub is always secure.

The daemon's configuration is `<data-root>/daemon.json`, else
`/etc/dockyard/daemon.json`; `DaemonConfig` re-reads it when it changes, so
adding a registry needs no restart.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import threading
from dataclasses import dataclass, field
from typing import Sequence

from dockyard.distribution.auth_config import DOCKER_HUB, registry_domain
from dockyard.errors import InvalidArgument

DOCKER_HUB_REGISTRY = "registry-1.docker.io"
_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One way to reach a registry: scheme, host[:port], whether TLS is verified."""

    scheme: str
    host: str
    verify_tls: bool = True

    def __post_init__(self) -> None:
        if self.scheme not in ("https", "http"):
            raise InvalidArgument(f"unsupported registry scheme {self.scheme!r}")

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.host}"

    def url(self, path: str) -> str:
        return self.base + path


@dataclass(frozen=True, slots=True)
class InsecureRegistries:
    """The `insecure-registries` setting: names (host[:port]) and networks."""

    names: frozenset[str] = frozenset()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = _LOOPBACK

    @classmethod
    def from_list(cls, entries: Sequence[str]) -> "InsecureRegistries":
        names: set[str] = set()
        networks = list(_LOOPBACK)
        for entry in entries:
            entry = entry.strip()
            for prefix in ("http://", "https://"):
                if entry.startswith(prefix):
                    entry = entry[len(prefix):]
            entry = entry.rstrip("/")
            if not entry:
                continue
            if "/" in entry:
                try:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                    continue
                except ValueError:
                    raise InvalidArgument(f"insecure-registries: {entry!r} is neither a host[:port] nor a CIDR") from None
            names.add(entry.lower())
        return cls(frozenset(names), tuple(networks))

    def is_insecure(self, domain: str) -> bool:
        """Whether `domain` (host[:port], as in a reference) may use http or unverified TLS."""
        if registry_domain(domain) == DOCKER_HUB:
            return False
        if domain.lower() in self.names:
            return True
        host = split_host(domain)[0]
        if host.lower() in self.names:
            return True
        return any(address in network for address in _addresses(host) for network in self.networks)


def split_host(domain: str) -> tuple[str, int | None]:
    """"localhost:5000" → ("localhost", 5000); "[::1]:5000" → ("::1", 5000)."""
    if domain.startswith("["):
        host, _, rest = domain[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = domain.partition(":")
    return host, int(port) if port.isdigit() else None


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    if host == "localhost" or host.endswith(".localhost"):
        return [ipaddress.ip_address("127.0.0.1")]
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []  # unresolvable names are secure (the connection will say why)
    out = []
    for info in infos:
        try:
            out.append(ipaddress.ip_address(info[4][0].split("%", 1)[0]))
        except ValueError:
            continue
    return out


def endpoints(domain: str, insecure: InsecureRegistries) -> list[Endpoint]:
    """The endpoints to try for a registry, in order."""
    if registry_domain(domain) == DOCKER_HUB:
        return [Endpoint("https", DOCKER_HUB_REGISTRY)]
    if insecure.is_insecure(domain):
        return [Endpoint("https", domain, verify_tls=False), Endpoint("http", domain)]
    return [Endpoint("https", domain)]


@dataclass
class DaemonConfig:
    """daemon.json, re-read whenever the first existing candidate changes."""

    candidates: Sequence[str]
    _stamp: tuple | None = field(default=None, init=False)
    _insecure: InsecureRegistries = field(default_factory=InsecureRegistries, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def insecure_registries(self) -> InsecureRegistries:
        path, stamp = self._current()
        with self._lock:
            if stamp != self._stamp:
                self._insecure = InsecureRegistries.from_list(_read_list(path, "insecure-registries") if path else [])
                self._stamp = stamp
            return self._insecure

    def _current(self) -> tuple[str | None, tuple | None]:
        for path in self.candidates:
            try:
                st = os.stat(path)
            except OSError:
                continue
            return path, (path, st.st_mtime_ns, st.st_size, st.st_ino)
        return None, None


def daemon_config_paths(data_root: str) -> list[str]:
    return [os.path.join(data_root, "daemon.json"), "/etc/dockyard/daemon.json"]


def _read_list(path: str, key: str) -> list[str]:
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read() or b"{}")
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"{path}: {exc}") from None
    value = (doc.get(key) or []) if isinstance(doc, dict) else []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"{path}: {key} must be a list of strings")
    return value


__all__ = [
    "DOCKER_HUB_REGISTRY", "DaemonConfig", "Endpoint", "InsecureRegistries", "daemon_config_paths",
    "endpoints", "split_host",
]
