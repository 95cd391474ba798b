"""The nftables table: rendered text (golden), a real apply/remove, and real forwarding.

The real tests run as root with their own table (``dockyard_test_<hex>``),
devices named ``dyt<hex>…`` and free 10.253.X.0/24 addresses; fixtures
remove them all, even when a test fails.  Traffic goes only over loopback,
the host's own addresses and test namespaces.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys

import pytest

from dockyard.errors import InvalidArgument, NotFound
from dockyard.network import nftables as nft
from dockyard.network.nftables import BridgeNetwork, Publication
from dockyard.network.ports import PortAllocator, PortBinding, PortRequest

BASE = """\
table ip dockyard {
	chain raw-prerouting {
		type filter hook prerouting priority raw; policy accept;
		iifname != "lo" ip daddr 127.0.0.0/8 drop
	}

	chain nat-prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local jump published
	}

	chain nat-output {
		type nat hook output priority -100; policy accept;
		fib daddr type local jump published
	}
"""

EMPTY = BASE + """
	chain published {
	}

	chain nat-postrouting {
		type nat hook postrouting priority srcnat; policy accept;
	}

	chain forward {
		type filter hook forward priority filter; policy accept;
		ct state established,related accept
	}
}
"""

# The module docstring's example: a network, an internal one, 80/tcp published twice.
EXAMPLE = BASE + """
	chain published {
		tcp dport 8080 dnat to 10.253.1.2:80
		ip daddr 127.0.0.1 tcp dport 8081 dnat to 10.253.1.2:80
	}

	chain nat-postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname != "dy0" ip saddr 10.253.1.0/24 masquerade
		oifname "dy0" ip saddr 127.0.0.0/8 masquerade
		oifname "dy0" ip saddr 10.253.1.0/24 ip daddr 10.253.1.2 tcp dport 80 ct status dnat masquerade
	}

	chain forward {
		type filter hook forward priority filter; policy accept;
		ct state established,related accept
		oifname "dy0" iifname "dy0" accept
		oifname "dy0" ct status dnat accept
		oifname "dy0" drop
		iifname "dyi" oifname != "dyi" drop
		oifname "dyi" drop
	}
}
"""

DY0 = BridgeNetwork("dy0", "10.253.1.0/24", "10.253.1.1")
DY1 = BridgeNetwork("dy1", ipaddress.IPv4Network("10.253.2.0/24"), ipaddress.IPv4Address("10.253.2.1"))
DYI = BridgeNetwork("dyi", "10.253.3.0/24", "10.253.3.1", internal=True)


def pub(host_port, container_ip="10.253.1.2", container_port=80, proto="tcp", host_ip=None, bridge="dy0"):
    return Publication(proto, host_ip, host_port, container_ip, container_port, bridge)


def test_nothing_to_publish_is_a_table_of_base_chains():
    rules = nft.render("dockyard", [], [])
    assert rules.text == EMPTY
    assert rules.table == "dockyard" and rules.sysctls == ()


def test_the_documented_example():
    rules = nft.render("dockyard", [DY0, DYI], [pub(8080), pub(8081, host_ip="127.0.0.1")])
    assert rules.text == EXAMPLE
    assert rules.sysctls == (("dy0", "route_localnet", "1"),)


def test_the_order_of_the_inputs_does_not_matter():
    networks = [DY0, DYI, DY1]
    pubs = [pub(8080), pub(8081, host_ip="127.0.0.1"), pub(53, "10.253.2.7", 53, "udp", bridge="dy1")]
    first = nft.render("dockyard", networks, pubs)
    assert nft.render("dockyard", networks[::-1], pubs[::-1]) == first


def test_two_networks_udp_and_one_container_port_published_twice():
    networks = [DY1, DY0]
    pubs = [
        pub(8080, host_ip="0.0.0.0"),                       # 0.0.0.0 means every address
        pub(8081, host_ip="127.0.0.1"),                      # same container port: one hairpin rule
        pub(5353, "10.253.2.7", 53, "udp", "192.0.2.2", "dy1"),
    ]
    rules = nft.render("dockyard_x", networks, pubs)
    assert rules.text == BASE.replace("dockyard", "dockyard_x") + """
	chain published {
		ip daddr 192.0.2.2 udp dport 5353 dnat to 10.253.2.7:53
		tcp dport 8080 dnat to 10.253.1.2:80
		ip daddr 127.0.0.1 tcp dport 8081 dnat to 10.253.1.2:80
	}

	chain nat-postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname != "dy0" ip saddr 10.253.1.0/24 masquerade
		oifname != "dy1" ip saddr 10.253.2.0/24 masquerade
		oifname "dy0" ip saddr 127.0.0.0/8 masquerade
		oifname "dy1" ip saddr 127.0.0.0/8 masquerade
		oifname "dy0" ip saddr 10.253.1.0/24 ip daddr 10.253.1.2 tcp dport 80 ct status dnat masquerade
		oifname "dy1" ip saddr 10.253.2.0/24 ip daddr 10.253.2.7 udp dport 53 ct status dnat masquerade
	}

	chain forward {
		type filter hook forward priority filter; policy accept;
		ct state established,related accept
		oifname "dy0" iifname "dy0" accept
		oifname "dy0" ct status dnat accept
		oifname "dy0" drop
		oifname "dy1" iifname "dy1" accept
		oifname "dy1" ct status dnat accept
		oifname "dy1" drop
	}
}
"""
    assert rules.sysctls == (("dy0", "route_localnet", "1"), ("dy1", "route_localnet", "1"))
    assert rules.udp_ports == (5353,)


def test_a_network_without_publications_needs_no_sysctl_and_no_loopback_masquerade():
    rules = nft.render("dockyard", [DY0, DY1], [pub(8080)])
    assert 'oifname "dy1" ip saddr 127.0.0.0/8' not in rules.text
    assert rules.sysctls == (("dy0", "route_localnet", "1"),)


def test_publication_from_a_binding():
    b = PortBinding("udp", "0.0.0.0", 5353, 53)
    assert Publication.from_binding(b, "10.253.1.9", "dy0") == Publication("udp", None, 5353, "10.253.1.9", 53, "dy0")
    b = PortBinding("tcp", "127.0.0.1", 8080, 80)
    p = Publication.from_binding(b, ipaddress.IPv4Address("10.253.1.9"), "dy0")
    assert p.host_ip == ipaddress.IPv4Address("127.0.0.1") and p.container_ip == ipaddress.IPv4Address("10.253.1.9")


@pytest.mark.parametrize("networks, pubs, message", [
    ([DY0], [pub(80, bridge="dy9")], "published on bridge dy9, which is not one of the networks"),
    ([DY0, DYI], [pub(80, "10.253.3.2", bridge="dyi")], "published on internal network dyi"),
    ([DY0], [pub(80, "10.253.9.2")], "container address 10.253.9.2 is outside 10.253.1.0/24 (dy0)"),
    ([DY0], [pub(80), pub(80, "10.253.1.3", host_ip="127.0.0.1")], "host port 80/tcp is published twice"),
    ([DY0], [pub(80, host_ip="127.0.0.1"), pub(80, "10.253.1.3", host_ip="127.0.0.1")], "published twice"),
    ([DY0, DY0], [], "two networks on bridge dy0"),
])
def test_descriptions_that_cannot_be_right(networks, pubs, message):
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        nft.render("dockyard", networks, pubs)


def test_one_port_on_two_addresses_or_two_protocols_is_fine():
    rules = nft.render("dockyard", [DY0], [
        pub(80, host_ip="127.0.0.1"), pub(80, "10.253.1.3", host_ip="192.0.2.2"), pub(80, proto="udp")])
    assert rules.text.count("dport 80 dnat") == 3


@pytest.mark.parametrize("name", ['dy"0', "dy*", "a" * 16, "", "a b", "..", "a/b"])
def test_interface_names_that_would_not_survive_nft(name):
    with pytest.raises(InvalidArgument, match="invalid interface name"):
        BridgeNetwork(name, "10.253.1.0/24", "10.253.1.1")


@pytest.mark.parametrize("kwargs, message", [
    ({"subnet": "10.253.1.5/24"}, "invalid IPv4 subnet"),
    ({"gateway": "10.253.2.1"}, "gateway 10.253.2.1 is outside the subnet 10.253.1.0/24"),
    ({"gateway": "fe80::1"}, "invalid IPv4 address"),
])
def test_bad_networks(kwargs, message):
    args = {"bridge": "dy0", "subnet": "10.253.1.0/24", "gateway": "10.253.1.1", **kwargs}
    with pytest.raises(InvalidArgument, match=message):
        BridgeNetwork(**args)


@pytest.mark.parametrize("change, message", [
    ({"proto": "sctp"}, "only tcp and udp"),
    ({"host_port": 0}, "invalid port"),
    ({"container_port": 65536}, "invalid port"),
    ({"host_ip": "localhost"}, "invalid IPv4 address"),
])
def test_bad_publications(change, message):
    args = {"proto": "tcp", "host_ip": None, "host_port": 80, "container_ip": "10.253.1.2",
            "container_port": 80, "bridge": "dy0", **change}
    with pytest.raises(InvalidArgument, match=message):
        Publication(**args)


@pytest.mark.parametrize("table", ["", "1abc", "dock yard", "x;flush ruleset", "a" * 65])
def test_bad_table_names(table):
    with pytest.raises(InvalidArgument, match="invalid nftables table name"):
        nft.render(table, [], [])


def test_sysctl_of_a_missing_interface():
    with pytest.raises(NotFound, match="no such network interface: dytmissing0"):
        nft.set_interface_sysctl("dytmissing0", "route_localnet", 1)
    with pytest.raises(InvalidArgument):
        nft.set_interface_sysctl("lo", "../../all/forwarding", 1)


# -- the real thing -------------------------------------------------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft"), reason="needs root and nft")


def _nft_json(table: str) -> dict | None:
    done = subprocess.run(["nft", "-j", "list", "table", "ip", table], capture_output=True, text=True)
    if done.returncode != 0:
        return None
    return json.loads(done.stdout)


def _tables() -> list[str]:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True).stdout.split("\n")


@pytest.fixture
def table():
    name = f"dockyard_test_{secrets.token_hex(4)}"
    try:
        yield name
    finally:
        subprocess.run(["nft", "delete", "table", "ip", name], capture_output=True)
        assert f"table ip {name}" not in _tables()


@needs_root
def test_apply_then_remove(table):
    # host ports outside the ephemeral range and unlikely in use: the table is live for a moment
    rules = nft.render(table, [DY0, DYI], [pub(61234), pub(61235, host_ip="127.0.0.1")])
    # apply also sets route_localnet on dy0, which this test does not create: the table stays
    with pytest.raises(NotFound, match="no such network interface: dy0"):
        nft.apply(rules)

    listed = subprocess.run(["nft", "list", "table", "ip", table], capture_output=True, text=True, check=True)
    assert listed.stdout == rules.text        # the text is the table as nft prints it
    doc = _nft_json(table)["nftables"]
    chains = {c["chain"]["name"]: c["chain"] for c in doc if "chain" in c}
    assert {name: (c.get("type"), c.get("hook"), c.get("prio")) for name, c in chains.items()} == {
        "raw-prerouting": ("filter", "prerouting", -300),
        "nat-prerouting": ("nat", "prerouting", -100),
        "nat-output": ("nat", "output", -100),
        "published": (None, None, None),
        "nat-postrouting": ("nat", "postrouting", 100),
        "forward": ("filter", "forward", 0),
    }
    rules_per_chain = {}
    for item in doc:
        if "rule" in item:
            rules_per_chain[item["rule"]["chain"]] = rules_per_chain.get(item["rule"]["chain"], 0) + 1
    assert rules_per_chain == {"raw-prerouting": 1, "nat-prerouting": 1, "nat-output": 1, "published": 2,
                               "nat-postrouting": 3, "forward": 6}

    # applying again replaces the whole table, atomically
    smaller = nft.render(table, [DY1], [])
    nft.apply(smaller)
    assert subprocess.run(["nft", "list", "table", "ip", table], capture_output=True, text=True).stdout == smaller.text

    nft.remove(table)
    assert _nft_json(table) is None
    assert f"table ip {table}" not in _tables()
    nft.remove(table)   # removing what is not there is fine


@needs_root
def test_apply_does_not_touch_other_tables(table):
    other = f"{table}_other"
    subprocess.run(["nft", "add", "table", "ip", other], check=True)
    try:
        nft.apply(nft.render(table, [], []))
        nft.remove(table)
        assert f"table ip {other}" in _tables()
    finally:
        subprocess.run(["nft", "delete", "table", "ip", other], capture_output=True)


@needs_root
def test_nft_errors_are_system_errors(table):
    from dockyard.errors import SystemError as DockyardSystemError

    broken = nft.Ruleset(table, f"table ip {table} {{\n\tchain x {{\n\t\tnonsense\n\t}}\n}}\n")
    with pytest.raises(DockyardSystemError, match="(?s)nft: .*syntax error.*nonsense"):
        nft.apply(broken)
    assert _nft_json(table) is None   # nothing half-applied


# -- forwarding for real ---------------------------------------------------------------------------
#
#   ns a (10.253.X.2, server on :80) ─┐                          ┌─ ns out (10.253.X.130): "the world"
#   ns b (10.253.X.3)                 ├─ bridge dyt…n 10.253.X.1 ┤   veth dyt…o 10.253.X.129/25
#                                     │   /25                    │
#   ns c (10.253.X.66) ── bridge dyt…m 10.253.X.65/26 (another network)
#
# The bridge's network is 10.253.X.0/26, the other 10.253.X.64/26, the outside link 10.253.X.128/25.

SERVER = """
import select, socket
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("0.0.0.0", 80)); t.listen(64)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 80))
print("ready", flush=True)
while True:
    ready, _, _ = select.select([t, u], [], [])
    if t in ready:
        c, peer = t.accept(); c.sendall(peer[0].encode()); c.close()
    if u in ready:
        data, peer = u.recvfrom(100); u.sendto(peer[0].encode(), peer)
