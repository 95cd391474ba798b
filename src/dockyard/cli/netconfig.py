"""The networking flags of ``run``/``create`` → their part of the create body.

    --network, --network-alias, --ip, --ip6,  ──▶ HostConfig.NetworkMode,
    --link-local-ip, --mac-address, --link        NetworkingConfig.EndpointsConfig,
                                                  HostConfig.Links
    -p/--publish, --expose, -P               ──▶ Config.ExposedPorts,
                                                  HostConfig.PortBindings/PublishAllPorts
    --dns, --dns-search, --dns-option,       ──▶ HostConfig.Dns/DnsSearch/DnsOptions,
    --add-host, -h, --domainname                  HostConfig.ExtraHosts,
                                                  Config.Hostname/Domainname

As in docker's CLI, a value that is wrong on its own (``--add-host x``,
``--dns x``, ``--link a:b:c``, ``--network alias=x``) is refused while the
flags are parsed: ``invalid argument "x" for "--add-host" flag: …``, exit 125.
What only shows with several flags together (``--network-alias`` on the
default bridge, two network modes that cannot mix, a publish spec)
raises ValueError from ``network_config``, which ``run`` and ``create``
print as ``dockyard: …`` (exit 125).  Whether a network, an address or a
link can be had is the daemon's to say: ``--link`` and ``--ip`` are sent as
given.

Port specs follow go-connections' ``nat.ParsePortSpec`` as docker 28
vendors it: ``[ip:][hostPort:]containerPort[/proto]`` where either port
may be a range ``a-b``, an IPv6 host address may be bracketed, and a host
range against a single container port (``8080-8090:80``) is a range the
daemon picks one port from.  The long form
``published=8080,target=80,protocol=udp`` is rewritten to the short one first.
"""

from __future__ import annotations

import re
from collections import namedtuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ipaddress
    from typing import Any

    from dockyard.cli.flags import FlagSet, Options

HOST_GATEWAY = "host-gateway"
PROTOCOLS = ("tcp", "udp", "sctp")

# docker's opts.validateDomain (RE2 and Python agree on this pattern).
_ALPHA = re.compile(r"[a-zA-Z]")
_DOMAIN = re.compile(r"^(:?(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))"
                     r"(:?\.(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])))*)"
                     r"\.?\s*$", re.ASCII)
# docker's NetworkOpt decides "long syntax" by this search, not a full match.
_LONG_NETWORK_SYNTAX = re.compile(r"\w+=\w+(,\w+=\w+)*", re.ASCII)


# -- single addresses ----------------------------------------------------------


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Go's ``net.ParseIP``: no zone, no brackets, no prefix; None if invalid."""
    import ipaddress  # only when an address is given: it costs ``run`` a millisecond

    if "%" in text or "/" in text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def go_ip_string(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """Go's ``net.IP.String``: an IPv4-mapped IPv6 address prints as IPv4."""
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped) if mapped is not None else ip.compressed


def validate_ip_address(value: str) -> str:
    """docker's ValidateIPAddress (``--dns``): the address in canonical form."""
    ip = parse_ip(value.strip())
    if ip is None:
        raise ValueError(f"IP address is not correctly formatted: {value}")
    return go_ip_string(ip)


def validate_extra_host(value: str) -> str:
    """docker's ValidateExtraHost: ``host:ip``, ``host=ip``, ``host:[v6]`` or
    ``host:host-gateway`` → ``host:ip`` as the API wants it."""
    host, sep, address = value.partition("=")
    if not sep:
        # split on the first colon only, so that IPv6 addresses survive
        host, sep, address = value.partition(":")
    if not sep or not host or ":" in host:
        raise ValueError(f'bad format for add-host: "{value}"')
    if address != HOST_GATEWAY:
        if len(address) > 2 and address[0] == "[" and address[-1] == "]":
            address = address[1:-1]
        if parse_ip(address.strip()) is None:
            raise ValueError(f'invalid IP address in add-host: "{address}"')
    # the address as the user wrote it (not canonicalised), as docker keeps it
    return f"{host}:{address}"


def validate_dns_search(value: str) -> str:
    """docker's ValidateDNSSearch: a domain name, or ``.`` for none."""
    value = value.strip(" ")
    if value == ".":
        return value
    match = _DOMAIN.match(value) if _ALPHA.search(value) else None
    if match is None or len(match.group(1)) >= 255:
        raise ValueError(f"{value} is not a valid domain")
    return match.group(1)


