"""Published ports: what the Engine API asks for, which host ports that makes, and holding them.

    HostConfig.PortBindings ─┐
    Config.ExposedPorts ─────┼─ plan_bindings ─▶ [PortRequest] ─ PortAllocator.allocate(owner) ─▶ [PortBinding]
    HostConfig.PublishAllPorts ┘   pure, docker's errors           host ports chosen and held       │
                                                                                                     ▼
          NetworkSettings.Ports ◀─ to_api        /containers/json Ports ◀─ to_summary      (ps folds them: cli.containers.display_ports)

The API's vocabulary, as docker reads it:

    {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}        80/tcp on every host address, port 8080
    {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}   on 127.0.0.1, any free port
    {"80/tcp": [{"HostIp": "", "HostPort": "8000-8002"}]}   the first free port of 8000–8002
    {"53/udp": [...]}; "80" alone means "80/tcp"

A range of container ports never reaches the daemon: the CLI turns
``-p 8000-8002:8000-8002`` into one key per port (8000/tcp → "8000", …), as
docker's does, and ``docker ps`` folds them back into
``0.0.0.0:8000-8002->8000-8002/tcp`` (the CLI's `display_ports`).  PublishAllPorts gives
every exposed port without a binding a free port on every address.

Free ports come from the kernel's ephemeral range
(/proc/sys/net/ipv4/ip_local_port_range, 32768–60999 here), skipping
ip_local_reserved_ports, round-robin as docker's allocator goes, so a port
just released is not handed out again at once.

Why hold ports.  Publications are pure DNAT (nftables.py): no proxy process
listens on the host, so nothing would stop a host process from binding a
published port and silently never seeing a packet.  Each binding is
therefore held by a socket of its protocol bound to its host address and
port — bound, never listening, without SO_REUSEADDR (two non-listening
sockets that both set it may share a port) — until `release`.  A UDP holder
also carries a filter that drops every datagram, so packets that missed the
DNAT (a flow conntrack knew before the rule) do not pile up in the daemon.
The sockets live in the daemon: after a restart, `restore` takes them again.
They are close-on-exec, but a bare fork() copies them: a process forked from
the daemon after ports are held keeps them bound until it exits or execs.
"""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import os
import socket
import struct
import threading
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from dockyard.errors import Conflict, InvalidArgument, SystemError

PROTOCOLS = ("tcp", "udp")
EXPOSABLE = ("tcp", "udp", "sctp")
ANY = "0.0.0.0"

PORT_RANGE_FILE = "/proc/sys/net/ipv4/ip_local_port_range"
RESERVED_PORTS_FILE = "/proc/sys/net/ipv4/ip_local_reserved_ports"
DOCKER_FALLBACK_RANGE = (49153, 65535)  # docker's, when the kernel's cannot be read


@dataclass(frozen=True, slots=True)
class PortRequest:
    """One binding asked for: container port, host address, host port(s).

    ``host_port_start == host_port_end == 0`` asks for any port of the
    ephemeral range; equal and non-zero, for exactly that port; different,
    for the first free one in that range.
    """

    proto: str
    container_port: int
    host_ip: str = ANY
    host_port_start: int = 0
    host_port_end: int = 0

    def __post_init__(self) -> None:
        _check_proto(self.proto)
        _check_port(self.container_port)
        object.__setattr__(self, "host_ip", _host_ip(self.host_ip))
        start, end = self.host_port_start, self.host_port_end
        if (start, end) != (0, 0):
            _check_port(start)
            _check_port(end)
            if end < start:
                raise InvalidArgument(f"invalid port range: {start}-{end}")


