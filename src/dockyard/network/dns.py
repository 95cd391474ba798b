"""The embedded name server: 127.0.0.11 inside every container on a user-defined network.

As in docker, a container on a user-defined network has ``nameserver
127.0.0.11`` in its /etc/resolv.conf, and a name server answers on
127.0.0.11:53, UDP and TCP, inside the container's own network namespace.
It answers the names of the containers the container can reach (their
names, aliases, …) from the network service's ``resolve`` callback and
forwards everything else to the host's resolvers.  What it answers is
dns_answers.py; where it forwards is dns_upstreams.py; this module moves
the packets.

How a socket gets into a container's namespace
----------------------------------------------
A socket belongs, for its whole life, to the network namespace of the
thread that created it, whichever thread uses it afterwards.  So `attach`
has a new thread enter the container's namespace (`netns.run_in`: that
thread ends there and never serves anything else), create and bind the UDP
and TCP sockets on 127.0.0.11:53 -- an address of the namespace's loopback,
which must be up -- and hand them back.  The daemon's event loop then serves
them next to every other socket, and forwards from its own namespace, the
host's.  No process and no thread per container.

What follows from that:

* The sockets keep the namespace alive, with its interfaces, however the
  container ends: `detach` when the container stops or leaves its last
  user-defined network.
* While attached, port 53 of 127.0.0.11 (and the wildcard) is taken in the
  container: a container that runs its own DNS server on 0.0.0.0:53 fails
  to bind.  docker avoids that by listening on random ports and redirecting
  :53 to them with NAT rules inside the container's namespace.

Bounded work per container
--------------------------
Answers from the container's names are immediate.  Queries waiting for an
upstream are tasks, at most `MAX_PENDING` per container over UDP (beyond,
SERVFAIL at once) and `dns_upstreams.MAX_FORWARDS` over all; replies the
kernel cannot take at once are dropped past `MAX_UDP_BACKLOG` bytes.  TCP
takes at most `MAX_CONNECTIONS` per container, answers the length-prefixed
messages of each connection one at a time and in order, and closes one that
stays idle (or sends one message too slowly) for `TCP_IDLE_TIMEOUT`.  A
packet that is not a DNS query is logged at debug level and dropped (over
TCP, the connection is closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import os
import socket
import time
from typing import Callable

import dns.message
import dns.rcode

from dockyard import errors
from dockyard.network import netns
from dockyard.network.dns_answers import Addresses, Names, describe, error_response, local_answer, read_query, to_wire
from dockyard.network.dns_upstreams import FORWARD_TIMEOUT, Forwarder, HostUpstreams, Upstream

log = logging.getLogger(__name__)

ADDRESS = "127.0.0.11"
PORT = 53
MAX_PENDING = 128  # UDP queries of one container waiting for an upstream
MAX_CONNECTIONS = 16  # TCP connections of one container
MAX_UDP_BACKLOG = 256 * 1024  # bytes of replies waiting for the kernel, per container
TCP_IDLE_TIMEOUT = 10.0  # seconds
TCP_BACKLOG = 64
_WARN_INTERVAL = 10.0

# resolve(container_id, name, qtype) -> addresses, or None when the name is not internal
Resolve = Callable[[str, str, int], list[str] | None]
# reverse(container_id, address) -> names, or None when the address is not internal
Reverse = Callable[[str, str], list[str] | None]


class EmbeddedDNS:
    """The name server of every container on a user-defined network.

    `resolve(container_id, name, qtype)` answers for internal names: for A
    the container's view of `name` as IPv4 strings, for AAAA the IPv6 ones
    (``[]`` while networks have no IPv6), or None when `name` is not
    internal and the query should be forwarded.  `qtype` is a
    ``dns.rdatatype`` value, A or AAAA only; the name is lower-case, without
    the final dot.  `reverse(container_id, address)`, if given, does the
    same for PTR queries: the names of an internal address, or None.  Both
    are called on the event loop and must not block.

    `upstreams` are the resolvers to forward to (``"ADDRESS"`` or
    ``"ADDRESS:PORT"``); None means the host's, from its /etc/resolv.conf,
    re-read when it changes.  `timeout` bounds the wait for each upstream.

    Use it from the daemon's event loop, which must run in the host's
    network namespace: forwarded queries leave from there.
    """

    def __init__(
        self,
        resolve: Resolve,
        upstreams: list[str] | None = None,
        *,
        reverse: Reverse | None = None,
        timeout: float = FORWARD_TIMEOUT,
    ):
        self._resolve = resolve
        self._reverse = reverse
        if upstreams is None:
            source: Callable[[], list[Upstream]] = HostUpstreams()
        else:
            fixed = [Upstream.parse(u) for u in upstreams]
            source = lambda: fixed  # noqa: E731
        self._forwarder = Forwarder(source, timeout)
        self._listeners: dict[str, _Listener] = {}
        self._lock = asyncio.Lock()  # attach and detach, one at a time
        self._closed = False

    async def attach(
        self,
        container_id: str,
        netns_path: str,
        *,
        forward: bool = True,
        upstreams: list[str] | None = None,
    ) -> None:
        """Serve the container at 127.0.0.11:53 inside the namespace at `netns_path`.

        With `forward` False, names that are not internal get SERVFAIL
        instead of going upstream: docker's behaviour for a container whose
        networks are all ``--internal``.  `upstreams`, if given, replace the
        server's for this container: docker sends a container's ``--dns``
        servers there, and keeps 127.0.0.11 in its resolv.conf.

        Attaching again to the same namespace keeps the sockets and takes
        the new options; to a different one (the container was restarted in
        a new namespace) the sockets move.  Raises NotFound if there is no
        namespace at `netns_path`, Conflict if port 53 of 127.0.0.11 is
        taken there, InvalidArgument for a bad upstream.
        """
        own_upstreams = None if upstreams is None else [Upstream.parse(u) for u in upstreams]
        async with self._lock:
            if self._closed:
                raise errors.Unavailable("the embedded DNS server is closed")
            try:
                st = os.stat(netns_path)
            except FileNotFoundError:
                raise errors.NotFound(f"no network namespace at {netns_path}") from None
            namespace = (st.st_dev, st.st_ino)
            current = self._listeners.get(container_id)
            if current is not None:
                if current.namespace == namespace:
                    current.forward, current.upstreams = forward, own_upstreams
                    return
                await self._listeners.pop(container_id).stop()
            udp, tcp = await _listen_in(netns_path)
            listener = _Listener(
                container_id,
                namespace,
                functools.partial(self._resolve, container_id),
                functools.partial(self._reverse, container_id) if self._reverse else None,
                self._forwarder,
                forward=forward,
                upstreams=own_upstreams,
            )
            try:
                await listener.start(udp, tcp)
            except BaseException:
                udp.close()
                tcp.close()
                raise
            self._listeners[container_id] = listener
            log.debug("serving DNS for container %.12s in %s", container_id, netns_path)

    async def detach(self, container_id: str) -> None:
        """Stop serving the container and close its sockets; nothing to do if not attached.

        When it returns, port 53 is free in the container's namespace and
        nothing of this server holds the namespace any more.
        """
        async with self._lock:
            listener = self._listeners.pop(container_id, None)
            if listener is not None:
                await listener.stop()
                log.debug("stopped serving DNS for container %.12s", container_id)

    async def close(self) -> None:
        """Detach every container; the server cannot be attached to again."""
        async with self._lock:
            self._closed = True
            listeners, self._listeners = list(self._listeners.values()), {}
            await asyncio.gather(*(listener.stop() for listener in listeners))


class _Listener:
    """One container's two sockets and the work in flight on them."""

    def __init__(
        self,
        container_id: str,
        namespace: tuple[int, int],
        addresses: Addresses,
        names: Names | None,
        forwarder: Forwarder,
        *,
        forward: bool,
        upstreams: list[Upstream] | None,
    ):
        self.container_id = container_id
        self.namespace = namespace  # (st_dev, st_ino) of the namespace file
        self._addresses = addresses
        self._names = names
        self._forwarder = forwarder
        self.forward = forward  # False: SERVFAIL for names that are not internal
        self.upstreams = upstreams  # the container's own, instead of the server's
        self._transport: asyncio.DatagramTransport | None = None
        self._udp_closed: asyncio.Future | None = None
        self._server: asyncio.Server | None = None
        self._pending: set[asyncio.Task] = set()  # UDP queries waiting for an upstream
        self._connections: set[asyncio.Task] = set()
        self._warned_at = 0.0

    async def start(self, udp: socket.socket, tcp: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self._udp_closed = loop.create_future()
        self._transport, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self), sock=udp)
        try:
            self._server = await asyncio.start_server(self._serve_connection, sock=tcp, backlog=TCP_BACKLOG)
        except BaseException:
            self._transport.close()
            raise

    async def stop(self) -> None:
        assert self._transport is not None and self._server is not None and self._udp_closed is not None
        self._transport.close()  # the socket itself closes on the loop's next turn: awaited below
        self._server.close()  # closes the listening socket now; not the connections (3.11)
        tasks = self._pending | self._connections
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._udp_closed
        await self._server.wait_closed()

    # -- answering -----------------------------------------------------------

    def answer_now(self, query: dns.message.Message) -> dns.message.Message | None:
        """The answer if it needs no upstream, else None."""
        try:
            response = local_answer(query, self._addresses, self._names)
        except Exception:
            log.exception("answering %s for container %.12s", describe(query), self.container_id)
            return error_response(query, dns.rcode.SERVFAIL)
        if response is None and not self.forward:
            return error_response(query, dns.rcode.SERVFAIL)
        return response

    async def answer_later(self, query: dns.message.Message) -> dns.message.Message:
        """The upstream's answer, or SERVFAIL."""
        response = await self._forwarder.forward(query, self.upstreams)
        return response if response is not None else error_response(query, dns.rcode.SERVFAIL)

    # -- UDP -----------------------------------------------------------------

    def on_datagram(self, data: bytes, addr: tuple) -> None:
        try:
            query = read_query(data)
        except errors.InvalidArgument as e:
            log.debug("container %.12s: dropped a packet from %s:%s: %s", self.container_id, *addr[:2], e.message)
            return
        response = self.answer_now(query)
        if response is not None:
            self._send(query, response, addr)
        elif len(self._pending) >= MAX_PENDING:
            self._warn(f"more than {MAX_PENDING} DNS queries waiting for upstream servers: answering SERVFAIL")
            self._send(query, error_response(query, dns.rcode.SERVFAIL), addr)
        else:
            task = asyncio.get_running_loop().create_task(self._forward_and_send(query, addr))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _forward_and_send(self, query: dns.message.Message, addr: tuple) -> None:
        self._send(query, await self.answer_later(query), addr)

    def _send(self, query: dns.message.Message, response: dns.message.Message, addr: tuple) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size() > MAX_UDP_BACKLOG:
            self._warn("the container does not read its DNS answers: dropping them")
            return
        try:
            wire = to_wire(response, query, stream=False)
        except Exception:
            log.exception("rendering the answer to %s for container %.12s", describe(query), self.container_id)
            return
        transport.sendto(wire, addr)

    def on_udp_closed(self) -> None:
        if self._udp_closed is not None and not self._udp_closed.done():
            self._udp_closed.set_result(None)

    # -- TCP -----------------------------------------------------------------

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._connections) >= MAX_CONNECTIONS:
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                async with asyncio.timeout(TCP_IDLE_TIMEOUT):
                    size = int.from_bytes(await reader.readexactly(2), "big")
                    query = read_query(await reader.readexactly(size))
                response = self.answer_now(query)
                if response is None:
                    response = await self.answer_later(query)
                wire = to_wire(response, query, stream=True)
                writer.write(len(wire).to_bytes(2, "big") + wire)
                async with asyncio.timeout(TCP_IDLE_TIMEOUT):
                    await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass  # the client went away, or went quiet
        except errors.InvalidArgument as e:
            log.debug("container %.12s: closed a DNS connection: %s", self.container_id, e.message)
        except Exception:
            log.exception("serving a DNS connection of container %.12s", self.container_id)
        finally:
            self._connections.discard(task)
            writer.close()

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._warned_at > _WARN_INTERVAL:
            self._warned_at = now
            log.warning("container %.12s: %s", self.container_id, message)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, listener: _Listener):
        self._listener = listener

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        try:
            self._listener.on_datagram(data, addr)
        except Exception:  # a bug of ours; the next packet deserves an answer all the same
            log.exception("handling a DNS packet of container %.12s", self._listener.container_id)

    def error_received(self, exc: Exception) -> None:
        # An ICMP error for an earlier reply: the client's socket is gone.
        log.debug("container %.12s: %s", self._listener.container_id, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._listener.on_udp_closed()


async def _listen_in(netns_path: str) -> tuple[socket.socket, socket.socket]:
    """The UDP and TCP sockets on 127.0.0.11:53, made inside the namespace at `netns_path`."""
    opening = asyncio.ensure_future(asyncio.to_thread(netns.run_in, netns_path, _bind))
    try:
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        opening.add_done_callback(_close_opened)  # the thread finishes anyway: close what it made
        raise
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise errors.Conflict(f"port {PORT} of {ADDRESS} is already in use in {netns_path}") from None
        if e.errno == errno.EADDRNOTAVAIL:
            raise errors.SystemError(f"{ADDRESS} is not available in {netns_path}: is its loopback up?") from None
        raise errors.SystemError(f"cannot listen on {ADDRESS}:{PORT} in {netns_path}: {e.strerror}") from None


def _bind() -> tuple[socket.socket, socket.socket]:
    # Runs inside the container's namespace (netns.run_in): the sockets are made there.
    with contextlib.ExitStack() as undo:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        undo.callback(udp.close)
        udp.bind((ADDRESS, PORT))
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        undo.callback(tcp.close)
        # Without it, binding again after a detach would wait out the
        # TIME_WAIT of the last connections.
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((ADDRESS, PORT))
        tcp.listen(TCP_BACKLOG)
        undo.pop_all()
    return udp, tcp


def _close_opened(opening: asyncio.Future) -> None:
    if not opening.cancelled() and opening.exception() is None:
        for sock in opening.result():
            sock.close()
