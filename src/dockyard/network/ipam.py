"""Address management: subnets for networks, addresses for endpoints.

Everything is recorded in SQLite before it is used, so an address is never
handed out twice — not to two containers at once, and not after a daemon
restart.  A network's subnet is either the user's (``--subnet``, checked
against the other networks and against the host's own networks) or the next
free ``/24`` of dockyard's pool.  Addresses are taken in order from the
``--ip-range`` (else the subnet), skipping the network address, the
broadcast address and the gateway, and continuing after the last one handed
out, as docker's allocator does, so a released address is not reused at once.

Pools: the default bridge takes 10.210.0.0/24 (or the next free /24 of
10.210.0.0/16) unless something on the host already uses it (a Docker daemon's docker0 is 172.17.0.0/16, far from it);
user-defined networks get /24s from 10.211.0.0/16 up to 10.219.0.0/16.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Iterable, Iterator

from dockyard.errors import Conflict, InvalidArgument
from dockyard.metadata.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS network_addresses (
    network_id TEXT NOT NULL,
    address    TEXT NOT NULL,           -- dotted quad
    owner      TEXT NOT NULL,           -- a container id, or 'gateway'
    PRIMARY KEY (network_id, address)
);
CREATE TABLE IF NOT EXISTS network_cursors (
    network_id TEXT PRIMARY KEY,
    last       TEXT NOT NULL            -- the last address handed out
);
"""

DEFAULT_BRIDGE_POOL = ("10.210.0.0/16",)  # in /24s: several daemons on one host (tests) each need one
USER_POOLS = tuple(f"10.{n}.0.0/16" for n in range(211, 220))
USER_PREFIX = 24


@dataclass(frozen=True, slots=True)
class Pool:
    """A network's address space as IPAM sees it."""

    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    ip_range: ipaddress.IPv4Network | None = None

    @classmethod
    def from_request(cls, subnet: str, gateway: str = "", ip_range: str = "") -> "Pool":
        """A user's --subnet/--gateway/--ip-range, with docker's errors."""
        try:
            net = ipaddress.IPv4Network(subnet, strict=False)
        except ValueError:
            raise InvalidArgument(f"invalid subnet {subnet} : invalid CIDR address: {subnet}") from None
        if net.prefixlen > 30:
            raise InvalidArgument(f"invalid subnet {subnet}: too small for a network")
        rng = None
        if ip_range:
            try:
                rng = ipaddress.IPv4Network(ip_range, strict=False)
            except ValueError:
                raise InvalidArgument(f"invalid CIDR address: {ip_range}") from None
            if not rng.subnet_of(net):
                raise InvalidArgument(f"no matching subnet for range {ip_range}")
        if gateway:
            try:
                gw = ipaddress.IPv4Address(gateway)
            except ValueError:
                raise InvalidArgument(f"invalid gateway address {gateway}") from None
            if gw not in net:
                raise InvalidArgument(f"no matching subnet for gateway {gateway}")
            if gw in (net.network_address, net.broadcast_address):
                raise InvalidArgument(f"invalid gateway address {gateway}: it is the subnet's network or broadcast address")
        else:
            gw = net.network_address + 1
        return cls(net, gw, rng)

    def candidates(self) -> Iterator[ipaddress.IPv4Address]:
        space = self.ip_range or self.subnet
        for addr in space.hosts() if space.prefixlen < 31 else space:
            if addr not in (self.gateway, self.subnet.network_address, self.subnet.broadcast_address):
                yield addr

    def check(self, address: str) -> ipaddress.IPv4Address:
        """A user's ``--ip``, parsed and checked against the pool (docker's errors)."""
        try:
            addr = ipaddress.IPv4Address(address)
        except ValueError:
            raise InvalidArgument(f"invalid IPv4 address: {address}") from None
        if not self.contains(addr):
            raise InvalidArgument(f"no configured subnet or ip-range contain the IP address {address}")
        return addr

    def contains(self, address: ipaddress.IPv4Address) -> bool:
        return address in self.subnet and address not in (
            self.gateway, self.subnet.network_address, self.subnet.broadcast_address)