@dataclass(frozen=True, slots=True)
class PortBinding:
    """A published port as allocated: ``host_ip:host_port`` → ``container_port/proto``.

    `host_ip` is a dotted quad, 0.0.0.0 for every address of the host.
    """

    proto: str
    host_ip: str
    host_port: int
    container_port: int

    def __post_init__(self) -> None:
        _check_proto(self.proto)
        object.__setattr__(self, "host_ip", _host_ip(self.host_ip))
        _check_port(self.host_port)
        _check_port(self.container_port)

    @property
    def key(self) -> str:
        """The Engine API's name for the container port: ``80/tcp``."""
        return f"{self.container_port}/{self.proto}"

    def to_json(self) -> dict[str, Any]:
        """For the container's record (not an API shape: see `to_api`)."""
        return {"proto": self.proto, "host_ip": self.host_ip, "host_port": self.host_port,
                "container_port": self.container_port}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "PortBinding":
        return cls(doc["proto"], doc["host_ip"], doc["host_port"], doc["container_port"])

    def __str__(self) -> str:
        return f"{self.host_ip}:{self.host_port}->{self.key}"


def plan_bindings(port_bindings: Mapping[str, Any] | None, exposed: Mapping[str, Any] | Iterable[str] | None,
                  publish_all: bool) -> list[PortRequest]:
    """HostConfig.PortBindings (+ the exposed ports with PublishAllPorts) → requests.

    Pure.  Raises InvalidArgument with docker's ``invalid port
    specification: "…"`` for a bad key or HostPort.  Requests come ordered by
    container port, then in the order the bindings were given.
    """
    wanted: dict[tuple[int, str], list] = {}
    for key, bindings in (port_bindings or {}).items():
        wanted.setdefault(parse_port_key(key), []).extend(bindings or [])
    if publish_all:
        for key in exposed or ():
            wanted.setdefault(parse_port_key(key), [])
    requests = []
    for (port, proto), bindings in sorted(wanted.items()):
        if not bindings:
            if publish_all:
                requests.append(_request(proto, port, ANY, 0, 0))
            continue
        for binding in bindings:
            binding = binding or {}
            host_port = str(binding.get("HostPort") or "")
            start, end = _parse_host_port(host_port)
            requests.append(_request(proto, port, binding.get("HostIp") or ANY, start, end))
    return requests


def parse_port_key(key: str) -> tuple[int, str]:
    """``"80/tcp"`` (or ``"80"``) → ``(80, "tcp")``, as docker parses the API's port keys."""
    text = str(key)
    number, _, proto = text.partition("/")
    proto = (proto or "tcp").lower()
    if not number.isdigit() or not 0 < int(number) < 65536 or proto not in EXPOSABLE:
        raise InvalidArgument(f'invalid port specification: "{text}"')
    return int(number), proto


