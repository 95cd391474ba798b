"""The one nftables table dockyard owns: NAT, published ports, isolation.

Describe, then apply.  `render` is pure: from the bridge networks and the
published ports it writes the whole table as text (`Ruleset`); `apply`
swaps that table in with one ``nft -f -`` transaction, so the kernel never
sees half a ruleset and a table left by a crashed daemon is simply replaced;
`remove` deletes it.  Nothing is ever edited rule by rule: whoever changes a
network or a container's ports renders everything again and applies it.

For a network on bridge ``dy0`` (10.253.1.0/24), an internal one on ``dyi``,
and a container 10.253.1.2 publishing 80/tcp on every host address as 8080
and on 127.0.0.1 as 8081, the table is::

    table ip dockyard {
        chain raw-prerouting {                   ① loopback stays local
            type filter hook prerouting priority raw; policy accept;
            iifname != "lo" ip daddr 127.0.0.0/8 drop
        }
        chain nat-prerouting {                   ② published ports, arriving
            type nat hook prerouting priority dstnat; policy accept;
            fib daddr type local jump published
        }
        chain nat-output {                       ② published ports, from the host
            type nat hook output priority -100; policy accept;
            fib daddr type local jump published
        }
        chain published {
            tcp dport 8080 dnat to 10.253.1.2:80
            ip daddr 127.0.0.1 tcp dport 8081 dnat to 10.253.1.2:80
        }
        chain nat-postrouting {
            type nat hook postrouting priority srcnat; policy accept;
            oifname != "dy0" ip saddr 10.253.1.0/24 masquerade           ③ egress
            oifname "dy0" ip saddr 127.0.0.0/8 masquerade                ④ from 127.0.0.1
            oifname "dy0" ip saddr 10.253.1.0/24 ip daddr 10.253.1.2
                tcp dport 80 ct status dnat masquerade                   ⑤ hairpin
        }
        chain forward {                          ⑥ isolation
            type filter hook forward priority filter; policy accept;
            ct state established,related accept
            oifname "dy0" iifname "dy0" accept
            oifname "dy0" ct status dnat accept
            oifname "dy0" drop
            iifname "dyi" oifname != "dyi" drop
            oifname "dyi" drop
        }
    }

What each rule is for — docker's with ``--userland-proxy=false`` (no proxy
process: every publication is a DNAT), written the way moby's own nftables
backend writes them:

① With ``route_localnet=1`` (④ needs it) the kernel no longer drops packets
  for 127.0.0.0/8 that arrive on the bridge, and a DNAT before routing lets
  them in from any interface: a neighbour could reach a port published on
  127.0.0.1, a container the host's loopback services.  Only ``lo`` may
  carry them.  Raw priority: before conntrack and NAT see the packet.
② ``fib daddr type local``: a publication answers on the host's own
  addresses (any of them, or the one it was bound to), not on traffic the
  host merely forwards.  Prerouting catches what arrives (from outside and
  from containers); output what the host itself connects to, 127.0.0.1
  included.  nft 1.0.6 refuses the name ``dstnat`` on the output hook,
  hence -100 (the same value).
③ Containers reach the world with the host's address; never on their own
  bridge (container to container keeps its source).  Internal networks
  have no egress at all.
④ A connection from the host to 127.0.0.1:P leaves DNATed through the
  bridge with source 127.0.0.1, which the container could not answer.  The
  kernel refuses to route such a packet unless the bridge has
  ``route_localnet=1``: `Ruleset.sysctls` asks for it on every bridge with
  publications and `apply` sets it.
⑤ A container reaching a published port through a host address (its own
  port, or a neighbour's on the same bridge) comes back out of the bridge
  it came from.  Without masquerading, the server would answer the client
  directly over the bridge and the client would drop a reply from an
  address it never called.  ``ct status dnat`` keeps direct traffic between
  containers untouched: with br_netfilter (built into this kernel, see
  below) bridged packets cross these hooks too.  For a container reaching
  its *own* port, its bridge port also needs hairpin mode (links.py).
⑥ Into a bridge: replies, traffic from the same bridge, and published ports
  (DNATed, from anywhere: other bridges included, as in docker); nothing
  else — another dockyard network, or a host that routes straight to a
  container's address, is dropped (docker 28's "nat" gateway mode).  An
  internal network's bridge forwards nothing to or from another interface.
  Everything that concerns no dockyard bridge is left to the policy,
  accept: the host's own forwarding is not ours to judge.  An ``accept``
  here cannot overrule a drop elsewhere (an iptables FORWARD policy of DROP,
  as a Docker installation leaves it, still wins).

No input rules: nothing listens on the host for containers (the embedded
name server lives inside each container's namespace), and published ports
never reach a host socket: ports.py holds them with bound, not listening,
sockets.

NAT is decided on a connection's first packet, then conntrack remembers
it.  A UDP client that sent to a port before its publication existed keeps
an un-NATed entry that each datagram refreshes, and would never reach the
container: `apply` deletes such entries for every published UDP port
(`forget_undnatted_flows`), as docker does.

This kernel, for the record: br_netfilter is built in and
``net.bridge.bridge-nf-call-iptables=1``, so bridged IPv4 frames cross the
``ip`` hooks with both iifname and oifname set to the bridge; hence the
``ct status dnat`` in ⑤ and the same-bridge accept in ⑥.  Every dockyard
daemon's table carries ①: several daemons (tests) coexist, each with its
own table.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import subprocess
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import TYPE_CHECKING, Iterable

from dockyard.errors import InvalidArgument, NotFound, SystemError, Unavailable

if TYPE_CHECKING:
    from dockyard.network.ports import PortBinding

DEFAULT_TABLE = "dockyard"
PROTOCOLS = ("tcp", "udp")

_TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
# Stricter than the kernel: the name goes inside an nft string, where '"'
# would end it and a trailing '*' would make it a wildcard.
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_SYSCTL_KEY = re.compile(r"^[a-z0-9_]+$")
_LOOPBACK = IPv4Network("127.0.0.0/8")
_OWNER = re.compile(r"^[A-Za-z0-9_./+-]{1,120}$")
_ANY = IPv4Address("0.0.0.0")


@dataclass(frozen=True, slots=True)
class BridgeNetwork:
    """A network as the rules see it: its bridge, subnet and gateway.

    An internal network (``--internal``) has no way out: no masquerading, no
    publications, nothing forwarded between its bridge and another interface.
    Addresses may be given as strings.
    """

    bridge: str
    subnet: IPv4Network
    gateway: IPv4Address
    internal: bool = False

    def __post_init__(self) -> None:
        check_ifname(self.bridge)
        object.__setattr__(self, "subnet", _network(self.subnet))
        object.__setattr__(self, "gateway", _address(self.gateway))
        if self.gateway not in self.subnet:
            raise InvalidArgument(f"gateway {self.gateway} is outside the subnet {self.subnet}")


@dataclass(frozen=True, slots=True)
class Publication:
    """One published port: ``host_ip:host_port/proto`` → ``container_ip:container_port``.

    `host_ip` None (or 0.0.0.0) means every address of the host; `bridge` is
    the bridge of the network whose address the container answers on.
    """

    proto: str
    host_ip: IPv4Address | None
    host_port: int
    container_ip: IPv4Address
    container_port: int
    bridge: str

    def __post_init__(self) -> None:
        if self.proto not in PROTOCOLS:
            raise InvalidArgument(f"cannot publish {self.proto} ports: only tcp and udp")
        host_ip = None if self.host_ip in (None, "") else _address(self.host_ip)
        object.__setattr__(self, "host_ip", None if host_ip == _ANY else host_ip)
        object.__setattr__(self, "container_ip", _address(self.container_ip))
        for port in (self.host_port, self.container_port):
            if not isinstance(port, int) or not 0 < port < 65536:
                raise InvalidArgument(f"invalid port: {port!r}")
        check_ifname(self.bridge)

    @classmethod
    def from_binding(cls, binding: "PortBinding", container_ip: IPv4Address | str, bridge: str) -> "Publication":
        """The publication for one of ports.py's bindings of a container."""
        return cls(binding.proto, binding.host_ip, binding.host_port, container_ip, binding.container_port, bridge)

    def overlaps(self, other: "Publication") -> bool:
        """Would both claim the same packets? (all addresses overlap every one)"""
        return (self.proto == other.proto and self.host_port == other.host_port
                and (self.host_ip is None or other.host_ip is None or self.host_ip == other.host_ip))