def validate_link(value: str) -> str:
    """docker's ValidateLink: ``name`` or ``name:alias``."""
    if not value:
        raise ValueError("empty string specified for links")
    if len(value.split(":", 2)) > 2:
        raise ValueError(f"bad format for links: {value}")
    return value


def validate_mac_address(value: str) -> str:
    """Go's ``net.ParseMAC``: 6, 8 or 20 octets as ``xx:xx…``, ``xx-xx…`` or
    ``xxxx.xxxx…``."""
    text = value.strip()
    for sep, width, counts in ((":", 2, (6, 8, 20)), ("-", 2, (6, 8, 20)),
                               (".", 4, (3, 4, 10))):
        parts = text.split(sep)
        if len(parts) in counts and all(len(p) == width and _is_hex(p) for p in parts):
            return value
    raise ValueError(f"{value} is not a valid mac address")


def _is_hex(text: str) -> bool:
    return all(ch in "0123456789abcdefABCDEF" for ch in text)


def string_slice(value: str) -> list[str]:
    """pflag's StringSlice: one flag value is a CSV line (``--alias a,b``)."""
    if not value:
        return []
    import csv

    return next(csv.reader([value]))


# -- network modes and endpoints ---------------------------------------------------


def is_user_defined(mode: str) -> bool:
    """moby's NetworkMode.IsUserDefined: anything but default, bridge, host,
    none and container:<id>."""
    return mode not in ("default", "bridge", "host", "none") and \
        mode.partition(":")[0] != "container"


# Immutable values as namedtuples rather than dataclasses: ``dataclasses``
# imports ``inspect``, which would add ~7 ms to every ``dockyard run``.
_Attachment = namedtuple("_Attachment", "target aliases links ipv4_address ipv6_address "
                         "link_local_ips mac_address driver_opts gw_priority",
                         defaults=((), (), "", "", (), "", (), 0))


class NetworkAttachment(_Attachment):
    """One ``--network`` value: a network (or mode) and the endpoint settings
    asked for on it, from the long syntax or the ``--ip``-style flags.

    ``target``: network name or id, or a mode (``host``, ``container:web``);
    ``aliases``, ``links``, ``link_local_ips``: tuples of strings;
    ``driver_opts``: a tuple of (key, value) pairs; ``gw_priority``: an int.
    """

    __slots__ = ()

    def to_api(self) -> dict[str, Any]:
        """The EndpointSettings JSON; fields left at their zero value are left out
        (Go's ``omitempty``), so an attachment with no settings is ``{}``."""
        if not self.target.strip():
            raise ValueError("no name set for network")
        if not is_user_defined(self.target):
            if self.aliases:
                raise ValueError("network-scoped aliases are only supported for user-defined "
                                 "networks")
            if self.links:
                raise ValueError("links are only supported for user-defined networks")
        if self.mac_address:
            validate_mac_address(self.mac_address)
        return endpoint_settings(self.ipv4_address, self.ipv6_address, self.link_local_ips, self.links,
                                 self.aliases, dict(self.driver_opts), self.gw_priority, self.mac_address)


def endpoint_settings(ipv4: str, ipv6: str, link_local_ips: Any, links: Any, aliases: Any,
                      driver_opts: dict[str, str], gw_priority: int, mac_address: str = "") -> dict[str, Any]:
    """EndpointSettings JSON (``run --network``'s and ``network connect``'s);
    fields at their zero value are left out (Go's ``omitempty``)."""
    endpoint: dict[str, Any] = {}
    ipam = {key: value for key, value in (("IPv4Address", ipv4), ("IPv6Address", ipv6),
                                          ("LinkLocalIPs", list(link_local_ips)))
            if value}
    for key, value in (("IPAMConfig", ipam), ("Links", list(links)), ("Aliases", list(aliases)),
                       ("MacAddress", mac_address), ("DriverOpts", driver_opts), ("GwPriority", gw_priority)):
        if value:
            endpoint[key] = value
    return endpoint


