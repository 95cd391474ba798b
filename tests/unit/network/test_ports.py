"""Published ports: planning (pure), allocating and holding (real sockets), the API shapes."""

from __future__ import annotations

import errno
import random
import socket

import pytest

from dockyard.errors import Conflict, InvalidArgument
from dockyard.network.ports import (
    DOCKER_FALLBACK_RANGE, PortAllocator, PortBinding, PortRequest, local_port_range,
    parse_port_key, plan_bindings, reserved_ports, to_api, to_summary,
)

# -- plan_bindings ------------------------------------------------------------------------


@pytest.mark.parametrize("key, parsed", [
    ("80/tcp", (80, "tcp")), ("80", (80, "tcp")), ("53/UDP", (53, "udp")), ("9/sctp", (9, "sctp")),
    ("65535/tcp", (65535, "tcp")),
])
def test_port_keys(key, parsed):
    assert parse_port_key(key) == parsed


@pytest.mark.parametrize("key", ["", "/tcp", "0/tcp", "65536", "abc", "8000-8002/tcp", "80/foo", "-80", " 80"])
def test_bad_port_keys(key):
    with pytest.raises(InvalidArgument) as e:
        parse_port_key(key)
    assert e.value.message == f'invalid port specification: "{key}"'


def test_a_fixed_port_on_every_address():
    assert plan_bindings({"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}, {}, False) == [
        PortRequest("tcp", 80, "0.0.0.0", 8080, 8080)]


@pytest.mark.parametrize("binding", [{"HostIp": "", "HostPort": ""}, {"HostPort": "0"}, {}, None])
def test_random_ports(binding):
    assert plan_bindings({"80/tcp": [binding]}, {}, False) == [PortRequest("tcp", 80, "0.0.0.0", 0, 0)]


def test_a_host_port_range_means_the_first_free_port_in_it():
    assert plan_bindings({"80": [{"HostIp": "127.0.0.1", "HostPort": "8000-8002"}]}, {}, False) == [
        PortRequest("tcp", 80, "127.0.0.1", 8000, 8002)]


def test_bindings_are_ordered_by_container_port_then_as_given():
    requests = plan_bindings({
        "443/tcp": [{"HostPort": "8443"}],
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}, {"HostIp": "0.0.0.0", "HostPort": "18081"}],
        "53/udp": [{"HostPort": 53}],            # docker-py may send a number
    }, {}, False)
    assert requests == [
        PortRequest("udp", 53, "0.0.0.0", 53, 53),
        PortRequest("tcp", 80, "127.0.0.1", 8080, 8080),
        PortRequest("tcp", 80, "0.0.0.0", 18081, 18081),
        PortRequest("tcp", 443, "0.0.0.0", 8443, 8443),
    ]


def test_publish_all_gives_every_exposed_port_without_a_binding_a_random_port():
    exposed = {"80/tcp": {}, "53/udp": {}, "8080": {}}
    bindings = {"80/tcp": [{"HostPort": "9000"}], "8080/tcp": None}
    assert plan_bindings(bindings, exposed, True) == [
        PortRequest("udp", 53, "0.0.0.0", 0, 0),
        PortRequest("tcp", 80, "0.0.0.0", 9000, 9000),
        PortRequest("tcp", 8080, "0.0.0.0", 0, 0),
    ]
    assert plan_bindings(bindings, exposed, False) == [PortRequest("tcp", 80, "0.0.0.0", 9000, 9000)]
    assert plan_bindings(None, ["443/tcp"], True) == [PortRequest("tcp", 443, "0.0.0.0", 0, 0)]
    assert plan_bindings({}, {}, True) == []


@pytest.mark.parametrize("host_port", ["abc", "8002-8000", "70000", "0-10", "-1", "80-", "1-2-3", " 80"])
def test_bad_host_ports(host_port):
    with pytest.raises(InvalidArgument) as e:
        plan_bindings({"80/tcp": [{"HostPort": host_port}]}, {}, False)
    assert e.value.message == f'invalid port specification: "{host_port}"'