@dataclass(frozen=True, slots=True)
class Ruleset:
    """A rendered table: what `apply` installs.

    `text` is the table as ``nft list table ip <table>`` prints it; `sysctls`
    are ``(interface, key, value)`` settings under /proc/sys/net/ipv4/conf
    that the rules rely on; `udp_ports` the host ports published over UDP,
    whose flows from before their DNAT `apply` makes conntrack forget.
    """

    table: str
    text: str
    sysctls: tuple[tuple[str, str, str], ...] = ()
    udp_ports: tuple[int, ...] = ()


def render(table: str, networks: Iterable[BridgeNetwork], publications: Iterable[Publication],
           owner: str = "") -> Ruleset:
    """The whole table for these networks and publications (pure).

    The output does not depend on the order of the inputs.  Raises
    InvalidArgument for a description that cannot be right: two networks on
    one bridge, a publication on an unknown or internal network or outside
    its subnet, two publications claiming the same host port.
    """
    check_table(table)
    by_bridge: dict[str, BridgeNetwork] = {}
    for n in networks:
        if n.bridge in by_bridge:
            raise InvalidArgument(f"two networks on bridge {n.bridge}")
        by_bridge[n.bridge] = n
    pubs = sorted(publications, key=lambda p: (p.host_port, p.proto, int(p.host_ip or 0), p.bridge))
    _check_publications(pubs, by_bridge)
    nets = [by_bridge[b] for b in sorted(by_bridge)]
    published_bridges = sorted({p.bridge for p in pubs})

    dnat = [
        f"{_daddr(p.host_ip)}{p.proto} dport {p.host_port} dnat to {p.container_ip}:{p.container_port}"
        for p in pubs
    ]
    postrouting = [
        f'oifname != "{n.bridge}" ip saddr {n.subnet} masquerade' for n in nets if not n.internal
    ]
    postrouting += [f'oifname "{b}" ip saddr {_LOOPBACK} masquerade' for b in published_bridges]
    hairpins = dict.fromkeys(
        f'oifname "{p.bridge}" ip saddr {by_bridge[p.bridge].subnet} ip daddr {p.container_ip} '
        f"{p.proto} dport {p.container_port} ct status dnat masquerade"
        for p in sorted(pubs, key=lambda p: (p.bridge, int(p.container_ip), p.proto, p.container_port))
    )
    postrouting += list(hairpins)
    forward = ["ct state established,related accept"]
    for n in nets:
        b = n.bridge
        if n.internal:
            forward += [f'iifname "{b}" oifname != "{b}" drop', f'oifname "{b}" drop']
        else:
            forward += [f'oifname "{b}" iifname "{b}" accept', f'oifname "{b}" ct status dnat accept',
                        f'oifname "{b}" drop']

    chains = [
        _chain("raw-prerouting", "type filter hook prerouting priority raw; policy accept;",
               [f'iifname != "lo" ip daddr {_LOOPBACK} drop']),
        _chain("nat-prerouting", "type nat hook prerouting priority dstnat; policy accept;",
               ["fib daddr type local jump published"]),
        _chain("nat-output", "type nat hook output priority -100; policy accept;",
               ["fib daddr type local jump published"]),
        _chain("published", None, dnat),
        _chain("nat-postrouting", "type nat hook postrouting priority srcnat; policy accept;", postrouting),
        _chain("forward", "type filter hook forward priority filter; policy accept;", forward),
    ]
    if owner and not _OWNER.match(owner):
        raise InvalidArgument(f"unusable table owner {owner!r}")
    head = f'\tcomment "{owner}"\n' if owner else ""
    text = f"table ip {table} {{\n" + head + "\n\n".join(chains) + "\n}\n"
    return Ruleset(table, text, tuple((b, "route_localnet", "1") for b in published_bridges),
                   tuple(sorted({p.host_port for p in pubs if p.proto == "udp"})))


