"""The embedded name server, served for real inside a network namespace.

Each test that needs one makes a namespace bind-mounted on a file under
tmp_path (``unshare --net=FILE``), with ``lo`` up, attaches the server to it
and asks from inside it, with client sockets made in the namespace.  The
upstream it forwards to is a fake DNS server on 127.0.0.1 in the host's
namespace.  The pure parts (answers, upstream lists) are tested first,
without any of that.
"""

from __future__ import annotations

import asyncio
import errno
import os
import random
import socket
import subprocess

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from dockyard import errors
from dockyard.network import netns
from dockyard.network.dns import ADDRESS, PORT, EmbeddedDNS
from dockyard.network.dns_answers import local_answer, read_query, to_wire
from dockyard.network.dns_upstreams import HostUpstreams, Upstream, from_resolv_conf
from dockyard.runtime import syscalls

A, AAAA, MX, PTR = dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.MX, dns.rdatatype.PTR

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
pytestmark = pytest.mark.timeout(60)


# -- the pure parts --------------------------------------------------------------


def query(name: str, qtype=A, **kwargs) -> dns.message.Message:
    return dns.message.from_wire(dns.message.make_query(name, qtype, **kwargs).to_wire())


def only_web(name: str, qtype: int) -> list[str] | None:
    if name != "web":
        return None
    return ["10.211.0.2"] if qtype == A else []


def test_internal_names_and_others():
    answer = local_answer(query("WEB."), only_web)
    assert answer.rcode() == dns.rcode.NOERROR and answer.flags & dns.flags.AA
    assert [(r.ttl, [x.address for x in r]) for r in answer.answer] == [(600, ["10.211.0.2"])]
    for qtype in (AAAA, MX, dns.rdatatype.TXT):
        empty = local_answer(query("web", qtype), only_web)
        assert empty.rcode() == dns.rcode.NOERROR and empty.answer == []
    assert local_answer(query("web.corp.example"), only_web) is None  # a search domain appended
    assert local_answer(query("example.org"), only_web) is None
    assert local_answer(query("web", A, rdclass=dns.rdataclass.CH), only_web) is None
    assert local_answer(query("."), only_web) is None


def test_malformed_queries_get_an_error_status():
    two = dns.message.make_query("web", A)
    two.question.append(dns.rrset.RRset(dns.name.from_text("db"), dns.rdataclass.IN, A))
    assert local_answer(read_query(two.to_wire()), only_web).rcode() == dns.rcode.FORMERR
    none = dns.message.Message()
    assert local_answer(read_query(none.to_wire()), only_web).rcode() == dns.rcode.FORMERR
    assert local_answer(query("web", use_edns=1), only_web).rcode() == dns.rcode.BADVERS
    notify = dns.message.make_query("web", A)
    notify.set_opcode(dns.opcode.NOTIFY)
    assert local_answer(read_query(notify.to_wire()), only_web).rcode() == dns.rcode.NOTIMP


def test_reverse_names():
    def names(address: str) -> list[str] | None:
        return ["web.backend"] if address == "10.211.0.2" else None

    answer = local_answer(query("2.0.211.10.in-addr.arpa", PTR), only_web, names)
    assert [x.target.to_text() for x in answer.answer[0]] == ["web.backend."]
    assert local_answer(query("3.0.211.10.in-addr.arpa", PTR), only_web, names) is None
    assert local_answer(query("211.10.in-addr.arpa", PTR), only_web, names) is None  # not one address
    assert local_answer(query("2.0.211.10.in-addr.arpa", PTR), only_web) is None  # no reverse callback