@pytest.mark.parametrize("bindings, exposed, message", [
    ({"80/tcp": [{"HostIp": "nope"}]}, {}, "invalid IP address: nope"),
    ({"80/tcp": [{"HostIp": "::1"}]}, {}, "cannot publish on ::1: dockyard publishes ports on IPv4 addresses only"),
    ({"9/sctp": [{}]}, {}, "cannot publish 9/sctp: only tcp and udp ports can be published"),
    ({}, {"9/sctp": {}}, "cannot publish 9/sctp: only tcp and udp ports can be published"),
    ({"x/tcp": [{}]}, {}, 'invalid port specification: "x/tcp"'),
    ({}, {"x": {}}, 'invalid port specification: "x"'),
])
def test_bad_plans(bindings, exposed, message):
    with pytest.raises(InvalidArgument) as e:
        plan_bindings(bindings, exposed, True)
    assert e.value.message == message


def test_exposed_sctp_without_publish_all_is_fine():
    assert plan_bindings({}, {"9/sctp": {}}, False) == []


# -- values ----------------------------------------------------------------------------------


def test_a_binding_round_trips_through_json():
    b = PortBinding("udp", "127.0.0.1", 5353, 53)
    assert PortBinding.from_json(b.to_json()) == b
    assert b.to_json() == {"proto": "udp", "host_ip": "127.0.0.1", "host_port": 5353, "container_port": 53}
    assert str(b) == "127.0.0.1:5353->53/udp" and b.key == "53/udp"
    assert PortBinding("tcp", "", 8080, 80).host_ip == "0.0.0.0"


@pytest.mark.parametrize("args", [("sctp", "0.0.0.0", 1, 1), ("tcp", "0.0.0.0", 0, 1), ("tcp", "0.0.0.0", 1, 65536),
                                  ("tcp", "::", 1, 1), ("tcp", "0.0.0.0", True, 1), ("tcp", "0.0.0.0", "80", 1)])
def test_bad_bindings(args):
    with pytest.raises(InvalidArgument):
        PortBinding(*args)


def test_bad_requests():
    with pytest.raises(InvalidArgument, match="invalid port range: 90-80"):
        PortRequest("tcp", 80, "0.0.0.0", 90, 80)


# -- the API shapes ------------------------------------------------------------------------------

B = PortBinding


def test_network_settings_ports():
    bindings = [B("tcp", "127.0.0.1", 18080, 80), B("tcp", "0.0.0.0", 18081, 80), B("udp", "0.0.0.0", 5353, 53)]
    assert to_api(bindings, {"80/tcp": {}, "443/tcp": {}, "53/udp": {}}) == {
        "443/tcp": None,
        "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "5353"}],
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}, {"HostIp": "0.0.0.0", "HostPort": "18081"}],
    }
    assert list(to_api(bindings, ["8080", "443/tcp"])) == ["443/tcp", "53/udp", "80/tcp", "8080/tcp"]  # Go's order
    assert to_api([], None) == {}


def test_container_list_ports():
    bindings = [B("tcp", "0.0.0.0", 18081, 80)]
    assert to_summary(bindings, {"80/tcp": {}, "443/tcp": {}}) == [
        {"PrivatePort": 443, "Type": "tcp"},
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 18081, "Type": "tcp"},
    ]