"""

CLIENT = """
import socket, sys
proto, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    if proto == "tcp":
        s = socket.create_connection((host, port), timeout=1.5)
        print(s.recv(100).decode())
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1.5)
        s.sendto(b"?", (host, port)); print(s.recv(100).decode())
except socket.timeout:
    print("timeout")
except ConnectionRefusedError:
    print("refused")
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _ask(namespace: str | None, proto: str, host: str, port: int) -> str:
    """The server's answer (the address it saw us come from), "timeout" or "refused"."""
    argv = [sys.executable, "-c", CLIENT, proto, host, str(port)]
    if namespace:
        argv = ["ip", "netns", "exec", namespace, *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()


def _free_slash24() -> ipaddress.IPv4Network:
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    used += subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    free = [x for x in range(1, 255) if f"10.253.{x}." not in used]
    return ipaddress.IPv4Network(f"10.253.{random.choice(free)}.0/24")


def _host_address(exclude: str) -> str:
    """An address of the host that is not loopback and not on our test devices."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        words = line.split()
        if not words[1].startswith("dyt"):
            return words[3].split("/")[0]
    return exclude


class Lab:
    def __init__(self):
        self.tag = secrets.token_hex(2)
        self.table = f"dockyard_test_{self.tag}"
        self.net = _free_slash24()
        self.subnet = ipaddress.IPv4Network(f"{self.net[0]}/26")
        self.other_subnet = ipaddress.IPv4Network(f"{self.net[64]}/26")
        self.bridge, self.other_bridge, self.uplink = f"dyt{self.tag}n", f"dyt{self.tag}m", f"dyt{self.tag}o"
        self.namespaces: list[str] = []
        self.links: list[str] = []
        self.server: subprocess.Popen | None = None
        self.allocator = PortAllocator()

    def addr(self, n: int) -> str:
        return str(self.net[n])

    def build(self) -> None:
        try:
            _ip("netns", "add", f"dyt{self.tag}probe")
        except subprocess.CalledProcessError:
            pytest.skip("cannot create network namespaces here")
        _ip("netns", "del", f"dyt{self.tag}probe")
        for bridge, gateway, prefix in ((self.bridge, 1, 26), (self.other_bridge, 65, 26)):
            self.links.append(bridge)
            _ip("link", "add", bridge, "type", "bridge")
            _ip("addr", "add", f"{self.addr(gateway)}/{prefix}", "dev", bridge)
            _ip("link", "set", bridge, "up")
        for name, bridge, n, gateway in (("a", self.bridge, 2, 1), ("b", self.bridge, 3, 1),
                                         ("c", self.other_bridge, 66, 65)):
            ns, host_end = f"dyt{self.tag}{name}", f"dyt{self.tag}{name}"
            self.namespaces.append(ns)
            self.links.append(host_end)
            _ip("netns", "add", ns)
            _ip("link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("link", "set", host_end, "master", bridge, "up")
            _ip("-n", ns, "addr", "add", f"{self.addr(n)}/26", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "route", "add", "default", "via", self.addr(gateway))
        # links.py's job in dockyard: hairpin mode lets a container reach its own published port
        _ip("link", "set", f"dyt{self.tag}a", "type", "bridge_slave", "hairpin", "on")
        # "the world": a namespace behind a routed veth, with a route to the containers through the host
        out = f"dyt{self.tag}out"
        self.namespaces.append(out)
        self.links.append(self.uplink)
        _ip("netns", "add", out)
        _ip("link", "add", self.uplink, "type", "veth", "peer", "name", "eth0", "netns", out)
        _ip("addr", "add", f"{self.addr(129)}/25", "dev", self.uplink)
        _ip("link", "set", self.uplink, "up")
        _ip("-n", out, "addr", "add", f"{self.addr(130)}/25", "dev", "eth0")
        _ip("-n", out, "link", "set", "eth0", "up")
        _ip("-n", out, "route", "add", str(self.subnet), "via", self.addr(129))

        self.server = subprocess.Popen(["ip", "netns", "exec", f"dyt{self.tag}a", sys.executable, "-c", SERVER],
                                       stdout=subprocess.PIPE, text=True)
        assert self.server.stdout.readline().strip() == "ready"

    def publish(self) -> None:
        """80/tcp and 80/udp of a on every host address, 80/tcp again on 127.0.0.1 only."""
        bindings = self.allocator.allocate(self.tag, [
            PortRequest("tcp", 80), PortRequest("udp", 80), PortRequest("tcp", 80, "127.0.0.1")])
        self.any_tcp, self.any_udp, self.loopback_tcp = (b.host_port for b in bindings)
        pubs = [Publication.from_binding(b, self.addr(2), self.bridge) for b in bindings]
        self.rules = nft.render(self.table, [
            BridgeNetwork(self.bridge, self.subnet, self.addr(1)),
            BridgeNetwork(self.other_bridge, self.other_subnet, self.addr(65)),
        ], pubs)
        nft.apply(self.rules)

    def cleanup(self) -> None:
        if self.server is not None:
            self.server.kill()
            self.server.wait()
        self.allocator.release(self.tag)
        subprocess.run(["nft", "delete", "table", "ip", self.table], capture_output=True)
        for name in self.links:
            subprocess.run(["ip", "link", "del", name], capture_output=True)
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture(scope="module")
def lab():
    if os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("ip"):
        pytest.skip("needs root, nft and ip")
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        if f.read().strip() != "1":
            pytest.skip("net.ipv4.ip_forward is off on this host")
    lab = Lab()
    try:
        lab.build()
        lab.publish()
        yield lab
    finally:
        lab.cleanup()
        left = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        assert f"dyt{lab.tag}" not in left
        assert f"dyt{lab.tag}" not in subprocess.run(["ip", "netns"], capture_output=True, text=True).stdout
        assert f"table ip {lab.table}" not in _tables()


def test_route_localnet_is_set_on_the_publishing_bridge(lab):
    with open(f"/proc/sys/net/ipv4/conf/{lab.bridge}/route_localnet") as f:
        assert f.read().strip() == "1"
    with open(f"/proc/sys/net/ipv4/conf/{lab.other_bridge}/route_localnet") as f:
        assert f.read().strip() == "0"


def test_host_to_loopback(lab):
    # masqueraded: the container could not answer 127.0.0.1
    assert _ask(None, "tcp", "127.0.0.1", lab.any_tcp) == lab.addr(1)
    assert _ask(None, "tcp", "127.0.0.1", lab.loopback_tcp) == lab.addr(1)
    assert _ask(None, "udp", "127.0.0.1", lab.any_udp) == lab.addr(1)


def test_host_to_its_own_address(lab):
    host = _host_address(lab.addr(1))
    assert _ask(None, "tcp", host, lab.any_tcp) == host
    assert _ask(None, "udp", host, lab.any_udp) == host
    # published on 127.0.0.1 only: elsewhere the port is merely held (bound, not listening)
    assert _ask(None, "tcp", host, lab.loopback_tcp) == "refused"


def test_another_container_through_the_host_address_hairpin(lab):
    host = _host_address(lab.addr(1))
    b = f"dyt{lab.tag}b"
    assert _ask(b, "tcp", host, lab.any_tcp) == lab.addr(1)
    assert _ask(b, "tcp", lab.addr(1), lab.any_tcp) == lab.addr(1)   # through the gateway's address
    assert _ask(b, "udp", host, lab.any_udp) == lab.addr(1)


def test_a_container_to_its_own_published_port(lab):
    assert _ask(f"dyt{lab.tag}a", "tcp", _host_address(lab.addr(1)), lab.any_tcp) == lab.addr(1)


def test_containers_on_one_bridge_see_each_other_unmasqueraded(lab):
    assert _ask(f"dyt{lab.tag}b", "tcp", lab.addr(2), 80) == lab.addr(3)


def test_another_network_is_isolated_but_reaches_published_ports(lab):
    c = f"dyt{lab.tag}c"
    assert _ask(c, "tcp", lab.addr(2), 80) == "timeout"
    assert _ask(c, "tcp", _host_address(lab.addr(1)), lab.any_tcp) == lab.addr(1)


def test_the_world_reaches_published_ports_only(lab):
    out = f"dyt{lab.tag}out"
    assert _ask(out, "tcp", lab.addr(129), lab.any_tcp) == lab.addr(130)
    assert _ask(out, "tcp", lab.addr(2), 80) == "timeout"               # routed straight to the container
    assert _ask(out, "tcp", lab.addr(129), lab.loopback_tcp) == "refused"


def test_loopback_publications_are_not_reachable_from_outside(lab):
    """A neighbour sending to 127.0.0.1 through us (CVE-2020-8558 against kube-proxy): the DNAT
    happens before the kernel's martian check, so only the raw rule keeps it out."""
    out = f"dyt{lab.tag}out"
    # the namespace's own lo owns 127.0.0.1: take it down and route 127.0.0.1 to the host
    _ip("-n", out, "link", "set", "lo", "down")
    _ip("-n", out, "route", "add", "127.0.0.1/32", "via", lab.addr(129))
    subprocess.run(["ip", "netns", "exec", out, "sysctl", "-qw", "net.ipv4.conf.eth0.route_localnet=1"], check=True)
    rules = lab.rules
    rule = '\t\tiifname != "lo" ip daddr 127.0.0.0/8 drop\n'
    try:
        assert _ask(out, "tcp", "127.0.0.1", lab.loopback_tcp) == "timeout"
        # the control: the same table without rule ① lets the neighbour in (unless another
        # dockyard's table, a daemon under test, drops it too)
        others = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
        if others.count(rule) == 1:
            nft.apply(nft.Ruleset(rules.table, rules.text.replace(rule, ""), rules.sysctls))
            assert _ask(out, "tcp", "127.0.0.1", lab.loopback_tcp) == lab.addr(130)
    finally:
        nft.apply(rules)
        subprocess.run(["ip", "-n", out, "route", "del", "127.0.0.1/32"], capture_output=True)
        subprocess.run(["ip", "-n", out, "link", "set", "lo", "up"], capture_output=True)


def test_containers_reach_the_world_masqueraded(lab):
    """The world's namespace runs a server too: a container's connection arrives from the host's address."""
    out = f"dyt{lab.tag}out"
    server = subprocess.Popen(["ip", "netns", "exec", out, sys.executable, "-c", SERVER.replace("0.0.0.0", lab.addr(130))],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "ready"
        assert _ask(f"dyt{lab.tag}b", "tcp", lab.addr(130), 80) == lab.addr(129)
    finally:
        server.kill()
        server.wait()


def test_a_udp_client_that_came_before_the_publication_is_not_stuck(lab):
    """conntrack decides NAT on a flow's first packet: a client that sent before the port was
    published has an un-NATed entry, refreshed by each datagram, unless apply forgets it."""
    owner = f"{lab.tag}-late"
    [late] = lab.allocator.allocate(owner, [PortRequest("udp", 80, "127.0.0.1")])
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    client.settimeout(1)

    def ask() -> str:
        client.sendto(b"?", ("127.0.0.1", late.host_port))
        try:
            return client.recv(100).decode()
        except socket.timeout:
            return "timeout"

    try:
        assert ask() == "timeout"          # not published yet: the holding socket swallows it
        pubs = [Publication.from_binding(b, lab.addr(2), lab.bridge)
                for b in lab.allocator.bindings(lab.tag) + [late]]
        rules = nft.render(lab.table, [BridgeNetwork(lab.bridge, lab.subnet, lab.addr(1))], pubs)
        assert late.host_port in rules.udp_ports
        nft.apply(nft.Ruleset(rules.table, rules.text, rules.sysctls))   # the control: nothing forgotten
        assert ask() == "timeout"
        nft.apply(rules)
        assert ask() == lab.addr(1)
    finally:
        client.close()
        lab.allocator.release(owner)
        nft.apply(lab.rules)
