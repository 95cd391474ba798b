"""Networks as the Engine API sees them, and the endpoints containers get.

A network is a record (name, driver, subnet, gateway, options) and, for the
bridge driver, a Linux bridge that exists from ``network create`` to
``network rm``.  Three networks are predefined, as in docker: ``bridge``
(the default: bridge device ``dockyard0``, no name resolution), ``host``
and ``none``.

A container's endpoints live from its start to its exit, as docker's do:

    start:  sandbox (a netns file) → for each network: an address from IPAM,
            a veth pair into the sandbox (the first network gives the
            default route) → published ports held on the host → the
            nftables table re-rendered → the name server attached (user
            networks only)
    exit:   the same in reverse; the addresses go back to IPAM.

What the container asked for (``--network``, aliases, ``--ip``, ``network
connect`` while stopped) is kept in its ``networks`` record between runs;
what it got (addresses, MACs, published host ports) is filled in at start
and cleared at exit.  The nftables table is always rendered whole from the
records, so a daemon restart re-creates exactly what running containers
need.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ipaddress
import json
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Callable

from .. import errors
from ..metadata.db import Database
from ..network import links, netns
from ..network import nftables as nft
from ..network.dns import EmbeddedDNS
from ..network.ipam import DEFAULT_BRIDGE_POOL, USER_POOLS, USER_PREFIX, Ipam, Pool
from ..network.ports import PortAllocator, PortBinding, plan_bindings
from ..paths import DataRoot
from ..units import now_rfc3339, parse_rfc3339
from .container_files import EtcNetwork
from .container_state import Container
from .container_views import labels_match

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS networks (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    driver     TEXT NOT NULL,          -- bridge, host, null
    bridge     TEXT NOT NULL DEFAULT '',  -- the Linux bridge's name
    subnet     TEXT NOT NULL DEFAULT '',
    gateway    TEXT NOT NULL DEFAULT '',
    ip_range   TEXT NOT NULL DEFAULT '',
    internal   INTEGER NOT NULL DEFAULT 0,
    attachable INTEGER NOT NULL DEFAULT 0,
    labels     TEXT NOT NULL DEFAULT '{}',
    options    TEXT NOT NULL DEFAULT '{}',
    created    TEXT NOT NULL
);
"""

PREDEFINED = ("bridge", "host", "none")
DEFAULT_BRIDGE_DEVICE = "dockyard0"
BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"


@dataclass
class Network:
    id: str
    name: str
    driver: str
    bridge: str = ""
    subnet: str = ""
    gateway: str = ""
    ip_range: str = ""
    internal: bool = False
    attachable: bool = False
    labels: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    created: str = ""

    @functools.cached_property
    def pool(self) -> Pool:
        return Pool.from_request(self.subnet, self.gateway, self.ip_range)

    @property
    def predefined(self) -> bool:
        return self.name in PREDEFINED

    @property
    def user_defined(self) -> bool:
        """Containers resolve each other by name only here (not on the default bridge)."""
        return self.driver == "bridge" and self.name != "bridge"

    @classmethod
    def from_row(cls, row) -> "Network":
        return cls(row["id"], row["name"], row["driver"], row["bridge"], row["subnet"], row["gateway"],
                   row["ip_range"], bool(row["internal"]), bool(row["attachable"]), json.loads(row["labels"]),
                   json.loads(row["options"]), row["created"])

    def to_api(self, containers: dict) -> dict:
        ipam_config = []
        if self.subnet:
            entry = {"Subnet": self.subnet, "Gateway": self.gateway}
            if self.ip_range:
                entry["IPRange"] = self.ip_range
            ipam_config.append(entry)
        return {
            "Name": self.name, "Id": self.id, "Created": self.created, "Scope": "local", "Driver": self.driver,
            "EnableIPv4": True, "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": None if self.predefined else {}, "Config": ipam_config},
            "Internal": self.internal, "Attachable": self.attachable, "Ingress": False,
            "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": containers,
            "Options": dict(self.options), "Labels": dict(self.labels),
        }


