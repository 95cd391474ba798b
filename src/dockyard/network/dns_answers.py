"""What the embedded name server answers, decided without any socket.

`read_query` turns a packet into a query (or refuses it), `local_answer`
answers it from the container's own names or says "forward it" (None), and
`to_wire` renders any response within the size the client can take.  The
server in dns.py only moves packets between these and the sockets.

The rules, the ones docker's resolver follows:

* A name is *internal* when the ``resolve`` callback returns a list for it;
  None means "not ours" and the query goes upstream.  Names reach the
  callback lower-cased and without the final dot, exactly as asked: a
  resolver that appended a search domain (``web.corp.example``) asks for a
  different name than ``web``, and whether that one is internal is the
  callback's business (docker answers only the bare name and forwards the
  rest).
* An internal name asked for AAAA, MX or any other type it has no records of
  gets NOERROR with an empty answer, never NXDOMAIN: NXDOMAIN would tell the
  client the name does not exist at all, and a stub resolver asking A and
  AAAA in parallel could drop the A answer it also got.
* Internal answers are authoritative, carry TTL 600 and list the addresses
  in random order (round-robin across the containers behind an alias).
* A reverse (PTR) query is internal when the ``reverse`` callback returns a
  list for the address; other reverse queries go upstream.
* One question per message.  Zero or several is FORMERR, an EDNS version
  above 0 is BADVERS (RFC 6891), an opcode other than QUERY is NOTIMP.
"""

from __future__ import annotations

import random
from typing import Callable

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset

from dockyard.errors import InvalidArgument

TTL = 600
UDP_MIN_SIZE = 512  # RFC 1035: what every client accepts over UDP without EDNS
OUR_EDNS_PAYLOAD = 4096  # over loopback, fragmentation is no concern
STREAM_MAX_SIZE = 65535  # the two-byte length prefix of DNS over TCP

# (name, qtype) -> addresses, or None when the name is not internal.  Only ever
# asked with A or AAAA; the container is already bound in by the server.
Addresses = Callable[[str, int], list[str] | None]
# address -> names (without the final dot), or None when the address is not internal.
Names = Callable[[str], list[str] | None]


def read_query(wire: bytes) -> dns.message.Message:
    """Parse a packet a client sent; raises InvalidArgument for anything but a query.

    A packet comes from inside a container and can be anything, so every
    failure of the parser, whatever its type, is the client's problem and
    becomes InvalidArgument; a response (QR set) is refused so that two
    servers can never answer each other in a loop.
    """
    try:
        message = dns.message.from_wire(wire)
    except Exception as e:  # noqa: BLE001 - see above: a hostile packet may trip any parser error
        raise InvalidArgument(f"malformed DNS message ({len(wire)} bytes): {e or type(e).__name__}") from None
    if message.flags & dns.flags.QR:
        raise InvalidArgument("a DNS response where a query was expected")
    return message


def local_answer(query: dns.message.Message, addresses: Addresses, names: Names | None = None) -> dns.message.Message | None:
    """The response to `query` from the container's own names, or None to forward it.

    Errors in the query itself (see the module docstring) are answered here
    too.  Whatever the callbacks raise propagates: that is a bug of ours, not
    of the client, and the server answers SERVFAIL and logs it.
    """
    if query.opcode() != dns.opcode.QUERY:
        return error_response(query, dns.rcode.NOTIMP)
    if query.edns > 0:
        return error_response(query, dns.rcode.BADVERS)
    if len(query.question) != 1:
        return error_response(query, dns.rcode.FORMERR)
    question = query.question[0]
    if question.rdclass != dns.rdataclass.IN or question.name == dns.name.root:
        return None
    if question.rdtype == dns.rdatatype.PTR:
        return _reverse_answer(query, question.name, names)

    name = question.name.to_text(omit_final_dot=True).lower()
    if question.rdtype == dns.rdatatype.AAAA:
        record_type = dns.rdatatype.AAAA
    elif question.rdtype in (dns.rdatatype.A, dns.rdatatype.ANY):
        record_type = dns.rdatatype.A
    else:
        record_type = None  # asked only to learn whether the name is ours
    found = addresses(name, int(record_type or dns.rdatatype.A))
    if found is None:
        return None
    response = _authoritative_response(query)
    if record_type is not None and found:
        shuffled = random.sample(found, len(found))
        response.answer.append(dns.rrset.from_text_list(question.name, TTL, dns.rdataclass.IN, record_type, shuffled))
    return response


def error_response(query: dns.message.Message, rcode: dns.rcode.Rcode) -> dns.message.Message:
    """A response with no records and the given status (SERVFAIL, FORMERR, …)."""
    response = dns.message.make_response(query, recursion_available=True, our_payload=OUR_EDNS_PAYLOAD)
    response.set_rcode(rcode)
    return response


def to_wire(response: dns.message.Message, query: dns.message.Message, *, stream: bool) -> bytes:
    """Render `response` within what the client of `query` accepts.

    Over UDP that is 512 bytes, or the payload size the client advertised
    with EDNS; a response that does not fit keeps the records that do and
    sets TC, so the client asks again over TCP.  Over TCP (`stream`) it is
    the 64 KiB a length prefix can carry; the prefix is not included.
    """
    if stream:
        limit = STREAM_MAX_SIZE
    elif query.edns >= 0:
        limit = max(UDP_MIN_SIZE, query.payload)
    else:
        limit = UDP_MIN_SIZE
    return response.to_wire(max_size=limit, prefer_truncation=True)


def describe(query: dns.message.Message) -> str:
    """The question of `query` for a log line: ``web. IN A``."""
    return " ".join(str(q) for q in query.question) or "(no question)"


def _reverse_answer(query: dns.message.Message, qname: dns.name.Name, names: Names | None) -> dns.message.Message | None:
    if names is None:
        return None
    try:
        address = dns.reversename.to_address(qname)
    except (dns.exception.DNSException, ValueError):
        return None  # a partial reverse name (a whole /16): not one address, not ours
    found = names(address)
    if found is None:
        return None
    response = _authoritative_response(query)
    if found:
        targets = [dns.name.from_text(n).to_text() for n in found]
        response.answer.append(dns.rrset.from_text_list(qname, TTL, dns.rdataclass.IN, dns.rdatatype.PTR, targets))
    return response


def _authoritative_response(query: dns.message.Message) -> dns.message.Message:
    response = dns.message.make_response(query, recursion_available=True, our_payload=OUR_EDNS_PAYLOAD)
    response.flags |= dns.flags.AA
    return response