def owned_tables(prefix: str = DEFAULT_TABLE) -> list[tuple[str, str, set[str]]]:
    """(name, owner comment, bridges its rules name) of every ``ip`` table
    whose name starts with ``prefix``: what a daemon needs to sweep the
    tables of daemons whose data roots are gone (tests, acceptance runs)."""
    listing = subprocess.run(["nft", "list", "tables", "ip"], capture_output=True, text=True)
    out = []
    for line in listing.stdout.splitlines():
        name = line.split()[-1] if line.startswith("table ip ") else ""
        if not name.startswith(prefix):
            continue
        text = subprocess.run(["nft", "list", "table", "ip", name], capture_output=True, text=True).stdout
        owner = re.search(r'^\s*comment "([^"]*)"', text, re.M)
        bridges = set(re.findall(r'oifname "([^"]+)"', text))
        out.append((name, owner.group(1) if owner else "", bridges))
    return out


def apply(ruleset: Ruleset) -> None:
    """Install the table, replacing any table of that name, in one transaction.

    Declaring the table empty first makes the delete valid whether or not it
    exists; nft applies the three statements atomically or not at all.  The
    sysctls come after: the new table already drops foreign loopback
    traffic (①) when route_localnet is switched on.  If a bridge needing one
    does not exist, NotFound is raised with the table installed.
    """
    _nft(f"table ip {ruleset.table} {{}}\ndelete table ip {ruleset.table}\n{ruleset.text}")
    if ruleset.udp_ports:
        forget_undnatted_flows("udp", ruleset.udp_ports)
    for interface, key, value in ruleset.sysctls:
        set_interface_sysctl(interface, key, value)


def remove(table: str = DEFAULT_TABLE) -> None:
    """Delete the table and every rule in it; nothing to do if it is not there."""
    check_table(table)
    _nft(f"table ip {table} {{}}\ndelete table ip {table}\n")