def host_ifname(container_id: str, network_id: str) -> str:
    """The host end of a container's veth on a network: stable, so it can be
    found again after a daemon restart (15 characters at most)."""
    return "dy" + hashlib.sha256((container_id + network_id).encode()).hexdigest()[:11]


def _endpoint(network: Network, aliases: list[str] | None = None, ipam: dict | None = None) -> dict:
    """docker's EndpointSettings, before the container runs."""
    return {
        "IPAMConfig": ipam or None, "Links": None, "Aliases": aliases or None, "MacAddress": "",
        "DriverOpts": None, "NetworkID": network.id, "EndpointID": "", "Gateway": "", "IPAddress": "",
        "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
        "DNSNames": None,
    }


class NetworkService:
    def __init__(self, db: Database, root: DataRoot, events, containers: Callable[[], list[Container]],
                 save: Callable[[Container], None], instance: str = ""):
        """``instance`` tells daemons on one host apart (tests run several):
        "" for the daemon on the default data root, which owns nftables table
        ``dockyard`` and bridge ``dockyard0``; another gets ``dockyard_<i>``
        and ``dy0-<i>``."""
        self.db = db
        self.root = root
        self.events = events
        self._containers = containers  # every container record
        self._save = save              # persist a container's networks/ports
        self.table = f"dockyard_{instance}" if instance else "dockyard"
        self.default_bridge = f"dy0-{instance}" if instance else DEFAULT_BRIDGE_DEVICE
        self.ipam = Ipam(db)
        self.ports = PortAllocator()
        self.dns = EmbeddedDNS(self.resolve_name)
        self._records: list[Network] | None = None  # see _all
        self._pending: dict[str, asyncio.Future] = {}  # wiring in progress, by container id
        self.netns_dir = os.path.join(root.root, "netns")
        os.makedirs(self.netns_dir, exist_ok=True)
        db.ensure_schema(SCHEMA)
        self._ensure_predefined()

    # -- records -------------------------------------------------------------------

    def _all(self) -> list[Network]:
        """Every network, oldest first; read once from SQLite, then kept here
        (start, exit and DNS look networks up on every call)."""
        if self._records is None:
            self._records = [Network.from_row(r) for r in self.db.query("SELECT * FROM networks ORDER BY created")]
        return self._records

    def _find(self, ref: str) -> Network | None:
        try:
            return self.get(ref)
        except errors.NotFound:
            return None

    def get(self, ref: str) -> Network:
        """By full id, name, or unique id prefix (docker's order)."""
        nets = self._all()
        for n in nets:
            if n.id == ref:
                return n
        for n in nets:
            if n.name == ref:
                return n
        matches = [n for n in nets if ref and n.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise errors.InvalidArgument(f"network {ref} is ambiguous ({len(matches)} matches found based on ID prefix)")
        raise errors.NotFound(f"network {ref} not found")

    def _insert(self, n: Network) -> None:
        self.db.execute(
            "INSERT INTO networks (id, name, driver, bridge, subnet, gateway, ip_range, internal, attachable,"
            " labels, options, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (n.id, n.name, n.driver, n.bridge, n.subnet, n.gateway, n.ip_range, int(n.internal),
             int(n.attachable), json.dumps(n.labels), json.dumps(n.options), n.created))
        self._records = None

    def _delete(self, network_id: str) -> None:
        self.db.execute("DELETE FROM networks WHERE id = ?", (network_id,))
        self._records = None

    def _taken_subnets(self) -> list[ipaddress.IPv4Network]:
        nets = self._all()
        own = {n.bridge for n in nets if n.bridge}
        return [ipaddress.IPv4Network(n.subnet) for n in nets if n.subnet] + links.host_networks(exclude=own)

    def _ensure_predefined(self) -> None:
        names = {n.name for n in self._all()}
        now = now_rfc3339()
        if "bridge" not in names:
            taken = self._taken_subnets()
            subnet = Ipam.free_subnet(DEFAULT_BRIDGE_POOL, taken, USER_PREFIX)
            pool = Pool.from_request(str(subnet))
            self._insert(Network(secrets.token_hex(32), "bridge", "bridge", self.default_bridge, str(subnet),
                                 str(pool.gateway), options={
                                     "com.docker.network.bridge.default_bridge": "true",
                                     "com.docker.network.bridge.enable_icc": "true",
                                     "com.docker.network.bridge.enable_ip_masquerade": "true",
                                     BRIDGE_NAME_OPTION: self.default_bridge,
                                     "com.docker.network.driver.mtu": "1500"}, created=now))
        if "host" not in names:
            self._insert(Network(secrets.token_hex(32), "host", "host", created=now))
        if "none" not in names:
            self._insert(Network(secrets.token_hex(32), "none", "null", created=now))

    async def start(self) -> None:
        """Daemon start: every bridge present, the rules rendered from the records."""
        await asyncio.to_thread(self._sweep_orphans)
        for n in self._all():
            if n.driver == "bridge":
                await asyncio.to_thread(self._ensure_bridge, n)
        await asyncio.to_thread(self.apply_rules)

    async def shutdown(self) -> None:
        """Daemon stop: name servers closed; with no container left running,
        its rules and bridges go too (see _clear_host)."""
        await self.dns.close()
        if not any(c.state.running for c in self._containers()):
            await asyncio.to_thread(self._clear_host)

    def _clear_host(self) -> None:
        """Rules and bridges off the host (start() makes them again from the
        records): a stopped daemon holds no subnet that another could need,
        and a temporary one (tests) leaves nothing behind."""
        nft.remove(self.table)
        for n in self._all():
            if n.bridge:
                try:
                    links.delete_bridge(n.bridge)
                except errors.DockyardError:
                    log.warning("could not remove bridge %s", n.bridge)

    def _sweep_orphans(self) -> None:
        """Tables (and their bridges) of daemons whose data root is gone —
        temporary daemons of tests and checks: nothing will ever remove them."""
        for table, owner, bridges in nft.owned_tables():
            if table == self.table or not owner or os.path.exists(os.path.join(owner, "metadata.db")):
                continue
            for bridge in bridges:
                if bridge.startswith(("dy0-", "br-")):
                    try:
                        links.delete_bridge(bridge)
                    except errors.DockyardError:
                        pass
            nft.remove(table)
            log.info("removed the network rules and bridges of %s (its data root is gone)", owner)

    def _ensure_bridge(self, n: Network) -> None:
        pool = n.pool
        links.ensure_bridge(n.bridge, ipaddress.IPv4Interface(f"{pool.gateway}/{pool.subnet.prefixlen}"))
        self.ipam.reserve_gateway(n.id, pool)

    # -- the API -------------------------------------------------------------------

    def create(self, body: dict) -> dict:
        name = (body.get("Name") or "").strip()
        if not name:
            raise errors.InvalidArgument("network name cannot be empty")
        if any(n.name == name for n in self._all()):
            raise errors.Conflict(f"network with name {name} already exists")
        driver = body.get("Driver") or "bridge"
        if driver != "bridge":
            if driver in ("host", "null"):
                raise errors.Forbidden(f"only one instance of \"{driver}\" network is allowed")
            raise errors.NotFound(f"plugin \"{driver}\" not found")
        if body.get("EnableIPv6"):
            raise errors.InvalidArgument("IPv6 networks are not supported by dockyard yet")
        options = {str(k): str(v) for k, v in (body.get("Options") or {}).items()}
        labels = {str(k): str(v) for k, v in (body.get("Labels") or {}).items()}
        ipam = body.get("IPAM") or {}
        if (ipam.get("Driver") or "default") != "default":
            raise errors.NotFound(f"plugin \"{ipam['Driver']}\" not found")
        configs = ipam.get("Config") or []
        if len(configs) > 1:
            raise errors.InvalidArgument("dockyard supports one IPv4 subnet per network")
        taken = self._taken_subnets()
        if configs and configs[0].get("Subnet"):
            pool = Pool.from_request(configs[0]["Subnet"], configs[0].get("Gateway") or "",
                                     configs[0].get("IPRange") or "")
            Ipam.check_overlap(pool.subnet, taken)
        elif configs and (configs[0].get("Gateway") or configs[0].get("IPRange")):
            raise errors.InvalidArgument("a gateway or ip-range needs a subnet (--subnet)")
        else:
            pool = Pool.from_request(str(Ipam.free_subnet(USER_POOLS, taken, USER_PREFIX)))
        network_id = secrets.token_hex(32)
        bridge = options.get(BRIDGE_NAME_OPTION) or f"br-{network_id[:12]}"
        if len(bridge) > 15:
            raise errors.InvalidArgument(f"bridge name {bridge} is longer than 15 characters")
        if any(n.bridge == bridge for n in self._all()):
            raise errors.Conflict(f"bridge name {bridge} is used by another network")
        n = Network(network_id, name, "bridge", bridge, str(pool.subnet), str(pool.gateway),
                    str(pool.ip_range) if pool.ip_range else "", bool(body.get("Internal")),
                    bool(body.get("Attachable")), labels, options, now_rfc3339())
        try:
            self._ensure_bridge(n)
            self._insert(n)
            self.apply_rules()
        except BaseException:
            links.delete_bridge(bridge)
            self.ipam.drop_network(network_id)
            self._delete(network_id)
            raise
        self.events.publish("network", "create", network_id, {"name": name, "type": "bridge"})
        return {"Id": network_id, "Warning": ""}

    def _attached(self, n: Network) -> list[Container]:
        return [c for c in self._containers() if n.name in (c.networks or {})
                or (n.name in ("host", "none") and c.host_config.get("NetworkMode") == n.name)]

    def inspect(self, ref: str) -> dict:
        n = self.get(ref)
        members = {}
        for c in self._attached(n):
            ep = (c.networks or {}).get(n.name) or {}
            if not c.state.running or (n.driver == "bridge" and not ep.get("IPAddress")):
                continue
            members[c.id] = {
                "Name": c.name, "EndpointID": ep.get("EndpointID", ""), "MacAddress": ep.get("MacAddress", ""),
                "IPv4Address": f"{ep['IPAddress']}/{ep['IPPrefixLen']}" if ep.get("IPAddress") else "",
                "IPv6Address": "",
            }
        return n.to_api(members)

    def list(self, filters: dict[str, list[str]] | None = None) -> list[dict]:
        filters = filters or {}
        for key in filters:
            if key not in ("driver", "id", "label", "name", "scope", "type", "dangling"):
                raise errors.InvalidArgument(f"invalid filter '{key}'")
        out = []
        for n in self._all():
            if "driver" in filters and n.driver not in filters["driver"]:
                continue
            if "id" in filters and not any(n.id.startswith(v) for v in filters["id"]):
                continue
            if "name" in filters and not any(v in n.name for v in filters["name"]):
                continue
            if "scope" in filters and "local" not in filters["scope"]:
                continue
            if "type" in filters:
                kinds = {"builtin" if n.predefined else "custom"}
                if not kinds & set(filters["type"]):
                    continue
            if "label" in filters and not labels_match(n.labels, filters["label"]):
                continue
            if "dangling" in filters:
                want = filters["dangling"][-1].lower() in ("true", "1")
                dangling = not n.predefined and not self._attached(n)
                if want != dangling:
                    continue
            out.append(n.to_api({}))
        return out

    def remove(self, ref: str) -> None:
        n = self.get(ref)
        if n.predefined:
            raise errors.Forbidden(f"{n.name} is a pre-defined network and cannot be removed")
        if self._attached(n):
            raise errors.Forbidden(f"error while removing network: network {n.name} id {n.id} has active endpoints")
        self._delete(n.id)
        self.ipam.drop_network(n.id)
        links.delete_bridge(n.bridge)
        self.apply_rules()
        self.events.publish("network", "destroy", n.id, {"name": n.name, "type": n.driver})

    def prune(self, filters: dict[str, list[str]] | None = None) -> dict:
        filters = filters or {}
        until = None
        if "until" in filters:
            from ..images.filters import parse_until

            until = parse_until(filters["until"][-1])
        deleted = []
        for n in self._all():
            if n.predefined or self._attached(n):
                continue
            if "label" in filters and not labels_match(n.labels, filters["label"]):
                continue
            if until is not None and parse_rfc3339(n.created) >= until:
                continue
            self.remove(n.id)
            deleted.append(n.name)
        return {"NetworksDeleted": deleted or None}

    # -- containers: create --------------------------------------------------------

    def plan_container(self, host_config: dict, networking: dict | None) -> dict:
        """Validate a new container's network settings; its initial ``networks``."""
        mode = host_config.get("NetworkMode") or "bridge"
        if mode == "default":
            mode = "bridge"
        host_config["NetworkMode"] = mode
        endpoints = {("bridge" if k == "default" else k): v
                     for k, v in ((networking or {}).get("EndpointsConfig") or {}).items()}
        if mode.startswith("container:"):
            if endpoints or host_config.get("PortBindings") or host_config.get("PublishAllPorts"):
                raise errors.InvalidArgument("conflicting options: port publishing and the container type network mode")
            return {}
        if mode in ("host", "none"):
            if mode == "none" and any(k not in ("none",) for k in endpoints):
                raise errors.InvalidArgument("container cannot be connected to multiple networks with one of the networks in private (none) mode")
            return {mode: _endpoint(self.get(mode))}
        primary = self.get(mode)
        out: dict = {}  # docker (API >= 1.44) connects to every network named
        for ref in [primary.name, *[k for k in endpoints if self.get(k).name != primary.name]]:
            n = self.get(ref)
            if n.driver != "bridge":
                raise errors.InvalidArgument("container cannot be disconnected from host network or connected to host network")
            conf = endpoints.get(ref) or endpoints.get(n.name) or endpoints.get(n.id) or {}
            wanted = ((conf.get("IPAMConfig") or {}).get("IPv4Address") or "")
            if wanted and not n.user_defined:
                raise errors.InvalidArgument("user specified IP address is supported on user defined networks only")
            if wanted:
                _check_inside(n, wanted)
            aliases = list(conf.get("Aliases") or [])
            if aliases and not n.user_defined:
                raise errors.InvalidArgument("network-scoped alias is supported only for containers in user defined networks")
            out[n.name] = _endpoint(n, aliases, conf.get("IPAMConfig"))
        return out

    # -- containers: start and exit -----------------------------------------------------

    def sandbox_path(self, c: Container) -> str:
        return os.path.join(self.netns_dir, c.id)

    async def setup(self, c: Container, peer: Callable[[str], Container]) -> str | None:
        """Before the container's process is made: its network namespace, as
        the runtime should join it ("host", a path, or None for a new one).

        For bridge networks this makes the namespace and takes the addresses
        (the /etc files need them) and then wires the rest — veths, published
        ports, rules, name server — in the background while the shim starts;
        :meth:`ready` waits for that before the process runs."""
        mode = c.host_config.get("NetworkMode") or "bridge"
        if mode == "host":
            return "host"
        if mode == "none":
            return None
        if mode.startswith("container:"):
            other = peer(mode.split(":", 1)[1])
            if not other.state.running or not other.state.pid:
                raise errors.Conflict(f"cannot join network of a non running container: {other.id}")
            return f"/proc/{other.state.pid}/ns/net"
        try:
            await asyncio.to_thread(self._prepare_sync, c)
        except BaseException:
            await self.teardown(c)
            raise
        self._pending[c.id] = asyncio.ensure_future(self._wire(c))
        return self.sandbox_path(c)

    async def ready(self, c: Container) -> None:
        """The wiring :meth:`setup` started is done; its error if it failed."""
        task = self._pending.pop(c.id, None)
        if task is not None:
            await task

    async def _wire(self, c: Container) -> None:
        await asyncio.to_thread(self._wire_sync, c)
        await self._attach_dns(c)

    async def _attach_dns(self, c: Container) -> None:
        """The embedded name server, for a container on any user-defined
        network; names outside are forwarded (to ``--dns`` servers if given)
        unless every network it is on is internal, as in docker."""
        nets = [self.get(name) for name in c.networks if self._exists(name)]
        user = [n for n in nets if n.user_defined]
        if not user:
            return
        await self.dns.attach(c.id, self.sandbox_path(c), forward=not all(n.internal for n in nets),
                              upstreams=list(c.host_config.get("Dns") or []) or None)

    def _prepare_sync(self, c: Container) -> None:
        netns.create(self.sandbox_path(c))
        for name in list(c.networks):
            self._address_endpoint(c, self.get(c.networks[name].get("NetworkID") or name))
        c.sandbox = self.sandbox_path(c)

    def _wire_sync(self, c: Container) -> None:
        path = self.sandbox_path(c)
        for index, name in enumerate(list(c.networks)):
            self._wire_endpoint(c, self.get(name), path, f"eth{index}", default_route=index == 0)
        self._publish(c)
        if c.ports:  # without publications the table does not change
            self.apply_rules()
        self._save(c)
        for name in c.networks:
            n = self.get(name)
            self.events.publish("network", "connect", n.id, {"container": c.id, "name": n.name, "type": n.driver})

    def _address_endpoint(self, c: Container, n: Network) -> None:
        """An address from IPAM and the endpoint's settings (before its veth exists)."""
        ep = c.networks.get(n.name) or _endpoint(n)
        pool = n.pool
        wanted = (ep.get("IPAMConfig") or {}).get("IPv4Address") or ""
        address = self.ipam.allocate(n.id, pool, c.id, wanted)
        names = [c.name, c.id[:12], *(ep.get("Aliases") or [])] if n.user_defined else None
        ep.update({"NetworkID": n.id, "EndpointID": hashlib.sha256((c.id + n.id + str(time.time())).encode()).hexdigest(),
                   "Gateway": str(pool.gateway), "IPAddress": str(address), "IPPrefixLen": pool.subnet.prefixlen,
                   "MacAddress": links.mac_for(address), "DNSNames": names})
        c.networks[n.name] = ep

    def _wire_endpoint(self, c: Container, n: Network, sandbox: str, ifname: str, default_route: bool) -> None:
        ep = c.networks[n.name]
        pool = n.pool
        attach = lambda: links.attach(n.bridge, sandbox, host_ifname(c.id, n.id), ifname,  # noqa: E731
                                      ipaddress.IPv4Interface(f"{ep['IPAddress']}/{pool.subnet.prefixlen}"),
                                      pool.gateway if default_route and not n.internal else None,
                                      mac=ep["MacAddress"])
        try:
            attach()
        except errors.Conflict:
            # The previous run's host end, still going away with its
            # namespace (teardown lets the kernel delete it): delete it now.
            links.detach(host_ifname(c.id, n.id))
            attach()

    def _publish(self, c: Container) -> None:
        requests = plan_bindings(c.host_config.get("PortBindings") or {}, c.config.get("ExposedPorts") or {},
                                 bool(c.host_config.get("PublishAllPorts")))
        c.ports = [b.to_json() for b in self.ports.allocate(c.id, requests)] if requests else []

    async def teardown(self, c: Container) -> None:
        """After the container's process is gone (or failed to start)."""
        mode = c.host_config.get("NetworkMode") or "bridge"
        if mode in ("host", "none") or mode.startswith("container:"):
            return
        task = self._pending.pop(c.id, None)
        if task is not None:
            await asyncio.wait([task])
        await self.dns.detach(c.id)
        await asyncio.to_thread(self._teardown_sync, c)

    def _teardown_sync(self, c: Container) -> None:
        self.ports.release(c.id)
        had = bool(c.ports)
        c.ports = []
        # The veths are not deleted one by one (each costs the kernel ~20 ms):
        # they go with the namespace, which dies once its mount is gone and
        # the container's processes and name server sockets are.
        for name, ep in (c.networks or {}).items():
            if ep.get("NetworkID"):
                if ep.get("IPAddress"):
                    self.events.publish("network", "disconnect", ep["NetworkID"],
                                        {"container": c.id, "name": name, "type": "bridge"})
            ep.update({"EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "MacAddress": "",
                       "DNSNames": None})
        netns.delete(self.sandbox_path(c))
        self.ipam.release_owner(c.id)
        self._save(c)
        if had:
            self.apply_rules()

    async def resume(self, c: Container) -> str:
        """A container still running after a daemon restart: hold its ports and
        answer its names again; the namespace it runs in."""
        mode = c.host_config.get("NetworkMode") or "bridge"
        if mode == "host":
            return "host"
        if mode == "none" or mode.startswith("container:"):
            return ""
        if c.ports:
            for problem in self.ports.restore(c.id, [PortBinding.from_json(b) for b in c.ports]):
                log.warning("container %s: %s", c.id[:12], problem)
        await self._attach_dns(c)
        return self.sandbox_path(c)

    def _exists(self, ref: str) -> bool:
        return self._find(ref) is not None

    def forget(self, c: Container) -> None:
        """A container removed: nothing of it may stay allocated."""
        self.ipam.release_owner(c.id)
        self.ports.release(c.id)

    def etc_view(self, c: Container, peer: Callable[[str], Container]) -> EtcNetwork:
        """What /etc/hosts and /etc/resolv.conf need from the networks."""
        default = self.get("bridge")
        peers: dict[str, str] = {}
        for link in c.host_config.get("Links") or []:
            name, _, alias = link.partition(":")
            try:
                other = peer(name.lstrip("/"))
            except errors.NotFound:
                raise errors.InvalidArgument(f"could not get container for {name.lstrip('/')}") from None
            shared = next((ep.get("IPAddress") for net, ep in (other.networks or {}).items()
                           if net in (c.networks or {}) and ep.get("IPAddress")), "")
            if not shared:
                raise errors.InvalidArgument(f"Cannot link to /{other.name}, as it does not belong to the "
                                             "default network" if not other.state.running else
                                             f"Cannot link to /{other.name}: it shares no network with this container")
            label = alias.split("/")[-1] if alias else other.name
            peers[f"{label} {other.name}" if label != other.name else other.name] = shared
        user = any(self._exists(name) and self.get(name).user_defined for name in (c.networks or {}))
        return EtcNetwork(peers, default.gateway, user)

    # -- connect and disconnect ------------------------------------------------------

    async def connect(self, ref: str, c: Container, config: dict | None) -> None:
        n = self.get(ref)
        config = config or {}
        mode = c.host_config.get("NetworkMode") or "bridge"
        if mode in ("host", "none") or mode.startswith("container:"):
            raise errors.Forbidden("container sharing network namespace with another container or host cannot be connected to any other network")
        if n.driver != "bridge":
            raise errors.Forbidden("container cannot be disconnected from host network or connected to host network")
        if n.name in (c.networks or {}):
            raise errors.Forbidden(f"endpoint with name {c.name} already exists in network {n.name}")
        wanted = ((config.get("IPAMConfig") or {}).get("IPv4Address") or "")
        if wanted and not n.user_defined:
            raise errors.InvalidArgument("user specified IP address is supported on user defined networks only")
        if wanted:
            _check_inside(n, wanted)
        ep = _endpoint(n, list(config.get("Aliases") or []), config.get("IPAMConfig"))
        c.networks[n.name] = ep
        if not c.state.running:
            self._save(c)
            return
        try:
            first = not any(e.get("IPAddress") for k, e in c.networks.items() if k != n.name)
            taken = {name for _, name in await asyncio.to_thread(netns.run_in, self.sandbox_path(c),
                                                                  socket.if_nameindex)}
            ifname = next(f"eth{i}" for i in range(len(taken) + 1) if f"eth{i}" not in taken)
            await asyncio.to_thread(self._address_endpoint, c, n)
            await asyncio.to_thread(self._wire_endpoint, c, n, self.sandbox_path(c), ifname, first)
            await self._attach_dns(c)  # publications follow the first network: the rules stay as they are
        except BaseException:
            c.networks.pop(n.name, None)
            self._save(c)
            raise
        self._save(c)
        self.events.publish("network", "connect", n.id, {"container": c.id, "name": n.name, "type": n.driver})

    async def disconnect(self, ref: str, c: Container, force: bool = False) -> None:
        n = self.get(ref)
        if n.name not in (c.networks or {}):
            raise errors.Forbidden(f"container {c.id} is not connected to network {n.name}")
        ep = c.networks[n.name]
        if c.state.running and ep.get("IPAddress"):
            await asyncio.to_thread(links.detach, host_ifname(c.id, n.id))
            self.ipam.release(n.id, c.id)
        had_ports = bool(c.ports) and next(iter(c.networks)) == n.name  # publications use the first network
        del c.networks[n.name]  # NetworkMode keeps naming it, as in docker
        self._save(c)
        if had_ports:
            await asyncio.to_thread(self.apply_rules)
        self.events.publish("network", "disconnect", n.id, {"container": c.id, "name": n.name, "type": n.driver})

    # -- names ------------------------------------------------------------------------

    def resolve_name(self, container_id: str, name: str, qtype: int) -> list[str] | None:
        """The embedded DNS's question: what ``name`` means to this container.
        Only on user-defined networks the container shares with the target."""
        everyone = self._containers()
        me = next((c for c in everyone if c.id == container_id), None)
        if me is None:
            return None
        name = name.rstrip(".").lower()
        found: list[str] = []
        matched = False
        for net_name, my_ep in (me.networks or {}).items():
            if not my_ep.get("IPAddress") or not my_ep.get("DNSNames"):
                continue
            for other in everyone:
                ep = (other.networks or {}).get(net_name)
                if not ep or not ep.get("IPAddress") or not other.state.running:
                    continue
                if name in [d.lower() for d in ep.get("DNSNames") or []]:
                    matched = True
                    found.append(ep["IPAddress"])
        if not matched:
            return None
        return found if qtype == 1 else []

    # -- rules --------------------------------------------------------------------------

    def apply_rules(self) -> None:
        nets = self._all()
        networks = [nft.BridgeNetwork(n.bridge, ipaddress.IPv4Network(n.subnet), ipaddress.IPv4Address(n.gateway),
                                      n.internal)
                    for n in nets if n.driver == "bridge"]
        publications = []
        bridges = {n.name: n for n in nets}
        for c in self._containers():
            if not c.ports or not c.networks:
                continue
            name, ep = next(iter(c.networks.items()))
            if not ep.get("IPAddress") or name not in bridges or bridges[name].internal:
                continue  # docker publishes nothing from an internal network
            for b in c.ports:
                publications.append(nft.Publication.from_binding(PortBinding.from_json(b),
                                                                 ipaddress.IPv4Address(ep["IPAddress"]),
                                                                 bridges[name].bridge))
        nft.apply(nft.render(self.table, networks, publications, owner=os.path.realpath(self.root.root)))


def _check_inside(n: Network, address: str) -> None:
    n.pool.check(address)