class Ipam:
    def __init__(self, db: Database):
        self.db = db
        db.ensure_schema(SCHEMA)

    # -- subnets ---------------------------------------------------------------------

    @staticmethod
    def check_overlap(subnet: ipaddress.IPv4Network, taken: Iterable[ipaddress.IPv4Network]) -> None:
        for other in taken:
            if subnet.overlaps(other):
                raise Conflict("invalid pool request: Pool overlaps with other one on this address space")

    @staticmethod
    def free_subnet(pools: Iterable[str], taken: Iterable[ipaddress.IPv4Network],
                    prefix: int | None = None) -> ipaddress.IPv4Network:
        """The first subnet of ``pools`` (split to ``prefix``) that overlaps nothing in ``taken``."""
        taken = list(taken)
        for pool in pools:
            net = ipaddress.IPv4Network(pool)
            for candidate in (net.subnets(new_prefix=prefix) if prefix and prefix > net.prefixlen else [net]):
                if not any(candidate.overlaps(t) for t in taken):
                    return candidate
        raise Conflict("could not find an available, non-overlapping IPv4 address pool among the defaults "
                       "to assign to the network")

    # -- addresses ---------------------------------------------------------------------

    def reserve_gateway(self, network_id: str, pool: Pool) -> None:
        self.db.execute("INSERT OR IGNORE INTO network_addresses (network_id, address, owner) VALUES (?, ?, 'gateway')",
                        (network_id, str(pool.gateway)))

    def allocate(self, network_id: str, pool: Pool, owner: str,
                 wanted: str = "") -> ipaddress.IPv4Address:
        """An address for ``owner``: ``wanted`` if given and free, else the next free one."""
        with self.db.transaction() as cur:
            used = {r[0] for r in cur.execute("SELECT address FROM network_addresses WHERE network_id = ?",
                                              (network_id,))}
            if wanted:
                addr = pool.check(wanted)
                if str(addr) in used:
                    raise Conflict(f"Address already in use: {wanted}")
            else:
                row = cur.execute("SELECT last FROM network_cursors WHERE network_id = ?", (network_id,)).fetchone()
                addr = _next_free(pool, used, ipaddress.IPv4Address(row[0]) if row else None)
                cur.execute("INSERT INTO network_cursors (network_id, last) VALUES (?, ?)"
                            " ON CONFLICT(network_id) DO UPDATE SET last = excluded.last", (network_id, str(addr)))
            cur.execute("INSERT INTO network_addresses (network_id, address, owner) VALUES (?, ?, ?)",
                        (network_id, str(addr), owner))
        return addr

    def release(self, network_id: str, owner: str) -> None:
        self.db.execute("DELETE FROM network_addresses WHERE network_id = ? AND owner = ?", (network_id, owner))

    def release_owner(self, owner: str) -> None:
        self.db.execute("DELETE FROM network_addresses WHERE owner = ?", (owner,))

    def drop_network(self, network_id: str) -> None:
        with self.db.transaction() as cur:
            cur.execute("DELETE FROM network_addresses WHERE network_id = ?", (network_id,))
            cur.execute("DELETE FROM network_cursors WHERE network_id = ?", (network_id,))

    def owners(self, network_id: str) -> dict[str, str]:
        """address → owner for a network's addresses in use."""
        return {r["address"]: r["owner"] for r in self.db.query(
            "SELECT address, owner FROM network_addresses WHERE network_id = ?", (network_id,))}


def _next_free(pool: Pool, used: set[str], last: ipaddress.IPv4Address | None) -> ipaddress.IPv4Address:
    """The first free candidate after ``last``, else the first free one (one pass)."""
    wrapped = None
    for addr in pool.candidates():
        if str(addr) in used:
            continue
        if last is None or addr > last:
            return addr
        if wrapped is None:
            wrapped = addr
    if wrapped is not None:
        return wrapped
    raise Conflict("no available IPv4 addresses on this network's address pools")