@pytest.mark.parametrize("bindings, exposed, shown", [
    ([], {}, ""),
    ([B("tcp", "0.0.0.0", 18081, 80), B("tcp", "127.0.0.1", 18080, 80)], {}, "0.0.0.0:18081->80/tcp, 127.0.0.1:18080->80/tcp"),
    ([B("tcp", "0.0.0.0", p, p) for p in (8000, 8001, 8002)], {}, "0.0.0.0:8000-8002->8000-8002/tcp"),
    # docker's quirk: a broken run is written at once, the runs still open at the end
    ([], {"80/tcp": {}, "81/tcp": {}, "443/tcp": {}, "53/udp": {}}, "80-81/tcp, 53/udp, 443/tcp"),
    ([B("tcp", "0.0.0.0", 8080, 80)], {"443/tcp": {}}, "443/tcp, 0.0.0.0:8080->80/tcp"),
    ([B("tcp", "0.0.0.0", p, p) for p in (8000, 8001, 8003)] + [B("udp", "0.0.0.0", 8000, 8000)], {},
     "0.0.0.0:8000-8001->8000-8001/tcp, 0.0.0.0:8003->8003/tcp, 0.0.0.0:8000->8000/udp"),
    ([B("tcp", "10.0.0.1", 80, 80), B("tcp", "9.0.0.1", 80, 80)], {},      # addresses compare as numbers
     "9.0.0.1:80->80/tcp, 10.0.0.1:80->80/tcp"),
])
def test_ps_ports_column(bindings, exposed, shown):
    from dockyard.cli.containers import display_ports

    assert display_ports(to_summary(bindings, exposed)) == shown


# -- the allocator: real sockets --------------------------------------------------------------------------


def _bind(proto: str, ip: str, port: int, reuse: bool = True) -> socket.socket:
    """What a host process would do (with SO_REUSEADDR, as servers do)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    if reuse:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((ip, port))
    except BaseException:
        s.close()
        raise
    return s


def _bindable(proto: str, ip: str, port: int) -> bool:
    try:
        _bind(proto, ip, port).close()
        return True
    except OSError as e:
        assert e.errno == errno.EADDRINUSE
        return False


@pytest.fixture
def free():
    """The first of 8 consecutive ports, outside the kernel's ephemeral range, free for tcp and udp."""
    for _ in range(50):
        first = random.randrange(61000, 65000)
        if all(_bindable(proto, "0.0.0.0", p) for p in range(first, first + 8) for proto in ("tcp", "udp")):
            return first
    pytest.skip("no free block of ports")


@pytest.fixture
def allocator(free):
    a = PortAllocator(port_range=(free, free + 2), reserved=())
    owners = ["a", "b", "c"]
    yield a
    for owner in owners:
        a.release(owner)


@pytest.mark.parametrize("ip", ["127.0.0.1", "0.0.0.0"])
@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_an_allocated_port_is_held_until_released(allocator, free, proto, ip):
    [b] = allocator.allocate("a", [PortRequest(proto, 80, ip, free, free)])
    assert b == PortBinding(proto, ip, free, 80)
    assert allocator.bindings("a") == [b]
    for other in ("127.0.0.1", "0.0.0.0"):
        assert not _bindable(proto, other, free), f"a host process could bind {other}:{free}/{proto}"
    allocator.release("a")
    assert allocator.bindings("a") == []
    assert _bindable(proto, ip, free)
    allocator.release("a")   # again: nothing to do


def test_a_held_tcp_port_does_not_listen(allocator, free):
    allocator.allocate("a", [PortRequest("tcp", 80, "127.0.0.1", free, free)])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", free), timeout=2)


def test_a_held_udp_port_keeps_nothing_it_receives(allocator, free):
    allocator.allocate("a", [PortRequest("udp", 53, "127.0.0.1", free, free)])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(5):
            s.sendto(b"x" * 100, ("127.0.0.1", free))
    with open("/proc/net/udp") as f:
        rows = [line.split() for line in f.read().splitlines()[1:]]
    [row] = [r for r in rows if r[1] == f"0100007F:{free:04X}"]
    tx_queue, rx_queue = row[4].split(":")
    assert int(rx_queue, 16) == 0


