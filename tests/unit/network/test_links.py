"""Real namespaces, bridges and veth pairs (root).

Every device made here is named ``dyt<tag>…`` and every subnet is a free
10.254.X.0/24; the `lab` fixture removes them all, even when a test fails,
then checks that no link and no mount of this run is left.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import random
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field

import pytest

from dockyard import errors
from dockyard.network import links, netns

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and links")

IPv4Interface = ipaddress.IPv4Interface


@dataclass
class Lab:
    tag: str
    subnet: ipaddress.IPv4Network
    dir: str
    bridges: list[str] = field(default_factory=list)
    veths: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)

    @property
    def gateway(self) -> IPv4Interface:
        return IPv4Interface(f"{self.subnet[1]}/{self.subnet.prefixlen}")

    def address(self, n: int) -> IPv4Interface:
        return IPv4Interface(f"{self.subnet[n]}/{self.subnet.prefixlen}")

    def bridge(self, gateway: IPv4Interface | None = None) -> str:
        name = f"dyt{self.tag}br"
        self.bridges.append(name)
        links.ensure_bridge(name, gateway or self.gateway)
        return name

    def namespace(self, name: str) -> str:
        path = os.path.join(self.dir, name)
        self.namespaces.append(path)
        netns.create(path)
        return path

    def veth(self, n: int) -> str:
        name = f"dyt{self.tag}v{n}"
        self.veths.append(name)
        return name

    def cleanup(self) -> None:
        for name in self.veths:
            subprocess.run(["ip", "link", "del", name], capture_output=True)
        for path in self.namespaces:
            netns.delete(path)
        for name in self.bridges:
            subprocess.run(["ip", "link", "del", name], capture_output=True)
        shutil.rmtree(os.path.dirname(self.dir), ignore_errors=True)


@pytest.fixture
def lab():
    tag = secrets.token_hex(2)
    used = links.host_networks()
    free = [x for x in range(1, 255) if not any(n.overlaps(ipaddress.IPv4Network(f"10.254.{x}.0/24")) for n in used)]
    lab = Lab(tag, ipaddress.IPv4Network(f"10.254.{random.choice(free)}.0/24"), f"/run/dyt-{tag}/netns")
    try:
        yield lab
    finally:
        lab.cleanup()
    leftovers = [line for line in _ip("-o", "link").splitlines() if f"dyt{tag}" in line]
    assert leftovers == []
    with open("/proc/mounts") as f:
        assert f"dyt-{tag}" not in f.read()


def _ip(*args: str, netns_path: str | None = None) -> str:
    command = ["ip", *args] if netns_path is None else ["nsenter", f"--net={netns_path}", "ip", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def _mounted(path: str) -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


# -- namespaces ------------------------------------------------------------------


def test_namespace_is_a_mounted_file_with_loopback_up(lab):
    path = lab.namespace("a")
    assert netns.exists(path) and _mounted(path)
    assert "UP" in _ip("-o", "link", "show", "lo", netns_path=path).split(">")[0]
    assert os.stat(path).st_ino != os.stat("/proc/self/ns/net").st_ino

    netns.delete(path)
    assert not netns.exists(path) and not os.path.exists(path) and not _mounted(path)
    netns.delete(path)  # idempotent


def test_create_refuses_a_live_namespace_and_reuses_a_bare_file(lab):
    path = lab.namespace("a")
    with pytest.raises(errors.Conflict):
        netns.create(path)

    stale = os.path.join(lab.dir, "stale")
    open(stale, "w").close()  # what a crash between the file and the mount leaves
    assert not netns.exists(stale)
    lab.namespaces.append(stale)
    netns.create(stale)
    assert netns.exists(stale)


def test_run_in_and_entered_move_one_thread_only(lab):
    path = lab.namespace("a")
    inode = os.stat(path).st_ino
    here = os.stat("/proc/thread-self/ns/net").st_ino

    assert netns.run_in(path, lambda: os.stat("/proc/thread-self/ns/net").st_ino) == inode
    with netns.entered(path):
        assert os.stat("/proc/thread-self/ns/net").st_ino == inode
    assert os.stat("/proc/thread-self/ns/net").st_ino == here

    with pytest.raises(errors.NotFound):
        netns.run_in(os.path.join(lab.dir, "missing"), lambda: None)


def test_entered_is_refused_on_an_event_loop_thread(lab):
    path = lab.namespace("a")

    async def main():
        with netns.entered(path):
            pass

    with pytest.raises(RuntimeError):
        asyncio.run(main())


def test_a_shim_sees_namespaces_made_before_it_and_does_not_keep_them(lab):
    """What netns.py's docstring says about mount propagation, checked."""
    before = lab.namespace("before")
    bridge = lab.bridge()
    links.attach(bridge, before, lab.veth(1), "eth0", lab.address(2), None)
    # like a shim: its own mount namespace, every mount private
    shim = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sleep", "60"])
    try:
        mountinfo = f"/proc/{shim.pid}/mountinfo"
        deadline = time.monotonic() + 5
        while os.readlink(f"/proc/{shim.pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt"):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        after = lab.namespace("after")

        def join(path: str) -> subprocess.CompletedProcess:
            return subprocess.run(["nsenter", "-t", str(shim.pid), "-m", "nsenter", f"--net={path}", "true"],
                                  capture_output=True, text=True)

        assert join(before).returncode == 0
        assert join(after).returncode != 0  # the bare file: "Invalid argument"
        with open(mountinfo) as f:
            assert before in f.read()

        netns.delete(before)
        with open(mountinfo) as f:
            assert before not in f.read()  # unlink detached the shim's copy too
        # ... so the namespace ends, and with it the veth pair
        deadline = time.monotonic() + 5
        while lab.veths[0] in _ip("-o", "link"):
            assert time.monotonic() < deadline, "the namespace outlived its file"
            time.sleep(0.02)
    finally:
        shim.kill()
        shim.wait()