class PortAllocator:
    """Host ports for published container ports, chosen, held and given back per owner.

    The owner is a container id.  dockyard's own bookkeeping refuses a port
    another binding has (docker's ``Bind for 0.0.0.0:8080 failed: port is
    already allocated``: every address overlaps a specific one); binding the
    holding socket refuses a port a host process has (``failed to bind host
    port 0.0.0.0:8080/tcp: address already in use``).  Both are Conflicts.
    Thread-safe.
    """

    def __init__(self, port_range: tuple[int, int] | None = None, reserved: Iterable[int] | None = None):
        self.port_range = port_range or local_port_range()
        self.reserved = frozenset(reserved_ports() if reserved is None else reserved)
        self._lock = threading.Lock()
        self._held: dict[str, list[_Held]] = {}
        self._in_use: dict[tuple[str, int], list[str]] = {}   # (proto, host port) → host addresses
        self._last: dict[tuple[str, int, int], int] = {}      # (proto, range) → last port handed out

    def allocate(self, owner: str, requests: Iterable[PortRequest]) -> list[PortBinding]:
        """Choose and hold a host port for each request: all of them, or none."""
        with self._lock:
            done: list[_Held] = []
            try:
                for request in requests:
                    done.append(self._allocate(request))
            except BaseException:
                for held in done:
                    self._forget(held)
                raise
            self._held.setdefault(owner, []).extend(done)
            return [held.binding for held in done]

    def release(self, owner: str) -> None:
        """Give back every port of `owner` (nothing to do if it has none)."""
        with self._lock:
            for held in self._held.pop(owner, []):
                self._forget(held)

    def restore(self, owner: str, bindings: Iterable[PortBinding]) -> list[str]:
        """After a daemon restart: take `owner`'s ports back, as they were allocated.

        Best effort, since the container already runs with them: a port a host
        process took meanwhile stays recorded (no other container gets it) but
        unheld.  Returns one message per binding that could not be held.
        """
        problems = []
        with self._lock:
            mine = self._held.setdefault(owner, [])
            for binding in bindings:
                if any(h.binding == binding for h in mine):
                    continue
                clash = self._clash(binding.proto, binding.host_ip, binding.host_port)
                if clash:
                    problems.append(f"{binding}: Bind for {clash}:{binding.host_port} failed: "
                                    "port is already allocated")
                    continue
                try:
                    sock = _hold(binding.proto, binding.host_ip, binding.host_port)
                except OSError as e:
                    problems.append(f"{binding}: {_bind_failure(binding.proto, binding.host_ip, binding.host_port, e)}")
                    sock = None
                mine.append(self._record(binding, sock))
        return problems

    def bindings(self, owner: str) -> list[PortBinding]:
        """What `owner` has, in the order it was allocated."""
        with self._lock:
            return [held.binding for held in self._held.get(owner, [])]

    def _allocate(self, r: PortRequest) -> "_Held":
        if r.host_port_start and r.host_port_start == r.host_port_end:
            port = r.host_port_start
            clash = self._clash(r.proto, r.host_ip, port)
            if clash:
                raise Conflict(f"Bind for {clash}:{port} failed: port is already allocated")
            try:
                sock = _hold(r.proto, r.host_ip, port)
            except OSError as e:
                raise _bind_error(r.proto, r.host_ip, port, e) from None
            return self._record(PortBinding(r.proto, r.host_ip, port, r.container_port), sock)
        start, end = (r.host_port_start, r.host_port_end) if r.host_port_start else self.port_range
        skip = self.reserved if not r.host_port_start else frozenset()
        for port in self._candidates(r.proto, start, end):
            if port in skip or self._clash(r.proto, r.host_ip, port):
                continue
            try:
                sock = _hold(r.proto, r.host_ip, port)
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    continue  # a host process has it: try the next one
                raise _bind_error(r.proto, r.host_ip, port, e) from None
            self._last[(r.proto, start, end)] = port
            return self._record(PortBinding(r.proto, r.host_ip, port, r.container_port), sock)
        raise Conflict(f"Bind for {r.host_ip}:{start}-{end} failed: all ports are allocated")

    def _candidates(self, proto: str, start: int, end: int) -> Iterable[int]:
        """Every port of the range once, starting after the last one handed out."""
        last = self._last.get((proto, start, end), end)
        size = end - start + 1
        return (start + (last - start + 1 + i) % size for i in range(size))

    def _clash(self, proto: str, host_ip: str, port: int) -> str | None:
        """The address of a binding that already has this port, if any."""
        for other in self._in_use.get((proto, port), ()):
            if ANY in (host_ip, other) or other == host_ip:
                return other
        return None

    def _record(self, binding: PortBinding, sock: socket.socket | None) -> "_Held":
        self._in_use.setdefault((binding.proto, binding.host_port), []).append(binding.host_ip)
        return _Held(binding, sock)

    def _forget(self, held: "_Held") -> None:
        if held.socket is not None:
            held.socket.close()
        key = (held.binding.proto, held.binding.host_port)
        addresses = self._in_use.get(key, [])
        if held.binding.host_ip in addresses:
            addresses.remove(held.binding.host_ip)
        if not addresses:
            self._in_use.pop(key, None)


@dataclass(slots=True)
class _Held:
    binding: PortBinding
    socket: socket.socket | None


def to_api(bindings: Iterable[PortBinding], exposed: Mapping[str, Any] | Iterable[str] | None = None) -> dict:
    """NetworkSettings.Ports: ``{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "443/tcp": None}``.

    Exposed ports without a binding appear with null; keys in Go's order.
    """
    out: dict[str, list | None] = {_key(k): None for k in exposed or ()}
    for b in bindings:
        entries = out.get(b.key) or []
        entries.append({"HostIp": b.host_ip, "HostPort": str(b.host_port)})
        out[b.key] = entries
    return dict(sorted(out.items()))