def test_dockyard_refuses_a_port_it_already_gave(allocator, free):
    allocator.allocate("a", [PortRequest("tcp", 80, "0.0.0.0", free, free)])
    with pytest.raises(Conflict) as e:
        allocator.allocate("b", [PortRequest("tcp", 80, "127.0.0.1", free, free)])
    assert e.value.message == f"Bind for 0.0.0.0:{free} failed: port is already allocated"
    allocator.allocate("b", [PortRequest("udp", 80, "127.0.0.1", free, free)])    # other protocol: fine


def test_every_address_overlaps_a_specific_one(allocator, free):
    allocator.allocate("a", [PortRequest("tcp", 80, "127.0.0.1", free, free)])
    with pytest.raises(Conflict) as e:
        allocator.allocate("b", [PortRequest("tcp", 80, "0.0.0.0", free, free)])
    assert e.value.message == f"Bind for 127.0.0.1:{free} failed: port is already allocated"
    # two specific addresses do not overlap (127.0.0.2 is local too: lo has 127.0.0.0/8)
    allocator.allocate("b", [PortRequest("tcp", 80, "127.0.0.2", free, free)])
    assert not _bindable("tcp", "127.0.0.2", free)


def test_one_owner_cannot_take_a_port_twice(allocator, free):
    request = PortRequest("tcp", 80, "0.0.0.0", free, free)
    with pytest.raises(Conflict, match="port is already allocated"):
        allocator.allocate("a", [request, request])


@pytest.mark.parametrize("ip", ["127.0.0.1", "0.0.0.0"])
def test_a_port_a_host_process_has_is_refused(allocator, free, ip):
    with _bind("tcp", "127.0.0.1", free) as holder:
        holder.listen()
        with pytest.raises(Conflict) as e:
            allocator.allocate("a", [PortRequest("tcp", 80, ip, free, free)])
        assert e.value.message == f"failed to bind host port {ip}:{free}/tcp: address already in use"
    assert allocator.bindings("a") == []


def test_a_host_process_with_a_bound_but_idle_socket_is_refused_too(allocator, free):
    with _bind("udp", "0.0.0.0", free, reuse=False):
        with pytest.raises(Conflict, match=f"failed to bind host port 127.0.0.1:{free}/udp: address already in use"):
            allocator.allocate("a", [PortRequest("udp", 53, "127.0.0.1", free, free)])


def test_an_address_that_is_not_the_hosts(allocator, free):
    with pytest.raises(InvalidArgument, match=f"failed to bind host port 203.0.113.7:{free}/tcp: "
                                              "cannot assign requested address"):
        allocator.allocate("a", [PortRequest("tcp", 80, "203.0.113.7", free, free)])


def test_all_or_nothing(allocator, free):
    with _bind("tcp", "0.0.0.0", free + 5):
        with pytest.raises(Conflict):
            allocator.allocate("a", [PortRequest("tcp", 80, "0.0.0.0", free + 4, free + 4),
                                     PortRequest("tcp", 81, "0.0.0.0", free + 5, free + 5)])
    assert allocator.bindings("a") == []
    assert _bindable("tcp", "0.0.0.0", free + 4)
    allocator.allocate("b", [PortRequest("tcp", 80, "0.0.0.0", free + 4, free + 4)])   # not left allocated


def test_random_ports_round_robin_through_the_range(allocator, free):
    first = allocator.allocate("a", [PortRequest("tcp", 80), PortRequest("tcp", 81)])
    assert [b.host_port for b in first] == [free, free + 1]
    allocator.release("a")
    # a released port is not handed out again at once
    assert [b.host_port for b in allocator.allocate("b", [PortRequest("tcp", 80)])] == [free + 2]
    assert [b.host_port for b in allocator.allocate("c", [PortRequest("tcp", 80), PortRequest("tcp", 81)])] == [
        free, free + 1]
    with pytest.raises(Conflict) as e:
        allocator.allocate("a", [PortRequest("tcp", 82)])
    assert e.value.message == f"Bind for 0.0.0.0:{free}-{free + 2} failed: all ports are allocated"