def test_read_query_refuses_anything_but_queries():
    rng = random.Random(5)
    valid = dns.message.make_query("web.example", A, use_edns=0).to_wire()
    packets = [b"", b"\x00", valid[:11], valid + b"junk", dns.message.make_response(query("web")).to_wire()]
    packets += [bytes(rng.getrandbits(8) for _ in range(rng.randrange(64))) for _ in range(500)]
    for _ in range(500):  # a valid query with a few bytes changed: deeper in the parser
        mutated = bytearray(valid)
        for _ in range(rng.randrange(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.getrandbits(8)
        packets.append(bytes(mutated))
    for packet in packets:
        try:
            read_query(packet)
        except errors.InvalidArgument:
            pass


def test_to_wire_truncates_for_udp_clients():
    many = [f"10.211.0.{i}" for i in range(1, 61)]

    def lots(name, qtype):
        return many if qtype == A else []

    plain = query("svc")
    small = dns.message.from_wire(to_wire(local_answer(plain, lots), plain, stream=False))
    assert small.flags & dns.flags.TC and len(small.answer[0] if small.answer else []) < 60
    full = dns.message.from_wire(to_wire(local_answer(plain, lots), plain, stream=True))
    assert not full.flags & dns.flags.TC and len(full.answer[0]) == 60
    edns = query("svc", use_edns=0, payload=4096)
    large = dns.message.from_wire(to_wire(local_answer(edns, lots), edns, stream=False))
    assert not large.flags & dns.flags.TC and len(large.answer[0]) == 60


def test_upstream_addresses():
    assert Upstream.parse("10.0.0.1") == Upstream("10.0.0.1", 53)
    assert Upstream.parse("127.0.0.1:5353") == Upstream("127.0.0.1", 5353)
    assert Upstream.parse("2001:db8::1") == Upstream("2001:db8::1", 53)
    assert Upstream.parse("[2001:db8::1]:5353") == Upstream("2001:db8::1", 5353)
    assert str(Upstream("2001:db8::1", 53)) == "[2001:db8::1]:53"
    for bad in ("dns.example", "10.0.0.1:x", "10.0.0.1:0", "[2001:db8::1", "[::1]x"):
        with pytest.raises(errors.InvalidArgument):
            Upstream.parse(bad)


def test_resolv_conf_prefers_outside_resolvers(tmp_path):
    text = "# nameserver 1.1.1.1\nnameserver 127.0.0.53\nnameserver 10.0.0.1\nnameserver bogus\nsearch corp.example\n"
    assert from_resolv_conf(text) == [Upstream("10.0.0.1")]
    assert from_resolv_conf("nameserver 127.0.0.53\n") == [Upstream("127.0.0.53")]  # reachable: we forward from the host
    assert len(from_resolv_conf("".join(f"nameserver 10.0.0.{i}\n" for i in range(1, 6)))) == 3

    path = tmp_path / "resolv.conf"
    path.write_text("nameserver 10.0.0.1\n")
    host = HostUpstreams(str(path))
    assert host() == [Upstream("10.0.0.1")]
    path.write_text("nameserver 10.0.0.2\nnameserver 10.0.0.3\n")
    assert host() == [Upstream("10.0.0.2"), Upstream("10.0.0.3")]
    path.unlink()
    assert host() == []


# -- a real namespace, a fake upstream -------------------------------------------


@pytest.fixture
def netns_path(tmp_path):
    path = tmp_path / "netns"
    path.touch()
    try:
        subprocess.run(["unshare", f"--net={path}", "true"], check=True)
        subprocess.run(["nsenter", f"--net={path}", "ip", "link", "set", "lo", "up"], check=True)
        yield str(path)
    finally:
        for _ in range(4):  # until nothing is mounted there
            try:
                syscalls.umount2(str(path), syscalls.MNT_DETACH)
            except OSError:
                break
        path.unlink(missing_ok=True)


class FakeUpstream:
    """A DNS server on 127.0.0.1, in the host's namespace, answering from `records`.

    Names it does not know are NXDOMAIN; answers too big for 512 bytes come
    back truncated over UDP, like a real server's.  `asked` records
    ``(protocol, name)`` for every query; `silent` makes it never answer.
    """

    def __init__(self, records: dict[str, list[str]], silent: bool = False):
        self.records = records
        self.silent = silent
        self.asked: list[tuple[str, str]] = []

    async def start(self) -> str:
        loop = asyncio.get_running_loop()
        for _ in range(20):  # the same port for UDP and TCP
            self._udp, _ = await loop.create_datagram_endpoint(lambda: _FakeDatagrams(self), local_addr=("127.0.0.1", 0))
            port = self._udp.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._serve, "127.0.0.1", port)
            except OSError:
                self._udp.close()
                continue
            return f"127.0.0.1:{port}"
        raise RuntimeError("no free port for the fake upstream")

    def close(self) -> None:
        self._udp.close()
        self._tcp.close()

    def answer(self, wire: bytes, protocol: str) -> bytes | None:
        q = dns.message.from_wire(wire)
        name = q.question[0].name.to_text(omit_final_dot=True)
        self.asked.append((protocol, name))
        if self.silent:
            return None
        response = dns.message.make_response(q, recursion_available=True)
        if name in self.records:
            response.answer.append(dns.rrset.from_text_list(q.question[0].name, 30, "IN", "A", self.records[name]))
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire(max_size=512 if protocol == "udp" else 65535, prefer_truncation=True)

    async def _serve(self, reader, writer):
        try:
            while True:
                size = int.from_bytes(await reader.readexactly(2), "big")
                reply = self.answer(await reader.readexactly(size), "tcp")
                if reply is not None:
                    writer.write(len(reply).to_bytes(2, "big") + reply)
        except asyncio.IncompleteReadError:
            writer.close()


class _FakeDatagrams(asyncio.DatagramProtocol):
    def __init__(self, upstream: FakeUpstream):
        self.upstream = upstream

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        reply = self.upstream.answer(data, "udp")
        if reply is not None:
            self.transport.sendto(reply, addr)


def client_socket(path: str, kind: int) -> socket.socket:
    """A socket made inside the namespace at `path`, usable from any thread."""
    sock = netns.run_in(path, socket.socket, socket.AF_INET, kind)
    sock.settimeout(3)
    return sock


def ask_udp(path: str, q: dns.message.Message) -> dns.message.Message:
    with client_socket(path, socket.SOCK_DGRAM) as sock:
        sock.sendto(q.to_wire(), (ADDRESS, PORT))
        return dns.message.from_wire(sock.recv(65535))


def ask_tcp(path: str, *queries: dns.message.Message) -> list[dns.message.Message]:
    """Send all the queries on one connection at once, then read the answers."""
    with client_socket(path, socket.SOCK_STREAM) as sock:
        sock.connect((ADDRESS, PORT))
        sock.sendall(b"".join(len(w).to_bytes(2, "big") + w for w in (q.to_wire() for q in queries)))
        return [dns.message.from_wire(recv_exactly(sock, int.from_bytes(recv_exactly(sock, 2), "big"))) for _ in queries]


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data


def addresses(response: dns.message.Message) -> set[str]:
    return {r.address for rrset in response.answer for r in rrset}


class Names:
    """The network service's side: two containers see "web" and "db"; c1 asks."""

    def __init__(self):
        self.asked: list[tuple[str, str, int]] = []

    def resolve(self, container_id: str, name: str, qtype: int) -> list[str] | None:
        self.asked.append((container_id, name, qtype))
        table = {"web": ["10.211.0.2", "10.211.0.3"], "db": ["10.211.0.4"]}
        if name not in table:
            return None
        return table[name] if qtype == A else []

    def reverse(self, container_id: str, address: str) -> list[str] | None:
        return ["db.backend"] if address == "10.211.0.4" else None


def serve(scenario, *, upstream_records=None, silent_first=False, forward=True, timeout=4.0):
    """Run `scenario(server, names, upstream, path)` with the server attached as container c1."""
    async def main(path: str):
        upstream = FakeUpstream(upstream_records or {"example.org": ["192.0.2.1"]})
        upstreams = [await upstream.start()]
        silent = None
        if silent_first:
            silent = FakeUpstream({}, silent=True)
            upstreams.insert(0, await silent.start())
        names = Names()
        server = EmbeddedDNS(names.resolve, upstreams, reverse=names.reverse, timeout=timeout)
        try:
            await server.attach("c1", path, forward=forward)
            await scenario(server, names, upstream, path)
        finally:
            await server.close()
            upstream.close()
            if silent is not None:
                silent.close()
    return main


@needs_root
def test_internal_names_over_udp(netns_path):
    async def scenario(server, names, upstream, path):
        response = await asyncio.to_thread(ask_udp, path, dns.message.make_query("Web.", A))
        assert response.rcode() == dns.rcode.NOERROR and addresses(response) == {"10.211.0.2", "10.211.0.3"}
        assert response.answer[0].ttl == 600 and response.flags & dns.flags.AA
        assert names.asked == [("c1", "web", A)]
        empty = await asyncio.to_thread(ask_udp, path, dns.message.make_query("db", AAAA))
        assert empty.rcode() == dns.rcode.NOERROR and empty.answer == []
        ptr = await asyncio.to_thread(ask_udp, path, dns.message.make_query("4.0.211.10.in-addr.arpa", PTR))
        assert [r.target.to_text() for r in ptr.answer[0]] == ["db.backend."]
        assert upstream.asked == []

    asyncio.run(serve(scenario)(netns_path))


@needs_root
def test_other_names_are_forwarded(netns_path):
    async def scenario(server, names, upstream, path):
        q = dns.message.make_query("example.org", A, use_edns=0)
        response = await asyncio.to_thread(ask_udp, path, q)
        assert response.id == q.id and addresses(response) == {"192.0.2.1"} and response.edns == 0
        # "web" is internal, "web" with a search domain appended is not
        missing = await asyncio.to_thread(ask_udp, path, dns.message.make_query("web.corp.example", A))
        assert missing.rcode() == dns.rcode.NXDOMAIN
        assert upstream.asked == [("udp", "example.org"), ("udp", "web.corp.example")]

    asyncio.run(serve(scenario)(netns_path))


@needs_root
def test_truncated_upstream_answers_are_fetched_over_tcp(netns_path):
    many = [f"192.0.2.{i}" for i in range(1, 61)]

    async def scenario(server, names, upstream, path):
        (response,) = await asyncio.to_thread(ask_tcp, path, dns.message.make_query("big.example", A))
        assert addresses(response) == set(many)
        assert upstream.asked == [("udp", "big.example"), ("tcp", "big.example")]
        # a UDP client without EDNS gets what fits, and TC to come back over TCP
        small = await asyncio.to_thread(ask_udp, path, dns.message.make_query("big.example", A))
        assert small.flags & dns.flags.TC and len(addresses(small)) < 60

    asyncio.run(serve(scenario, upstream_records={"big.example": many})(netns_path))


@needs_root
def test_tcp_carries_several_queries_per_connection(netns_path):
    async def scenario(server, names, upstream, path):
        queries = [dns.message.make_query(n, t) for n, t in (("web", A), ("example.org", A), ("db", AAAA), ("db", A))]
        responses = await asyncio.to_thread(ask_tcp, path, *queries)
        assert [r.id for r in responses] == [q.id for q in queries]
        assert [addresses(r) for r in responses] == [{"10.211.0.2", "10.211.0.3"}, {"192.0.2.1"}, set(), {"10.211.0.4"}]

    asyncio.run(serve(scenario)(netns_path))


@needs_root
def test_an_upstream_that_does_not_answer(netns_path):
    async def scenario(server, names, upstream, path):
        # the silent one first: after its timeout, the next one answers
        response = await asyncio.to_thread(ask_udp, path, dns.message.make_query("example.org", A))
        assert addresses(response) == {"192.0.2.1"}

    asyncio.run(serve(scenario, silent_first=True, timeout=0.3)(netns_path))

    async def nobody(server, names, upstream, path):
        upstream.silent = True
        response = await asyncio.to_thread(ask_udp, path, dns.message.make_query("example.org", A))
        assert response.rcode() == dns.rcode.SERVFAIL

    asyncio.run(serve(nobody, timeout=0.3)(netns_path))


@needs_root
def test_internal_only_containers_do_not_forward(netns_path):
    async def scenario(server, names, upstream, path):
        assert addresses(await asyncio.to_thread(ask_udp, path, dns.message.make_query("db", A))) == {"10.211.0.4"}
        response = await asyncio.to_thread(ask_udp, path, dns.message.make_query("example.org", A))
        assert response.rcode() == dns.rcode.SERVFAIL and upstream.asked == []
        await server.attach("c1", path)  # the same namespace, new options
        response = await asyncio.to_thread(ask_udp, path, dns.message.make_query("example.org", A))
        assert addresses(response) == {"192.0.2.1"}

    asyncio.run(serve(scenario, forward=False)(netns_path))


@needs_root
def test_a_container_with_its_own_upstreams(netns_path):
    async def scenario(server, names, upstream, path):
        own = FakeUpstream({"example.org": ["198.51.100.7"]})
        try:
            await server.attach("c1", path, upstreams=[await own.start()])
            response = await asyncio.to_thread(ask_udp, path, dns.message.make_query("example.org", A))
            assert addresses(response) == {"198.51.100.7"} and upstream.asked == []
        finally:
            own.close()
        with pytest.raises(errors.InvalidArgument):
            await server.attach("c1", path, upstreams=["dns.example"])

    asyncio.run(serve(scenario)(netns_path))


@needs_root
def test_malformed_packets_are_dropped(netns_path):
    def exchange(path: str) -> dns.message.Message:
        with client_socket(path, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.3)
            reply = dns.message.make_response(dns.message.make_query("web", A)).to_wire()
            for garbage in (b"\x00", b"\x12\x34" + b"\xff" * 30, reply):
                sock.sendto(garbage, (ADDRESS, PORT))
                with pytest.raises(TimeoutError):
                    sock.recv(65535)
            sock.settimeout(3)
            q = dns.message.make_query("web", A)
            sock.sendto(q.to_wire(), (ADDRESS, PORT))  # the server is still there
            return dns.message.from_wire(sock.recv(65535))

    def bad_tcp_message(path: str) -> bytes:
        with client_socket(path, socket.SOCK_STREAM) as sock:
            sock.connect((ADDRESS, PORT))
            sock.sendall(b"\x00\x05hello")
            return sock.recv(100)  # b"": the server closed the connection

    async def scenario(server, names, upstream, path):
        assert addresses(await asyncio.to_thread(exchange, path)) == {"10.211.0.2", "10.211.0.3"}
        assert await asyncio.to_thread(bad_tcp_message, path) == b""

    asyncio.run(serve(scenario)(netns_path))


@needs_root
def test_detach_frees_port_53(netns_path):
    def bind_both(path: str) -> None:
        with client_socket(path, socket.SOCK_DGRAM) as udp, client_socket(path, socket.SOCK_STREAM) as tcp:
            udp.bind((ADDRESS, PORT))
            tcp.bind((ADDRESS, PORT))

    async def scenario(server, names, upstream, path):
        with pytest.raises(OSError) as taken:
            await asyncio.to_thread(bind_both, path)
        assert taken.value.errno == errno.EADDRINUSE
        await server.detach("c1")
        await server.detach("c1")  # again: nothing to do
        await asyncio.to_thread(bind_both, path)
        with pytest.raises(ConnectionRefusedError):
            await asyncio.to_thread(ask_tcp, path, dns.message.make_query("web", A))

    asyncio.run(serve(scenario)(netns_path))


@needs_root
def test_attach_is_idempotent(netns_path, tmp_path):
    async def scenario(server, names, upstream, path):
        await server.attach("c1", path)  # the same namespace: nothing happens, port 53 is ours already
        assert addresses(await asyncio.to_thread(ask_udp, path, dns.message.make_query("db", A))) == {"10.211.0.4"}
        with pytest.raises(errors.NotFound):
            await server.attach("c2", str(tmp_path / "missing"))
        bare = tmp_path / "bare"
        bare.touch()
        with pytest.raises(errors.NotFound):
            await server.attach("c2", str(bare))  # a file, not a namespace
        with pytest.raises(errors.Conflict):
            await server.attach("c2", path)  # the namespace of c1: its port 53 is taken

    asyncio.run(serve(scenario)(netns_path))