def forget_undnatted_flows(proto: str, host_ports: Iterable[int]) -> int:
    """Make conntrack forget flows to these host ports that were not DNATed; how many it forgot.

    NAT is decided on a flow's first packet only.  A UDP client that sent to
    a port before it was published (into the holding socket, or nowhere)
    has a conntrack entry without NAT, and every datagram it sends refreshes
    it: without this, that client never reaches the container (docker
    clears these entries too).  Deleting an un-NATed entry is harmless, the
    next packet makes a new one.  TCP needs none of this: a new SYN on a
    dead entry starts over.
    """
    # pyroute2 costs ~130 ms to import: only when there is something to forget
    from pyroute2 import Conntrack
    from pyroute2.netlink.exceptions import NetlinkError
    from pyroute2.netlink.nfnetlink.nfctsocket import IPS_DST_NAT, NFCTAttrTuple

    number = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP}[proto]
    forgotten = 0
    try:
        with Conntrack() as ct:
            for port in host_ports:
                stale = [e for e in ct.dump_entries(tuple_orig=NFCTAttrTuple(proto=number, dport=port))
                         if not e.status & IPS_DST_NAT]
                for entry in stale:
                    try:
                        ct.delete(entry)
                        forgotten += 1
                    except NetlinkError as e:
                        if e.code != errno.ENOENT:  # gone by itself meanwhile
                            raise
    except NetlinkError as e:
        raise SystemError(f"conntrack: {os.strerror(e.code)}") from None
    return forgotten


def set_interface_sysctl(interface: str, key: str, value: str | int) -> None:
    """Write ``/proc/sys/net/ipv4/conf/<interface>/<key>`` (e.g. route_localnet=1).

    Written through /proc rather than sysctl(8), which would read a dot in
    the interface name as a separator.
    """
    check_ifname(interface)
    if not _SYSCTL_KEY.match(key):
        raise InvalidArgument(f"invalid sysctl key: {key!r}")
    directory = f"/proc/sys/net/ipv4/conf/{interface}"
    if not os.path.isdir(directory):
        raise NotFound(f"no such network interface: {interface}")
    try:
        with open(os.path.join(directory, key), "w") as f:
            f.write(f"{value}\n")
    except OSError as e:
        raise SystemError(f"setting net.ipv4.conf.{interface}.{key}={value}: {e.strerror}") from None


def check_table(name: str) -> None:
    if not _TABLE_NAME.match(name):
        raise InvalidArgument(f"invalid nftables table name: {name!r}")


def check_ifname(name: str) -> None:
    if not isinstance(name, str) or not _IFNAME.match(name) or name in (".", ".."):
        raise InvalidArgument(f"invalid interface name: {name!r} (1-15 of A-Z a-z 0-9 _ . -)")


def _check_publications(pubs: list[Publication], by_bridge: dict[str, BridgeNetwork]) -> None:
    for p in pubs:
        n = by_bridge.get(p.bridge)
        if n is None:
            raise InvalidArgument(f"port {p.host_port}/{p.proto} is published on bridge {p.bridge}, "
                                  "which is not one of the networks")
        if n.internal:
            raise InvalidArgument(f"port {p.host_port}/{p.proto} is published on internal network {p.bridge}")
        if p.container_ip not in n.subnet:
            raise InvalidArgument(f"container address {p.container_ip} is outside {n.subnet} ({p.bridge})")
    for i, p in enumerate(pubs):
        for q in pubs[i + 1:]:
            if q.host_port != p.host_port:
                break  # sorted by host port: no later one can overlap
            if p.overlaps(q):
                raise InvalidArgument(f"host port {p.host_port}/{p.proto} is published twice")


def _chain(name: str, base: str | None, rules: list[str]) -> str:
    lines = [f"\tchain {name} {{"]
    if base:
        lines.append(f"\t\t{base}")
    lines += [f"\t\t{rule}" for rule in rules]
    lines.append("\t}")
    return "\n".join(lines)


def _daddr(host_ip: IPv4Address | None) -> str:
    return "" if host_ip is None else f"ip daddr {host_ip} "


def _network(value: IPv4Network | str) -> IPv4Network:
    try:
        return IPv4Network(value)
    except ValueError:
        raise InvalidArgument(f"invalid IPv4 subnet: {value}") from None


def _address(value: IPv4Address | str) -> IPv4Address:
    try:
        return IPv4Address(value)
    except ValueError:
        raise InvalidArgument(f"invalid IPv4 address: {value}") from None


def _nft(script: str) -> None:
    try:
        done = subprocess.run(["nft", "-f", "-"], input=script, capture_output=True, text=True)
    except FileNotFoundError:
        raise Unavailable("nft not found: dockyard's networking needs nftables (apt-get install nftables)") from None
    if done.returncode != 0:
        raise SystemError(f"nft: {done.stderr.strip() or f'exit status {done.returncode}'}")
