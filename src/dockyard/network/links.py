"""Bridges and veth pairs, through netlink (pyroute2).

Vocabulary
----------
*bridge*      a Linux bridge, one per bridge network; its address is the
              network's gateway.
*endpoint*    a container's attachment to a network: a veth pair whose
              *host end* (``host_ifname``, chosen by the caller, stable per
              container and network) is a port of the bridge, and whose
              *peer* lives in the container's network namespace (netns.py)
              under the name the container sees (``eth0``, ``eth1`` …).
*MAC*         docker's scheme, 02:42 followed by the IPv4 address's four
              bytes: a container's MAC follows its address, so a neighbour's
              ARP cache stays right when an address passes to a new container.

Attaching, step by step
-----------------------
1. One RTM_NEWLINK makes the pair whole: the host end already a port of the
   bridge, up, at the network's MTU; the peer created directly inside the
   namespace (``IFLA_NET_NS_FD``) with its final name, MAC and MTU.  Nothing
   is ever named ``eth0`` on the host, so concurrent attaches cannot collide
   there, and a failure here leaves nothing.
2. Hairpin mode on the host end, so a container can reach its own published
   port through the host's address (the DNAT sends the packet back out of the
   port it came in by, which a bridge refuses without hairpin).
3. Inside the namespace: the address (with its broadcast), the link up -- its
   subnet's route appears with it -- then the default route via the gateway,
   which needs that subnet route to be reachable.
If 2 or 3 fails, the host end is deleted, and the kernel deletes its peer.

Threads
-------
pyroute2's synchronous ``IPRoute`` runs its own asyncio loop, so it cannot be
used on a thread that runs one (the daemon's), and it keeps one socket per
thread that uses it.  So every host-side request goes to one worker thread
that owns the one host ``IPRoute``: callers may be anywhere, the socket is
reused, and requests are serialised (no two ``ensure_bridge`` race).  Work
inside a container's namespace runs in a short-lived thread that entered it
(netns.run_in), with its own socket, opened there.  Every function blocks for
a few netlink round trips (~0.5 ms each through pyroute2).

Errors are translated once, here, from netlink's errno to dockyard's kinds.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import re
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.thread import BrokenThreadPool
from typing import Callable, Iterable, TypeVar

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from .. import errors
from ..runtime import syscalls
from . import netns

T = TypeVar("T")

_IFNAMSIZ = 16  # with the terminating NUL
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_RT_TABLE_MAIN = 254
_RTPROT_BOOT = 3  # what `ip route add` uses; `ip route` then shows no "proto"


def mac_for(address: ipaddress.IPv4Address) -> str:
    """Docker's MAC for an IPv4 address: 02:42 and the address's bytes."""
    return "02:42:" + ":".join(f"{b:02x}" for b in address.packed)


# -- bridges ---------------------------------------------------------------------


def ensure_bridge(name: str, gateway: ipaddress.IPv4Interface, mtu: int = 1500) -> None:
    """Make bridge `name` exist, up, at `mtu`, with `gateway` as its only IPv4 address.

    Idempotent: an existing bridge is left alone where it is right and
    corrected where not (other IPv4 addresses are removed).  A new bridge gets
    the MAC `mac_for(gateway)`, set explicitly so that it does not change as
    ports come and go (a bridge otherwise takes its lowest port's MAC, and
    every container's ARP entry for the gateway goes stale).  Conflict if a
    device that is not a bridge has the name.
    """
    _check_ifname(name)
    _host.call(_ensure_bridge, name, gateway, mtu)


def delete_bridge(name: str) -> None:
    """Delete bridge `name`; nothing to do if it does not exist.

    Its ports are released, not deleted (the caller detaches endpoints first).
    Conflict if the device is not a bridge.
    """
    _delete_link(name, "bridge")


def bridge_exists(name: str) -> bool:
    """Whether a bridge named `name` exists (a device of another kind does not count)."""
    def exists(ipr: IPRoute) -> bool:
        link = _get_link(ipr, name)
        return link is not None and link.get(("linkinfo", "kind")) == "bridge"

    return _host.call(exists)


def _ensure_bridge(ipr: IPRoute, name: str, gateway: ipaddress.IPv4Interface, mtu: int) -> None:
    link = _get_link(ipr, name)
    if link is None:
        _netlink(f"create bridge {name}", ipr.link, "add", ifname=name, kind="bridge", mtu=mtu, state="up",
                 address=mac_for(gateway.ip))
        index = ipr.link_lookup(ifname=name)[0]
        current: list = []
    else:
        if link.get(("linkinfo", "kind")) != "bridge":
            raise errors.Conflict(f"network interface {name} exists and is not a bridge")
        index = link["index"]
        if link.get("mtu") != mtu or not link["flags"] & 1:
            _netlink(f"set up bridge {name}", ipr.link, "set", index=index, mtu=mtu, state="up")
        current = [(a.get("address"), a["prefixlen"]) for a in ipr.addr("dump", index=index, family=socket.AF_INET)]
    wanted = (str(gateway.ip), gateway.network.prefixlen)
    # Remove before adding: deleting a primary address takes its secondaries
    # with it, and the gateway would be one if it shared the old subnet.
    for address, prefixlen in current:
        if (address, prefixlen) != wanted:
            _ignoring(errno.EADDRNOTAVAIL, f"remove address {address}/{prefixlen} from bridge {name}", ipr.addr, "del",
                      index=index, address=address, prefixlen=prefixlen)
    if wanted not in current:
        _netlink(f"set address {gateway} on bridge {name}", ipr.addr, "add", index=index, address=wanted[0],
                 prefixlen=wanted[1], **_broadcast(gateway))


# -- endpoints -------------------------------------------------------------------


def attach(
    bridge: str,
    netns_path: str,
    host_ifname: str,
    ifname: str,
    address: ipaddress.IPv4Interface,
    gateway: ipaddress.IPv4Address | None,
    mac: str | None = None,
    hairpin: bool = True,
    mtu: int = 1500,
) -> str:
    """Connect the namespace at `netns_path` to `bridge`; return the interface's MAC.

    Makes a veth pair: `host_ifname` on the bridge, up, in hairpin mode if
    asked; its peer `ifname` inside the namespace with `address`, `mac`
    (default `mac_for(address.ip)`), `mtu`, up, and a default route via
    `gateway` when one is given (replacing any default route there; none for
    an internal network, or for a second network).  All or nothing: on
    failure the pair is deleted.  NotFound if the bridge or the namespace does
    not exist; Conflict if `host_ifname` exists, or `ifname` in the namespace.
    """
    _check_ifname(host_ifname)
    _check_ifname(ifname)
    mac = (mac or mac_for(address.ip)).lower()
    if not _MAC.match(mac):
        raise errors.InvalidArgument(f"invalid MAC address: {mac}")
    fd = netns.open_namespace(netns_path)
    try:
        _host.call(_add_pair, bridge, fd, host_ifname, ifname, mac, mtu, hairpin)
    finally:
        os.close(fd)
    try:
        netns.run_in(netns_path, _in_namespace, _configure_peer, ifname, address, gateway)
    except BaseException:
        with contextlib.suppress(errors.DockyardError):  # the first error is the one to report
            detach(host_ifname)
        raise
    return mac


def detach(host_ifname: str) -> None:
    """Delete an endpoint by its host end (the kernel deletes the peer); idempotent.

    Conflict if the device of that name is not a veth: a name mixed up with a
    bridge's must not take the bridge down.
    """
    _delete_link(host_ifname, "veth")


def _delete_link(name: str, kind: str) -> None:
    """Delete device *name* if it is there; Conflict if it is not a *kind*."""
    def delete(ipr: IPRoute) -> None:
        link = _get_link(ipr, name)
        if link is None:
            return
        if link.get(("linkinfo", "kind")) != kind:
            raise errors.Conflict(f"network interface {name} is not a {kind}")
        _ignoring(errno.ENODEV, f"delete {kind} {name}", ipr.link, "del", index=link["index"])

    _check_ifname(name)
    _host.call(delete)


def detach_in_netns(netns_path: str, ifname: str) -> None:
    """Delete an endpoint by its name inside a namespace (``network disconnect``
    of a running container); idempotent, also when the namespace is gone."""
    _check_ifname(ifname)
    if not netns.exists(netns_path):
        return
    netns.run_in(netns_path, _in_namespace,
                 lambda ipr: _ignoring(errno.ENODEV, f"delete {ifname}", ipr.link, "del", ifname=ifname))


def set_default_route(netns_path: str, ifname: str, gateway: ipaddress.IPv4Address | None) -> None:
    """Point the namespace's default route via `gateway` on `ifname`, or remove
    it (None): when the network that gave the default route is disconnected."""
    def route(ipr: IPRoute) -> None:
        if gateway is None:
            _ignoring(errno.ESRCH, "remove the default route", ipr.route, "del", dst="0.0.0.0/0", table=_RT_TABLE_MAIN)
        else:
            _set_gateway(ipr, _index_of(ipr, ifname), gateway)

    _check_ifname(ifname)
    netns.run_in(netns_path, _in_namespace, route)


def _add_pair(ipr: IPRoute, bridge: str, ns_fd: int, host_ifname: str, ifname: str, mac: str, mtu: int,
              hairpin: bool) -> None:
    master = _get_link(ipr, bridge)
    if master is None or master.get(("linkinfo", "kind")) != "bridge":
        raise errors.NotFound(f"bridge {bridge} not found")
    try:
        ipr.link("add", ifname=host_ifname, kind="veth", master=master["index"], mtu=mtu, state="up",
                 peer={"ifname": ifname, "net_ns_fd": ns_fd, "address": mac, "mtu": mtu})
    except NetlinkError as e:
        if e.code != errno.EEXIST:
            raise _translate(e, f"create veth pair {host_ifname}") from None
        # One errno for either end: say which.
        if _get_link(ipr, host_ifname) is not None:
            raise errors.Conflict(f"network interface {host_ifname} already exists") from None
        raise errors.Conflict(f"network interface {ifname} already exists in the container's namespace") from None
    if hairpin:
        try:
            _netlink(f"set hairpin mode on {host_ifname}", ipr.brport, "set", ifname=host_ifname, mode=1)
        except BaseException:
            _ignoring(errno.ENODEV, f"delete {host_ifname}", ipr.link, "del", ifname=host_ifname)
            raise


def _configure_peer(ipr: IPRoute, ifname: str, address: ipaddress.IPv4Interface,
                    gateway: ipaddress.IPv4Address | None) -> None:
    index = _index_of(ipr, ifname)
    _netlink(f"set address {address} on {ifname}", ipr.addr, "add", index=index, address=str(address.ip),
             prefixlen=address.network.prefixlen, **_broadcast(address))
    _netlink(f"set up {ifname}", ipr.link, "set", index=index, state="up")
    if gateway is not None:
        _set_gateway(ipr, index, gateway)


def _set_gateway(ipr: IPRoute, index: int, gateway: ipaddress.IPv4Address) -> None:
    _netlink(f"set default route via {gateway}", ipr.route, "replace", dst="0.0.0.0/0", gateway=str(gateway),
             oif=index, table=_RT_TABLE_MAIN, proto=_RTPROT_BOOT)


# -- the host --------------------------------------------------------------------


def host_networks(exclude: Iterable[str] = ()) -> list[ipaddress.IPv4Network]:
    """The IPv4 networks the host already uses, so IPAM can avoid them.

    Those of every IPv4 address (a Docker daemon's docker0 among them) and of
    every route in the main table except the default route; devices named in
    `exclude` (dockyard's own bridges) are skipped.  Sorted, without duplicates.
    """
    skip = set(exclude)

    def collect(ipr: IPRoute) -> set[ipaddress.IPv4Network]:
        names = {link["index"]: link.get("ifname") for link in ipr.link("dump")} if skip else {}
        found: set[ipaddress.IPv4Network] = set()
        for a in ipr.addr("dump", family=socket.AF_INET):
            if names.get(a["index"]) not in skip:
                found.add(ipaddress.IPv4Interface(f"{a.get('address')}/{a['prefixlen']}").network)
        for r in ipr.route("dump", family=socket.AF_INET, table=_RT_TABLE_MAIN):
            if r["dst_len"] > 0 and r.get("dst") and names.get(r.get("oif")) not in skip:
                found.add(ipaddress.IPv4Network(f"{r.get('dst')}/{r['dst_len']}", strict=False))
        return found

    return sorted(_host.call(collect))


# -- netlink plumbing ------------------------------------------------------------


class _HostRtnl:
    """The host namespace's one netlink socket and the one thread that uses it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._ipr: IPRoute | None = None
        self._thread = 0

    def call(self, fn: Callable[..., T], *args) -> T:
        if threading.get_ident() == self._thread:
            return fn(self._ipr, *args)  # called from inside a request
        try:
            return self._get().submit(lambda: fn(self._ipr, *args)).result()
        except BrokenThreadPool:  # the socket could not be opened: try afresh next time
            with self._lock:
                self._executor = None
            raise errors.SystemError("cannot open a netlink socket in the host's network namespace") from None

    def _get(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, "dockyard-rtnl", initializer=self._open)
            return self._executor

    def _open(self) -> None:
        # A new thread starts in its creator's namespace, which could be a
        # container's (netns.entered); the host's is the main thread's.
        fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            syscalls.setns(fd, syscalls.CLONE_NEWNET)
        finally:
            os.close(fd)
        # groups=0: no multicast notifications, which would pile up unread
        self._ipr = IPRoute(groups=0)
        self._thread = threading.get_ident()

    def forget(self) -> None:
        """In a forked child: the worker thread did not come along."""
        self._lock = threading.Lock()
        self._executor = None
        self._ipr = None
        self._thread = 0


_host = _HostRtnl()
os.register_at_fork(after_in_child=_host.forget)


def _in_namespace(fn: Callable[..., T], *args) -> T:
    # Runs on a thread inside the namespace: the socket opens there.
    with IPRoute(groups=0) as ipr:
        return fn(ipr, *args)


def _get_link(ipr: IPRoute, name: str):
    try:
        return ipr.link("get", ifname=name)[0]
    except NetlinkError as e:
        if e.code == errno.ENODEV:
            return None
        raise _translate(e, f"look up {name}") from None


def _index_of(ipr: IPRoute, name: str) -> int:
    link = _get_link(ipr, name)
    if link is None:
        raise errors.NotFound(f"network interface {name} not found")
    return link["index"]


def _netlink(what: str, fn: Callable[..., T], *args, **kwargs) -> T:
    try:
        return fn(*args, **kwargs)
    except NetlinkError as e:
        raise _translate(e, what) from None


def _ignoring(code: int, what: str, fn: Callable, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except NetlinkError as e:
        if e.code != code:
            raise _translate(e, what) from None


_KINDS = {
    errno.EEXIST: errors.Conflict,
    errno.EBUSY: errors.Conflict,
    errno.ENODEV: errors.NotFound,
    errno.ENOENT: errors.NotFound,
    errno.ESRCH: errors.NotFound,
    errno.EINVAL: errors.InvalidArgument,
    errno.ERANGE: errors.InvalidArgument,
    errno.ENETUNREACH: errors.InvalidArgument,  # a gateway outside the subnet
    errno.EADDRNOTAVAIL: errors.InvalidArgument,
}


def _translate(e: NetlinkError, what: str) -> errors.DockyardError:
    kind = _KINDS.get(e.code, errors.SystemError)
    return kind(f"cannot {what}: {os.strerror(e.code)}")


def _broadcast(address: ipaddress.IPv4Interface) -> dict:
    # As `ip addr add … brd +` and docker's netlink library do; not for /31, /32.
    if address.network.prefixlen >= 31:
        return {}
    return {"broadcast": str(address.network.broadcast_address)}


def _check_ifname(name: str) -> None:
    # the kernel's dev_valid_name()
    if (not name or len(name.encode()) >= _IFNAMSIZ or name in (".", "..")
            or any(c in "/:" or c.isspace() for c in name)):
        raise errors.InvalidArgument(f"invalid network interface name {name!r}: 1 to 15 bytes, no '/', ':' or spaces")
