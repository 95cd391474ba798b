"""Networking with real containers: user-defined networks with names, isolation,
egress through NAT, every -p form reached from the host, hairpin, connect and
disconnect on a running container, the files a container sees, bad input, and a
clean host afterwards."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time

import pytest

SRV = "mkdir -p /www{port} && echo {reply} > /www{port}/index.html && httpd -f -p {port} -h /www{port}"


def out(r) -> str:
    return r.stdout.decode().strip()


def ok(r) -> str:
    assert r.returncode == 0, (r.stdout + r.stderr).decode()
    return out(r)


def host_ip() -> str:
    text = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True,
                          text=True).stdout
    addrs = re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", text)
    return next(a for a in addrs if not a.startswith(("10.21", "172.17.")))


def http_get(host: str, port: int, timeout: float = 5.0) -> str:
    deadline = time.time() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                s.sendall(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            return data.split(b"\r\n\r\n", 1)[-1].decode().strip()
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def wait_http(dy, net: str, target: str, timeout: float = 5.0) -> str:
    r = dy("run", "--rm", "--network", net, "busybox", "sh", "-c",
           f"for i in $(seq 50); do timeout 2 wget -qO- http://{target}/ && exit 0; sleep 0.1; done; exit 1")
    return out(r)


@pytest.fixture
def net(dy):
    made: list[str] = []
    containers: list[str] = []

    def create(name: str, *args: str) -> str:
        ok(dy("network", "create", *args, name))
        made.append(name)
        return name

    create.containers = containers  # type: ignore[attr-defined]
    yield create
    for c in containers:
        dy("rm", "-f", c)
    if made:
        dy("network", "rm", *made)


def links_snapshot() -> set[str]:
    text = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in text.splitlines()}


# ---------------------------------------------------------------------------


def test_guide_example_names_aliases_and_isolation(dy, net):
    net("dyt-app-network")
    net("dyt-other")
    net.containers += ["dyt-database"]
    ok(dy("run", "-d", "--name", "dyt-database", "--network", "dyt-app-network", "--network-alias", "db",
          "busybox", "sh", "-c", SRV.format(reply="pong", port=80)))
    cid = ok(dy("inspect", "-f", "{{.Id}}", "dyt-database"))
    assert wait_http(dy, "dyt-app-network", "dyt-database") == "pong"
    assert wait_http(dy, "dyt-app-network", "db") == "pong"
    assert wait_http(dy, "dyt-app-network", cid[:12]) == "pong"
    ip = ok(dy("inspect", "-f", '{{(index .NetworkSettings.Networks "dyt-app-network").IPAddress}}', "dyt-database"))
    # Another network reaches neither the name nor the address.
    r = dy("run", "--rm", "--network", "dyt-other", "busybox", "sh", "-c",
           f"timeout 2 wget -qO- http://{ip}/; echo rc=$?; nslookup dyt-database 127.0.0.11 >/dev/null 2>&1; echo ns=$?")
    assert "pong" not in out(r) and "ns=1" in out(r), out(r)
    assert ok(dy("ps", "--filter", "network=dyt-app-network", "--format", "{{.Names}}")) == "dyt-database"
    doc = json.loads(ok(dy("network", "inspect", "dyt-app-network")))[0]
    assert doc["Containers"][cid]["Name"] == "dyt-database"
    assert doc["Containers"][cid]["IPv4Address"] == f"{ip}/24"
    r = dy("network", "rm", "dyt-app-network")
    assert r.returncode != 0 and b"has active endpoints" in r.stderr
    from dockyard.services.networks import host_ifname

    veth = host_ifname(cid, doc["Id"])
    assert veth in links_snapshot()
    dy("rm", "-f", "dyt-database")
    deadline = time.time() + 5  # the veth goes with the namespace, which the kernel cleans up soon after
    while veth in links_snapshot() and time.time() < deadline:
        time.sleep(0.05)
    assert veth not in links_snapshot()


def test_files_a_container_sees(dy, net):
    net("dyt-files")
    hosts = ok(dy("run", "--rm", "--network", "dyt-files", "--hostname", "web", "--add-host", "extra:10.1.2.3",
                  "--add-host", "gw:host-gateway", "busybox", "cat", "/etc/hosts"))
    lines = [line.split() for line in hosts.splitlines()]
    assert ["10.1.2.3", "extra"] in lines
    assert any(parts[1:] == ["web"] and parts[0].startswith("10.") for parts in lines), hosts
    gw = next(parts[0] for parts in lines if parts[1:] == ["gw"])
    bridge_gw = json.loads(ok(dy("network", "inspect", "bridge")))[0]["IPAM"]["Config"][0]["Gateway"]
    assert gw == bridge_gw
    resolv = ok(dy("run", "--rm", "--network", "dyt-files", "busybox", "cat", "/etc/resolv.conf"))
    assert "nameserver 127.0.0.11" in resolv and "ndots:0" in resolv
    default = ok(dy("run", "--rm", "--dns", "192.0.2.53", "--dns-search", "example.test", "busybox",
                    "cat", "/etc/resolv.conf"))
    assert "nameserver 192.0.2.53" in default and "search example.test" in default
    assert "127.0.0.11" not in default


def test_default_bridge_has_no_names_but_links_work(dy, net):
    net.containers += ["dyt-linked", "dyt-plain"]
    ok(dy("run", "-d", "--name", "dyt-linked", "busybox", "sh", "-c", SRV.format(reply="linked", port=80)))
    ip = ok(dy("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "dyt-linked"))
    assert ip.startswith("10.")
    r = dy("run", "--rm", "busybox", "sh", "-c", "nslookup dyt-linked >/dev/null 2>&1 && echo found || echo none")
    assert out(r) == "none"
    r = dy("run", "--rm", "--link", "dyt-linked:web", "busybox", "sh", "-c",
           "for i in $(seq 50); do timeout 2 wget -qO- http://web/ && exit 0; sleep 0.1; done")
    assert out(r) == "linked"


def test_egress_and_internal_networks(dy, net):
    r = dy("run", "--rm", "busybox", "sh", "-c",
           "timeout 10 wget -qO- http://deb.debian.org/debian/dists/bookworm/Release | head -1")
    assert out(r) == "Origin: Debian", r.stderr
    net("dyt-internal", "--internal")
    r = dy("run", "--rm", "--network", "dyt-internal", "busybox", "sh", "-c",
           "timeout 3 wget -qO- http://deb.debian.org/debian/dists/bookworm/Release >/dev/null 2>&1; echo rc=$?")
    assert out(r) != "rc=0"


def test_every_publish_form_from_the_host(dy, net):
    net.containers += ["dyt-pub", "dyt-pub-all", "dyt-udp"]
    ok(dy("run", "-d", "--name", "dyt-pub", "-p", "127.0.0.1:18180:80", "-p", "18181:80", "-p", "8080",
          "-p", "18190-18191:8090-8091", "busybox", "sh", "-c",
          SRV.format(reply="p80", port=80) + " & " + SRV.format(reply="p8080", port=8080) + " & "
          + SRV.format(reply="p8090", port=8090) + " & " + SRV.format(reply="p8091", port=8091) + "; wait"))
    assert http_get("127.0.0.1", 18180) == "p80"
    assert http_get(host_ip(), 18181) == "p80"
    assert http_get("127.0.0.1", 18181) == "p80"
    with pytest.raises(OSError):
        http_get(host_ip(), 18180, timeout=1)  # bound to 127.0.0.1 only
    random_port = int(ok(dy("port", "dyt-pub", "8080")).splitlines()[0].rsplit(":", 1)[1])
    assert http_get("127.0.0.1", random_port) == "p8080"
    assert http_get("127.0.0.1", 18190) == "p8090" and http_get("127.0.0.1", 18191) == "p8091"
    ports = ok(dy("port", "dyt-pub"))
    assert "80/tcp -> 127.0.0.1:18180" in ports and "80/tcp -> 0.0.0.0:18181" in ports
    listing = ok(dy("ps", "--filter", "name=dyt-pub", "--format", "{{.Ports}}"))
    assert "127.0.0.1:18180->80/tcp" in listing
    assert ok(dy("ps", "--filter", "publish=18181", "--format", "{{.Names}}")) == "dyt-pub"
    inspect = json.loads(ok(dy("inspect", "dyt-pub")))[0]["NetworkSettings"]["Ports"]
    assert {"HostIp": "127.0.0.1", "HostPort": "18180"} in inspect["80/tcp"]
    # Hairpin: another container reaches the published port through the host's address.
    r = dy("run", "--rm", "busybox", "timeout", "5", "wget", "-qO-", f"http://{host_ip()}:18181/")
    assert out(r) == "p80"
    # -P publishes every exposed port.
    ok(dy("run", "-d", "--name", "dyt-pub-all", "--expose", "80", "-P", "busybox", "sh", "-c",
          SRV.format(reply="all", port=80)))
    port_all = int(ok(dy("port", "dyt-pub-all", "80")).splitlines()[0].rsplit(":", 1)[1])
    assert http_get("127.0.0.1", port_all) == "all"
    # UDP.
    # busybox has no UDP server: the host's python, chrooted into from the container's namespaces.
    echo = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 5353))\n"
            "while True:\n d, a = s.recvfrom(100); s.sendto(d, a)")
    ok(dy("run", "-d", "--name", "dyt-udp", "-p", "18185:5353/udp", "-v", "/:/host:ro", "busybox",
          "chroot", "/host", "python3", "-c", echo))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        for _ in range(20):
            s.sendto(b"echo-udp\n", ("127.0.0.1", 18185))
            try:
                assert s.recvfrom(100)[0] == b"echo-udp\n"
                break
            except socket.timeout:
                continue
        else:
            pytest.fail("no UDP echo through the published port")


def test_port_conflicts_are_refused(dy, net):
    net.containers += ["dyt-holder", "dyt-second"]
    ok(dy("run", "-d", "--name", "dyt-holder", "-p", "18182:80", "busybox", "sleep", "60"))
    r = dy("run", "-d", "--name", "dyt-second", "-p", "18182:80", "busybox", "sleep", "60")
    assert r.returncode != 0 and b"port is already allocated" in r.stderr
    listener = socket.socket()
    listener.bind(("0.0.0.0", 18183))
    listener.listen()
    try:
        dy("rm", "-f", "dyt-second")
        r = dy("run", "-d", "--name", "dyt-second", "-p", "18183:80", "busybox", "sleep", "60")
        assert r.returncode != 0 and b"18183" in r.stderr
    finally:
        listener.close()
    assert ok(dy("inspect", "-f", "{{.State.Running}}", "dyt-second")) == "false"


def test_connect_and_disconnect_a_running_container(dy, net):
    net("dyt-conn")
    net("dyt-home")
    net.containers += ["dyt-server", "dyt-roamer"]
    ok(dy("run", "-d", "--name", "dyt-server", "--network", "dyt-conn", "busybox", "sh", "-c",
          SRV.format(reply="reached", port=80)))
    ok(dy("run", "-d", "--name", "dyt-roamer", "--network", "dyt-home", "busybox", "sleep", "300"))
    r = dy("exec", "dyt-roamer", "sh", "-c", "timeout 2 wget -qO- http://dyt-server/ >/dev/null 2>&1; echo rc=$?")
    assert out(r) != "rc=0"
    ok(dy("network", "connect", "--alias", "roamer-alias", "dyt-conn", "dyt-roamer"))
    r = dy("exec", "dyt-roamer", "sh", "-c",
           "for i in $(seq 50); do timeout 2 wget -qO- http://dyt-server/ && exit 0; sleep 0.1; done; exit 1")
    assert out(r) == "reached"
    assert ok(dy("run", "--rm", "--network", "dyt-conn", "busybox", "sh", "-c",
                 "nslookup roamer-alias 127.0.0.11 >/dev/null && echo yes"))  == "yes"
    r = dy("network", "connect", "dyt-conn", "dyt-roamer")
    assert r.returncode != 0 and b"already exists in network" in r.stderr
    ok(dy("network", "disconnect", "dyt-conn", "dyt-roamer"))
    r = dy("exec", "dyt-roamer", "sh", "-c", "timeout 2 wget -qO- http://dyt-server/ >/dev/null 2>&1; echo rc=$?")
    assert out(r) != "rc=0"
    assert "dyt-conn" not in ok(dy("inspect", "-f", "{{json .NetworkSettings.Networks}}", "dyt-roamer"))
    # Connected again after a disconnect: a free interface name, not the taken one.
    ok(dy("network", "connect", "dyt-conn", "dyt-roamer"))
    r = dy("exec", "dyt-roamer", "sh", "-c",
           "for i in $(seq 50); do timeout 2 wget -qO- http://dyt-server/ && exit 0; sleep 0.1; done; exit 1")
    assert out(r) == "reached"


def test_static_ip_and_bad_input(dy, net):
    net("dyt-static", "--subnet", "10.250.7.0/24", "--gateway", "10.250.7.254", "--ip-range", "10.250.7.128/25")
    net.containers += ["dyt-fixed"]
    ok(dy("run", "-d", "--name", "dyt-fixed", "--network", "dyt-static", "--ip", "10.250.7.9", "busybox", "sleep", "60"))
    assert ok(dy("inspect", "-f", '{{(index .NetworkSettings.Networks "dyt-static").IPAddress}}', "dyt-fixed")) == "10.250.7.9"
    auto = ok(dy("run", "--rm", "--network", "dyt-static", "busybox", "sh", "-c",
                 "ip -4 -o addr show eth0 | awk '{print $4}'; ip route | head -1"))
    address, route = auto.splitlines()
    assert address.startswith("10.250.7.") and int(address.split(".")[3].split("/")[0]) >= 128
    assert route.startswith("default via 10.250.7.254")
    errors_wanted = [
        (("network", "create", "--subnet", "10.250.7.0/25", "dyt-overlap"), b"overlaps"),
        (("network", "create", "--subnet", "10.250.8.0/24", "--gateway", "10.250.9.1", "dyt-badgw"), b"gateway"),
        (("network", "create", "dyt-static"), b"already exists"),
        (("run", "--rm", "--network", "dyt-static", "--ip", "10.99.0.5", "busybox", "true"), b"10.99.0.5"),
        (("run", "--rm", "--network", "dyt-static", "--ip", "10.250.7.9", "busybox", "true"), b"in use"),
        (("run", "--rm", "--ip", "10.250.7.10", "busybox", "true"), b"user defined networks"),
        (("run", "--rm", "--network", "dyt-nosuch", "busybox", "true"), b"not found"),
    ]
    for args, needle in errors_wanted:
        r = dy(*args)
        assert r.returncode != 0 and needle in r.stderr, (args, r.stderr)
    names = ok(dy("network", "ls", "--format", "{{.Name}}")).split()
    assert "dyt-overlap" not in names and "dyt-badgw" not in names
    assert {"bridge", "host", "none"} <= set(names)
    r = dy("network", "rm", "bridge")
    assert r.returncode != 0 and b"pre-defined" in r.stderr


def test_container_network_mode_and_host_and_none(dy, net):
    net.containers += ["dyt-base"]
    ok(dy("run", "-d", "--name", "dyt-base", "busybox", "sh", "-c", SRV.format(reply="shared", port=8088)))
    r = dy("run", "--rm", "--network", "container:dyt-base", "busybox", "sh", "-c",
           "for i in $(seq 50); do timeout 2 wget -qO- http://127.0.0.1:8088/ && exit 0; sleep 0.1; done")
    assert out(r) == "shared"
    assert ok(dy("run", "--rm", "--network", "none", "busybox", "sh", "-c", "ls /sys/class/net | sort | tr '\\n' ' '")) == "lo"
    assert "eth0" in ok(dy("run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net"))


def test_published_ports_survive_a_daemon_restart(own_daemon):
    d = own_daemon
    assert d.cli("run", "-d", "--name", "dyt-survivor", "-p", "18184:80", "busybox", "sh", "-c",
                 SRV.format(reply="survived", port=80)).returncode == 0
    try:
        assert http_get("127.0.0.1", 18184) == "survived"
        d.stop()
        d.start()
        assert http_get("127.0.0.1", 18184) == "survived"
        r = d.cli("run", "-d", "--name", "dyt-thief", "-p", "18184:80", "busybox", "true")
        assert r.returncode != 0 and b"already allocated" in r.stderr
    finally:
        d.cli("rm", "-f", "dyt-survivor", "dyt-thief")