def test_random_ports_skip_what_host_processes_hold(allocator, free):
    with _bind("udp", "0.0.0.0", free), _bind("udp", "127.0.0.1", free + 1):
        [b] = allocator.allocate("a", [PortRequest("udp", 53, "127.0.0.1")])
    assert b.host_port == free + 2


def test_random_ports_skip_reserved_ones(free):
    a = PortAllocator(port_range=(free, free + 2), reserved=[free, free + 1])
    try:
        assert a.allocate("a", [PortRequest("tcp", 80)])[0].host_port == free + 2
        # a range the user asked for is honoured as it is, reserved or not (as docker does)
        assert a.allocate("a", [PortRequest("tcp", 81, "0.0.0.0", free, free + 1)])[0].host_port == free
    finally:
        a.release("a")


def test_a_host_port_range_gives_the_first_free_port(allocator, free):
    allocator.allocate("a", [PortRequest("tcp", 80, "0.0.0.0", free + 4, free + 4)])
    with _bind("tcp", "0.0.0.0", free + 5):
        [b] = allocator.allocate("b", [PortRequest("tcp", 80, "0.0.0.0", free + 4, free + 7)])
    assert b.host_port == free + 6


def test_restore_after_a_daemon_restart(free):
    before = PortAllocator(port_range=(free, free + 2), reserved=())
    bindings = before.allocate("a", [PortRequest("tcp", 80, "0.0.0.0", free, free),
                                     PortRequest("udp", 53, "127.0.0.1", free + 1, free + 1)])
    before.release("a")     # the daemon exits: its sockets close
    after = PortAllocator(port_range=(free, free + 2), reserved=())
    try:
        assert after.restore("a", bindings) == []
        assert after.restore("a", bindings) == []       # twice: nothing more
        assert after.bindings("a") == bindings
        assert not _bindable("tcp", "0.0.0.0", free) and not _bindable("udp", "127.0.0.1", free + 1)
        with pytest.raises(Conflict, match="port is already allocated"):
            after.allocate("b", [PortRequest("tcp", 80, "127.0.0.1", free, free)])
    finally:
        after.release("a")


def test_restore_when_a_host_process_took_a_port_meanwhile(free):
    binding = PortBinding("tcp", "0.0.0.0", free, 80)
    allocator = PortAllocator(port_range=(free, free + 2), reserved=())
    try:
        with _bind("tcp", "0.0.0.0", free):
            assert allocator.restore("a", [binding]) == [
                f"0.0.0.0:{free}->80/tcp: failed to bind host port 0.0.0.0:{free}/tcp: address already in use"]
        # still recorded: no other container gets it
        assert allocator.bindings("a") == [binding]
        with pytest.raises(Conflict, match="port is already allocated"):
            allocator.allocate("b", [PortRequest("tcp", 80, "0.0.0.0", free, free)])
        assert allocator.restore("b", [binding]) == [
            f"0.0.0.0:{free}->80/tcp: Bind for 0.0.0.0:{free} failed: port is already allocated"]
    finally:
        allocator.release("a")
        allocator.release("b")


def test_the_kernel_range_is_read(tmp_path):
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        expected = tuple(int(w) for w in f.read().split())
    assert local_port_range() == expected
    assert PortAllocator().port_range == expected
    assert local_port_range(str(tmp_path / "missing")) == DOCKER_FALLBACK_RANGE == (49153, 65535)


def test_reserved_ports_are_read(tmp_path):
    path = tmp_path / "reserved"
    path.write_text("8080,30000-30002\n")
    assert reserved_ports(str(path)) == {8080, 30000, 30001, 30002}
    path.write_text("\n")
    assert reserved_ports(str(path)) == frozenset()
    assert reserved_ports(str(tmp_path / "missing")) == frozenset()