# -- bridges ---------------------------------------------------------------------


def test_bridge_is_idempotent_and_corrected(lab):
    bridge = lab.bridge()
    links.ensure_bridge(bridge, lab.gateway)
    assert links.bridge_exists(bridge)
    assert _addresses(bridge) == [str(lab.gateway)]
    shown = _ip("-o", "link", "show", bridge)
    assert "UP" in shown.split(">")[0] and "mtu 1500" in shown
    assert links.mac_for(lab.gateway.ip) in shown
    assert "brd " + str(lab.subnet.broadcast_address) in _ip("-o", "-4", "addr", "show", "dev", bridge)

    # Someone changed it: a stray address, another gateway in the same subnet, a lower MTU, down.
    _ip("addr", "add", f"{lab.subnet[200]}/24", "dev", bridge)
    _ip("link", "set", bridge, "down", "mtu", "1400")
    moved = lab.address(254)
    links.ensure_bridge(bridge, moved)
    assert _addresses(bridge) == [str(moved)]
    shown = _ip("-o", "link", "show", bridge)
    assert "UP" in shown.split(">")[0] and "mtu 1500" in shown

    links.delete_bridge(bridge)
    assert not links.bridge_exists(bridge)
    links.delete_bridge(bridge)  # idempotent


def test_a_device_that_is_not_a_bridge_is_not_taken_for_one(lab):
    veth = lab.veth(1)
    _ip("link", "add", veth, "type", "veth", "peer", "name", f"dyt{lab.tag}p1")
    assert not links.bridge_exists(veth)
    with pytest.raises(errors.Conflict):
        links.ensure_bridge(veth, lab.gateway)
    with pytest.raises(errors.Conflict):
        links.delete_bridge(veth)
    bridge = lab.bridge()
    with pytest.raises(errors.Conflict):
        links.detach(bridge)
    assert links.bridge_exists(bridge)


# -- endpoints -------------------------------------------------------------------


def test_two_namespaces_on_a_bridge_talk(lab):
    bridge = lab.bridge()
    a, b = lab.namespace("a"), lab.namespace("b")
    mac_a = links.attach(bridge, a, lab.veth(1), "eth0", lab.address(2), lab.gateway.ip)
    mac_b = links.attach(bridge, b, lab.veth(2), "eth0", lab.address(3), lab.gateway.ip, mac="02:42:AA:BB:CC:DD")

    assert mac_a == "02:42:0a:fe:%02x:02" % lab.subnet.network_address.packed[2]
    assert mac_b == "02:42:aa:bb:cc:dd"
    assert f"link/ether {mac_a} " in _ip("-o", "link", "show", "eth0", netns_path=a)
    assert str(lab.address(2)) in _ip("-o", "-4", "addr", "show", "dev", "eth0", netns_path=a)
    default = _ip("route", "show", "default", netns_path=a).split()
    assert default == ["default", "via", str(lab.gateway.ip), "dev", "eth0"]
    assert "UP" in _ip("-o", "link", "show", "eth0", netns_path=a).split(">")[0]

    host_end = lab.veths[0]
    assert os.path.basename(os.readlink(f"/sys/class/net/{host_end}/master")) == bridge
    with open(f"/sys/class/net/{host_end}/brport/hairpin_mode") as f:
        assert f.read().strip() == "1"

    server = netns.run_in(b, socket.create_server, (str(lab.address(3).ip), 0))
    try:
        port = server.getsockname()[1]
        client = netns.run_in(a, socket.create_connection, (str(lab.address(3).ip), port), 5)
        with client:
            conn, peer = server.accept()
            with conn:
                assert peer[0] == str(lab.address(2).ip)
                client.sendall(b"ping")
                assert conn.recv(4) == b"ping"
        # and the gateway answers too (the host, through the bridge)
        gateway_side = socket.create_server((str(lab.gateway.ip), 0))
        with gateway_side:
            netns.run_in(a, socket.create_connection, (str(lab.gateway.ip), gateway_side.getsockname()[1]), 5).close()
    finally:
        server.close()