def parse_network_attachment(value: str) -> NetworkAttachment:
    """A ``--network`` value: a name, or docker's long syntax
    ``name=NET,alias=A,ip=…,ip6=…,mac-address=…,link-local-ip=…,driver-opt=k=v,
    gw-priority=N``."""
    if not _LONG_NETWORK_SYNTAX.search(value):
        return NetworkAttachment(value)
    fields: dict[str, Any] = {"target": "", "aliases": [], "link_local_ips": [],
                              "driver_opts": []}
    for field in string_slice(value):
        # docker lowercases the whole field, value included
        key, eq, val = field.lower().partition("=")
        if not eq or not key:
            raise ValueError(f"invalid field {field}")
        key, val = key.strip(), val.strip()
        if key == "name":
            fields["target"] = val
        elif key == "alias":
            fields["aliases"].append(val)
        elif key == "ip":
            fields["ipv4_address"] = val
        elif key == "ip6":
            fields["ipv6_address"] = val
        elif key == "mac-address":
            fields["mac_address"] = val
        elif key == "link-local-ip":
            fields["link_local_ips"].append(val)
        elif key == "driver-opt":
            opt_key, opt_eq, opt_value = val.partition("=")
            if not opt_eq or not opt_key:
                raise ValueError("invalid key value pair format in driver options")
            fields["driver_opts"].append((opt_key.strip(), opt_value.strip()))
        elif key == "gw-priority":
            if not re.fullmatch(r"[+-]?[0-9]+", val):
                raise ValueError(f"invalid gw-priority ({val}): invalid syntax")
            fields["gw_priority"] = int(val)
        else:
            raise ValueError(f"invalid field key {key}")
    if not fields["target"]:
        raise ValueError("network name/id is not specified")
    for name in ("aliases", "link_local_ips", "driver_opts"):
        fields[name] = tuple(fields[name])
    return NetworkAttachment(**fields)


def _with_container_options(attachment: NetworkAttachment, opts: Options) -> NetworkAttachment:
    """docker's applyContainerOptions: ``--network-alias``, ``--link``, ``--ip``,
    ``--ip6``, ``--mac-address`` and ``--link-local-ip`` belong to the first
    network, and conflict with the same setting in its long syntax."""
    aliases = opts.network_alias
    for given, flag_value, what in (
            (attachment.aliases, aliases, "--network-alias and per-network alias"),
            (attachment.links, opts.link, "--link and per-network links"),
            (attachment.ipv4_address, opts.ip, "--ip and per-network IPv4 address"),
            (attachment.ipv6_address, opts.ip6, "--ip6 and per-network IPv6 address"),
            (attachment.mac_address, opts.mac_address,
             "--mac-address and per-network MAC address"),
            (attachment.link_local_ips, opts.link_local_ip,
             "--link-local-ip and per-network link-local IP addresses")):
        if given and flag_value:
            raise ValueError(f"conflicting options: cannot specify both {what}")
    changes: dict[str, Any] = {}
    if aliases:
        changes["aliases"] = tuple(aliases)
    # On a user-defined network a link is an alias on the endpoint; on the
    # default bridge it is a legacy link, and HostConfig.Links carries it alone.
    if opts.link and is_user_defined(attachment.target):
        changes["links"] = tuple(opts.link)
    if opts.ip:
        changes["ipv4_address"] = opts.ip
    if opts.ip6:
        changes["ipv6_address"] = opts.ip6
    if opts.mac_address:
        changes["mac_address"] = opts.mac_address
    if opts.link_local_ip:
        changes["link_local_ips"] = tuple(opts.link_local_ip)
    return attachment._replace(**changes)


def endpoints(opts: Options) -> tuple[str, dict[str, Any]]:
    """HostConfig.NetworkMode and NetworkingConfig.EndpointsConfig (docker's
    parseNetworkOpts).  Without ``--network`` the mode is ``default``; a single
    network with no endpoint settings gets no entry, as in docker, and
    neither does the implicit default network (docker sends ``{}`` for it)."""
    attachments: list[NetworkAttachment] = opts.network
    if not attachments:
        endpoint = _with_container_options(NetworkAttachment("default"), opts).to_api()
        return "default", ({"default": endpoint} if endpoint else {})
    result: dict[str, Any] = {}
    user_defined = other = False
    for index, attachment in enumerate(attachments):
        if is_user_defined(attachment.target):
            user_defined = True
        else:
            other = True
        if index == 0:
            attachment = _with_container_options(attachment, opts)
        endpoint = attachment.to_api()
        if attachment.target in result:
            raise ValueError(f'network "{attachment.target}" is specified multiple times')
        if index == 0 and len(attachments) == 1 and not endpoint:
            continue
        result[attachment.target] = endpoint
    if user_defined and other:
        raise ValueError("conflicting options: cannot attach both user-defined and "
                         "non-user-defined network-modes")
    return attachments[0].target, result