def to_summary(bindings: Iterable[PortBinding], exposed: Mapping[str, Any] | Iterable[str] | None = None) -> list[dict]:
    """/containers/json's Ports: ``[{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}]``,
    plus ``{"PrivatePort": 443, "Type": "tcp"}`` for an exposed port without a binding."""
    out = []
    for key, entries in to_api(bindings, exposed).items():
        port, proto = parse_port_key(key)
        if entries is None:
            out.append({"PrivatePort": port, "Type": proto})
            continue
        out += [{"IP": e["HostIp"], "PrivatePort": port, "PublicPort": int(e["HostPort"]), "Type": proto}
                for e in entries]
    return out


def local_port_range(path: str = PORT_RANGE_FILE) -> tuple[int, int]:
    """The kernel's ephemeral port range, docker's fallback if it cannot be read."""
    try:
        with open(path) as f:
            first, last = (int(word) for word in f.read().split())
    except (OSError, ValueError):
        return DOCKER_FALLBACK_RANGE
    return first, last


def reserved_ports(path: str = RESERVED_PORTS_FILE) -> frozenset[int]:
    """ip_local_reserved_ports ("8080,30000-32767"): ports never handed out at random."""
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return frozenset()
    ports: set[int] = set()
    for item in filter(None, text.split(",")):
        first, _, last = item.partition("-")
        try:
            ports.update(range(int(first), int(last or first) + 1))
        except ValueError:
            return frozenset()
    return frozenset(ports)


# One classic BPF instruction, "return 0": keep no byte of any packet.
_BPF_RET_K = 0x06
_DROP_ALL = struct.pack("HBBI", _BPF_RET_K, 0, 0, 0)
_SO_ATTACH_FILTER = getattr(socket, "SO_ATTACH_FILTER", 26)


def _hold(proto: str, host_ip: str, port: int) -> socket.socket:
    """A socket bound to host_ip:port/proto, never listening: the port is ours."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    try:
        if proto == "udp":
            program = ctypes.create_string_buffer(_DROP_ALL, len(_DROP_ALL))
            sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, struct.pack("HP", 1, ctypes.addressof(program)))
        sock.bind((host_ip, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _bind_failure(proto: str, host_ip: str, port: int, e: OSError) -> str:
    reason = os.strerror(e.errno) if e.errno else str(e)
    return f"failed to bind host port {host_ip}:{port}/{proto}: {reason[:1].lower()}{reason[1:]}"


def _bind_error(proto: str, host_ip: str, port: int, e: OSError) -> Exception:
    message = _bind_failure(proto, host_ip, port, e)
    if e.errno == errno.EADDRINUSE:
        return Conflict(message)
    if e.errno == errno.EADDRNOTAVAIL:
        return InvalidArgument(message)  # not an address of this host
    return SystemError(message)


def _request(proto: str, port: int, host_ip: str, start: int, end: int) -> PortRequest:
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"cannot publish {port}/{proto}: only tcp and udp ports can be published")
    return PortRequest(proto, port, host_ip, start, end)


def _parse_host_port(text: str) -> tuple[int, int]:
    """HostPort: "" (or "0") any port; "8080"; "8000-8002" the first free of the range."""
    if text in ("", "0"):
        return 0, 0
    first, dash, last = text.partition("-")
    if not first.isdigit() or (dash and not last.isdigit()):
        raise InvalidArgument(f'invalid port specification: "{text}"')
    start, end = int(first), int(last) if dash else int(first)
    if not 0 < start <= end < 65536:
        raise InvalidArgument(f'invalid port specification: "{text}"')
    return start, end


def _host_ip(value: str) -> str:
    text = str(value or ANY)
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidArgument(f"invalid IP address: {text}") from None
    if address.version != 4:
        raise InvalidArgument(f"cannot publish on {text}: dockyard publishes ports on IPv4 addresses only")
    return str(address)


def _check_proto(proto: str) -> None:
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"invalid protocol {proto!r}: only tcp and udp ports can be published")


def _check_port(port: int) -> None:
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise InvalidArgument(f"invalid port: {port!r}")


def _key(key: str) -> str:
    port, proto = parse_port_key(key)
    return f"{port}/{proto}"