def test_without_a_gateway_there_is_no_default_route(lab):
    bridge = lab.bridge()
    a = lab.namespace("a")
    links.attach(bridge, a, lab.veth(1), "eth1", lab.address(2), None, hairpin=False)
    assert _ip("route", "show", "default", netns_path=a) == ""
    assert str(lab.subnet) in _ip("route", netns_path=a)
    with open(f"/sys/class/net/{lab.veths[0]}/brport/hairpin_mode") as f:
        assert f.read().strip() == "0"

    links.set_default_route(a, "eth1", lab.gateway.ip)
    assert str(lab.gateway.ip) in _ip("route", "show", "default", netns_path=a)
    links.set_default_route(a, "eth1", None)
    assert _ip("route", "show", "default", netns_path=a) == ""


def test_a_failed_attach_leaves_nothing(lab):
    bridge = lab.bridge()
    a = lab.namespace("a")

    # half-way: the pair exists, then the route cannot be set
    with pytest.raises(errors.InvalidArgument):
        links.attach(bridge, a, lab.veth(1), "eth0", lab.address(2), ipaddress.IPv4Address("192.0.2.254"))
    assert lab.veths[0] not in _ip("-o", "link")
    assert "eth0" not in _ip("-o", "link", netns_path=a)

    with pytest.raises(errors.NotFound):
        links.attach(f"dyt{lab.tag}no", a, lab.veth(2), "eth0", lab.address(2), None)
    with pytest.raises(errors.NotFound):
        links.attach(bridge, os.path.join(lab.dir, "missing"), lab.veth(3), "eth0", lab.address(2), None)

    taken = lab.veth(4)
    links.attach(bridge, a, taken, "eth0", lab.address(2), None)
    with pytest.raises(errors.Conflict, match="eth0"):  # the name inside is taken
        links.attach(bridge, a, lab.veth(5), "eth0", lab.address(3), None)
    with pytest.raises(errors.Conflict, match=taken):  # the host end's name is taken
        links.attach(bridge, lab.namespace("b"), taken, "eth0", lab.address(3), None)
    assert [v for v in lab.veths if os.path.exists(f"/sys/class/net/{v}")] == [taken]

    with pytest.raises(errors.InvalidArgument):
        links.attach(bridge, a, "x" * 16, "eth1", lab.address(4), None)


def test_detach_by_either_end(lab):
    bridge = lab.bridge()
    a, b = lab.namespace("a"), lab.namespace("b")
    links.attach(bridge, a, lab.veth(1), "eth0", lab.address(2), lab.gateway.ip)
    links.attach(bridge, b, lab.veth(2), "eth0", lab.address(3), lab.gateway.ip)
    links.attach(bridge, b, lab.veth(3), "eth1", lab.address(4), None)

    links.detach(lab.veths[0])
    assert lab.veths[0] not in _ip("-o", "link")
    assert "eth0" not in _ip("-o", "link", netns_path=a)
    links.detach(lab.veths[0])  # idempotent

    links.detach_in_netns(b, "eth1")
    assert lab.veths[2] not in _ip("-o", "link")
    assert "eth0" in _ip("-o", "link", netns_path=b)
    links.detach_in_netns(b, "eth1")
    links.detach_in_netns(os.path.join(lab.dir, "missing"), "eth0")

    netns.delete(b)  # the namespace going takes its endpoints with it
    deadline = time.monotonic() + 5
    while lab.veths[1] in _ip("-o", "link"):
        assert time.monotonic() < deadline
        time.sleep(0.02)


# -- the host --------------------------------------------------------------------


def test_host_networks_include_addresses_and_routes(lab):
    bridge = lab.bridge()
    found = links.host_networks()
    assert lab.subnet in found and ipaddress.IPv4Network("127.0.0.0/8") in found
    assert found == sorted(set(found))
    assert ipaddress.IPv4Network("0.0.0.0/0") not in found
    assert lab.subnet not in links.host_networks(exclude=[bridge])

    # a route through the bridge, to a network no address is in
    routed = ipaddress.IPv4Network(f"10.254.{(lab.subnet.network_address.packed[2] + 1) % 255}.128/25")
    _ip("route", "add", str(routed), "via", str(lab.gateway.ip), "dev", bridge)
    assert routed in links.host_networks()


def test_links_are_usable_from_an_event_loop_thread(lab):
    bridge = lab.bridge()

    async def main():
        return links.bridge_exists(bridge), links.host_networks()

    exists, found = asyncio.run(main())
    assert exists and lab.subnet in found


def test_docker_mac_scheme():
    assert links.mac_for(ipaddress.IPv4Address("172.17.0.2")) == "02:42:ac:11:00:02"


def _addresses(dev: str) -> list[str]:
    return [line.split()[3] for line in _ip("-o", "-4", "addr", "show", "dev", dev).splitlines()]