def localhost_dns_warning(dns: list[str]) -> str:
    """docker's client-side warning for a loopback ``--dns`` server, which the
    container's own loopback would answer instead."""
    for server in dns:
        ip = parse_ip(server)
        if ip is not None and ip.is_loopback and not getattr(ip, "ipv4_mapped", None):
            return f"Localhost DNS ({ip.compressed}) may fail in containers."
    return ""


# -- ports ---------------------------------------------------------------------


class PortMapping(namedtuple("_PortMapping", "port host_ip host_port", defaults=("", ""))):
    """One container port of a publish spec (``port``: "80/tcp") and where it
    is bound on the host (``host_port`` may be empty for "any", or a range to
    pick one from)."""

    __slots__ = ()

    def binding(self) -> dict[str, str]:
        return {"HostIp": self.host_ip, "HostPort": self.host_port}


def _parse_uint16(text: str) -> int:
    """Go's ``strconv.ParseUint(text, 10, 16)``, with its error text."""
    if not text.isascii() or not text.isdigit():
        raise ValueError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    value = int(text)
    if value > 65535:
        raise ValueError(f'strconv.ParseUint: parsing "{text}": value out of range')
    return value


def parse_port_range(text: str) -> tuple[int, int]:
    """nat.ParsePortRange: ``80`` or ``8000-8010``."""
    if not text:
        raise ValueError("empty string specified for ports")
    if "-" not in text:
        port = _parse_uint16(text)
        return port, port
    parts = text.split("-")
    start, end = _parse_uint16(parts[0]), _parse_uint16(parts[1])
    if end < start:
        raise ValueError(f"invalid range specified for port: {text}")
    return start, end


def split_proto_port(text: str) -> tuple[str, str]:
    """nat.SplitProtoPort: ``80/udp`` → ("udp", "80"); tcp when unsaid."""
    parts = text.split("/")
    if not text or not parts[0]:
        return "", ""
    if len(parts) == 1 or not parts[1]:
        return "tcp", parts[0]
    return parts[1], parts[0]


def _split_parts(spec: str) -> tuple[str, str, str]:
    parts = spec.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def parse_port_spec(spec: str) -> list[PortMapping]:
    """nat.ParsePortSpec: one ``-p`` value → one mapping per container port."""
    ip, host_port, container_port = _split_parts(spec)
    proto, container_port = split_proto_port(container_port)
    if ip.startswith("["):
        if not ip.endswith("]"):
            raise ValueError(f"invalid IP address {ip}: address {ip}:: missing ']' in address")
        ip = ip[1:-1]
    if ip and parse_ip(ip) is None:
        raise ValueError(f"invalid IP address: {ip}")
    if not container_port:
        raise ValueError(f"no port specified: {spec}<empty>")
    try:
        start, end = parse_port_range(container_port)
    except ValueError:
        raise ValueError(f"invalid containerPort: {container_port}") from None
    host_start = host_end = 0
    if host_port:
        try:
            host_start, host_end = parse_port_range(host_port)
        except ValueError:
            raise ValueError(f"invalid hostPort: {host_port}") from None
        # A host range against a single container port is the range to
        # pick from; against a container range it must be as long.
        if end - start != host_end - host_start and end != start:
            raise ValueError(f"invalid ranges specified for container and host Ports: "
                             f"{container_port} and {host_port}")
    if proto.lower() not in PROTOCOLS:
        raise ValueError(f"invalid proto: {proto}")
    mappings = []
    for offset in range(end - start + 1):
        binding = str(host_start + offset) if host_port else ""
        if start == end and host_start != host_end:
            binding = f"{binding}-{host_end}"
        mappings.append(PortMapping(f"{start + offset}/{proto.lower()}", ip, binding))
    return mappings


def standard_publish_notation(spec: str) -> str:
    """docker's convertToStandardNotation: ``published=8080,target=80,protocol=udp``
    → ``8080:80/udp``; short specs are returned unchanged."""
    if "=" not in spec:
        return spec
    params = {"protocol": "tcp"}
    for param in spec.split(","):
        key, eq, value = param.partition("=")
        if not eq or not key:
            raise ValueError(f"invalid publish opts format (should be name=value but got "
                             f"'{param}')")
        params[key] = value
    return f"{params.get('published', '')}:{params.get('target', '')}/{params['protocol']}"


def parse_ports(publish: list[str], expose: list[str]) -> tuple[dict[str, Any],
                                                                dict[str, list[dict[str, str]]]]:
    """``-p`` and ``--expose`` values → Config.ExposedPorts, HostConfig.PortBindings."""
    exposed: dict[str, Any] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in publish:
        for mapping in parse_port_spec(standard_publish_notation(spec)):
            exposed[mapping.port] = {}
            bindings.setdefault(mapping.port, []).append(mapping.binding())
    for spec in expose:
        if ":" in spec:
            raise ValueError(f"invalid port format for --expose: {spec}")
        proto, port = split_proto_port(spec)
        try:
            start, end = parse_port_range(port)
        except ValueError as exc:
            raise ValueError(f"invalid range format for --expose: {spec}, error: {exc}") \
                from None
        for number in range(start, end + 1):
            exposed.setdefault(f"{number}/{proto}", {})
    return exposed, bindings


# -- the flags and the body ------------------------------------------------------


def add_network_flags(flags: FlagSet) -> FlagSet:
    """Declare the networking flags ``run`` and ``create`` share (docker's
    help texts; ``--net``, ``--net-alias`` and ``--dns-opt`` are docker's
    hidden older spellings)."""
    return (flags
            .list("add-host", None, "Add a custom host-to-IP mapping (host:ip)",
                  convert=validate_extra_host)
            .list("dns", None, "Set custom DNS servers", convert=validate_ip_address)
            .list("dns-opt", None, "Set DNS options", hidden=True, dest="dns_option")
            .list("dns-option", None, "Set DNS options")
            .list("dns-search", None, "Set custom DNS search domains",
                  convert=validate_dns_search)
            .string("domainname", None, "Container NIS domain name")
            .list("expose", None, "Expose a port or a range of ports")
            .string("hostname", "h", "Container host name")
            .string("ip", None, "IPv4 address (e.g., 172.30.100.104)")
            .string("ip6", None, "IPv6 address (e.g., 2001:db8::33)")
            .list("link", None, "Add link to another container", convert=validate_link)
            .list("link-local-ip", None, "Container IPv4/IPv6 link-local addresses")
            .string("mac-address", None, "Container MAC address (e.g., 92:d0:c6:0a:29:33)")
            .list("net", None, "Connect a container to a network",
                  convert=parse_network_attachment, type_name="network", hidden=True,
                  dest="network")
            .list("net-alias", None, "Add network-scoped alias for the container", hidden=True,
                  dest="network_alias")
            .list("network", None, "Connect a container to a network",
                  convert=parse_network_attachment, type_name="network")
            .list("network-alias", None, "Add network-scoped alias for the container")
            .list("publish", "p", "Publish a container's port(s) to the host")
            .bool("publish-all", "P", "Publish all exposed ports to random ports"))


NetworkFields = namedtuple("NetworkFields", "config host_config networking_config")
NetworkFields.__doc__ = """The create body's networking fields, by where they go: Config,
HostConfig, and NetworkingConfig (None when there is nothing to say)."""


def network_config(opts: Options) -> NetworkFields:
    """The networking part of the create body; raises ValueError with docker's
    message.  Empty lists are left out, except ``PortBindings`` (always a map)."""
    if opts.mac_address:
        validate_mac_address(opts.mac_address)
    exposed, bindings = parse_ports(opts.publish, opts.expose)
    mode, endpoint_config = endpoints(opts)
    config: dict[str, Any] = {"Hostname": opts.hostname or ""}
    if opts.domainname:
        config["Domainname"] = opts.domainname
    if exposed:
        config["ExposedPorts"] = exposed
    host: dict[str, Any] = {"NetworkMode": mode, "PortBindings": bindings}
    if opts.publish_all:
        host["PublishAllPorts"] = True
    for key, values in (("Dns", opts.dns), ("DnsSearch", opts.dns_search),
                        ("DnsOptions", opts.dns_option), ("ExtraHosts", opts.add_host),
                        ("Links", opts.link)):
        if values:
            host[key] = list(values)
    networking = {"EndpointsConfig": endpoint_config} if endpoint_config else None
    return NetworkFields(config, host, networking)
