"""``network create``, ``ls``, ``inspect``, ``rm``, ``prune``, ``connect`` and
``disconnect``: docker's network commands, flag for flag.

What each sends (Engine API) and prints:

* ``create NAME`` → ``POST /networks/create``; prints the new network's ID.
  ``--subnet``, ``--ip-range``, ``--gateway`` and ``--aux-address`` are
  grouped into one IPAM config per subnet first, with docker's checks and
  messages (``no matching subnet for gateway …``), so a mistake is reported
  before anything is sent.
* ``ls`` → ``GET /networks?filters=…``; a table (NETWORK ID, NAME, DRIVER,
  SCOPE) sorted by name, or ``-q`` IDs, or ``--format``.
* ``inspect NET…`` → ``GET /networks/{id}``; a JSON array, or ``-f`` template.
* ``rm NET…`` → ``DELETE /networks/{id}`` each; prints each name removed and
  each error as it happens, then exits 1 if any failed (``-f``: a network
  that does not exist is not an error).
* ``prune`` → asks, then ``POST /networks/prune``; lists what went.
* ``connect NET CONTAINER`` → ``POST /networks/{id}/connect`` with the
  endpoint settings (``--ip``, ``--alias``, …); ``disconnect`` →
  ``POST /networks/{id}/disconnect``.  Both print nothing.
"""

from __future__ import annotations

import ipaddress
import re

from dockyard import errors
from dockyard.cli.containers import parse_filters
from dockyard.cli.flags import FlagSet, key_value_map
from dockyard.cli.formatter import Labelled, render, truncate_id
from dockyard.cli.netconfig import endpoint_settings, go_ip_string, parse_ip, string_slice, validate_link
from dockyard.cli.session import Session, StatusError, describe
from dockyard.cli.settings import natural_key

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.flags import Options

NETWORK_HEADERS = {
    "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv4": "IPV4",
    "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS", "Label": "LABEL",
    "CreatedAt": "CREATED AT",
}
NETWORK_TABLE = "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
PRUNE_WARNING = ("WARNING! This will remove all custom networks not used by at least one "
                 "container.\nAre you sure you want to continue?")


def _path(network: str, action: str = "") -> str:
    from dockyard.client.api import quote_segment

    return f"/networks/{quote_segment(network)}" + (f"/{action}" if action else "")


def validate_label(value: str) -> str:
    """docker's ValidateLabel: a non-empty key without whitespace."""
    key = value.partition("=")[0].lstrip(" \t")
    if not key:
        raise ValueError(f"invalid label '{value}': empty name")
    if " " in key or "\t" in key:
        raise ValueError(f"label '{key}' contains whitespaces")
    return value


# -- create ------------------------------------------------------------------


def _parse_cidr(text: str) -> tuple[Any, Any]:
    """Go's ``net.ParseCIDR``: the address as written and its network."""
    address, slash, bits = text.partition("/")
    ip = parse_ip(address)
    if ip is None or not slash or not bits.isascii() or not bits.isdigit():
        raise ValueError(f"invalid CIDR address: {text}")
    try:
        return ip, ipaddress.ip_network(f"{ip}/{int(bits)}", strict=False)
    except ValueError:
        raise ValueError(f"invalid CIDR address: {text}") from None


def subnet_matches(subnet: str, data: str) -> bool:
    """docker's subnetMatches: is the address (or the CIDR's address) of
    ``data`` inside ``subnet``?"""
    try:
        network = _parse_cidr(subnet)[1]
    except ValueError as exc:
        raise ValueError(f"invalid subnet: {exc}") from None
    ip = _parse_cidr(data)[0] if "/" in data else parse_ip(data)
    if ip is None:
        return False
    ip = ipaddress.ip_address(go_ip_string(ip))  # an IPv4-mapped address is IPv4
    return ip.version == network.version and ip in network


def ipam_configs(subnets: list[str], ip_ranges: list[str], gateways: list[str],
                 aux_addresses: dict[str, str]) -> list[dict[str, Any]]:
    """docker's createIPAMConfig: one IPAM config per subnet (in the order
    given), each with the ip-range, gateway and auxiliary addresses inside it.
    Raises ValueError with docker's message."""
    if len(subnets) < len(ip_ranges) or len(subnets) < len(gateways):
        raise ValueError("every ip-range or gateway must have a corresponding subnet")
    configs: dict[str, dict[str, Any]] = {}
    for subnet in subnets:
        for other in configs:
            if subnet_matches(subnet, other) or subnet_matches(other, subnet):
                raise ValueError("multiple overlapping subnet configuration is not supported")
        configs[subnet] = {"Subnet": subnet}
    for field, values, what, plural in (("IPRange", ip_ranges, "range", "ranges"),
                                         ("Gateway", gateways, "gateway", "gateways")):
        for value in values:
            matched = False
            for subnet in subnets:
                if field == "IPRange":
                    _parse_cidr(value)
                if not subnet_matches(subnet, value):
                    continue
                if field in configs[subnet]:
                    on = "on the same subnet" if field == "IPRange" else "for the same subnet"
                    raise ValueError(f"cannot configure multiple {plural} ({value}, "
                                     f"{configs[subnet][field]}) {on} ({subnet})")
                configs[subnet][field] = value
                matched = True
            if not matched:
                raise ValueError(f"no matching subnet for {what} {value}")
    for name, address in aux_addresses.items():
        matched = False
        for subnet in subnets:
            if subnet_matches(subnet, address):
                configs[subnet].setdefault("AuxiliaryAddresses", {})[name] = address
                matched = True
        if not matched:
            raise ValueError(f"no matching subnet for aux-address {address}")
    return list(configs.values())


def create_flags() -> FlagSet:
    flags = FlagSet("network create", "[OPTIONS] NETWORK", "Create a network", min_args=1,
                    max_args=1)
    flags.bool("attachable", None, "Enable manual container attachment")
    flags.list("aux-address", None, "Auxiliary IPv4 or IPv6 addresses used by Network driver",
               type_name="map")
    flags.string("config-from", None, "The network from which to copy the configuration")
    flags.bool("config-only", None, "Create a configuration only network")
    flags.string("driver", "d", "Driver to manage the Network", default="bridge")
    flags.list("gateway", None, "IPv4 or IPv6 Gateway for the master subnet",
               convert=string_slice, type_name="strings")
    flags.bool("ingress", None, "Create swarm routing-mesh network")
    flags.bool("internal", None, "Restrict external access to the network")
    flags.list("ip-range", None, "Allocate container ip from a sub-range", convert=string_slice,
               type_name="strings")
    flags.string("ipam-driver", None, "IP Address Management Driver", default="default")
    flags.list("ipam-opt", None, "Set IPAM driver specific options", type_name="map")
    flags.bool("ipv4", None, "Enable or disable IPv4 address assignment (default true)",
               default=True)
    flags.bool("ipv6", None, "Enable or disable IPv6 address assignment")
    flags.list("label", None, "Set metadata on a network", convert=validate_label)
    flags.list("opt", "o", "Set driver specific options", type_name="map")
    flags.string("scope", None, "Control the network's scope")
    flags.list("subnet", None, "Subnet in CIDR format that represents a network segment",
               convert=string_slice, type_name="strings")
    return flags


def _flatten(values: list[list[str]]) -> list[str]:
    return [item for value in values for item in value]


def network_create_body(name: str, opts: Options) -> dict[str, Any]:
    """The body of ``POST /networks/create`` (docker 28's NetworkCreate
    request; ``EnableIPv4``/``EnableIPv6`` only when given)."""
    configs = ipam_configs(_flatten(opts.subnet), _flatten(opts.ip_range),
                           _flatten(opts.gateway), key_value_map(opts.aux_address))
    body: dict[str, Any] = {
        "Name": name,
        "Driver": opts.driver,
        "Scope": opts.scope or "",
        "IPAM": {"Driver": opts.ipam_driver, "Options": key_value_map(opts.ipam_opt),
                 "Config": configs},
        "Internal": opts.internal,
        "Attachable": opts.attachable,
        "Ingress": opts.ingress,
        "ConfigOnly": opts.config_only,
        "ConfigFrom": {"Network": opts.config_from} if opts.config_from else None,
        "Options": key_value_map(opts.opt),
        "Labels": key_value_map(opts.label),
    }
    if "ipv4" in opts.changed:
        body["EnableIPv4"] = opts.ipv4
    if "ipv6" in opts.changed:
        body["EnableIPv6"] = opts.ipv6
    return body


def cmd_network_create(session: Session, argv: list[str]) -> int:
    opts, (name,) = create_flags().parse(argv)
    try:
        body = network_create_body(name, opts)
    except ValueError as exc:
        raise StatusError(str(exc), 1) from None
    created = session.client.post("/networks/create", None, body) or {}
    session.out(created.get("Id", ""))
    return 0


# -- ls --------------------------------------------------------------------------


def go_time_text(stamp: str) -> str:
    """An RFC 3339 time from the API as Go's ``time.Time.String()`` prints it:
    "2024-01-02 03:04:05.123456789 +0000 UTC"."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", stamp)
    if match is None:
        return stamp
    day, clock, fraction, zone = match.groups()
    fraction = (fraction or "").rstrip("0").rstrip(".")
    if zone == "Z":
        zone_text = "+0000 UTC"
    else:
        offset = zone.replace(":", "")
        zone_text = f"{offset} {offset}"
    return f"{day} {clock}{fraction} {zone_text}"


class NetworkRow(Labelled):
    """One line of ``network ls``: the fields ``--format`` can name."""

    def __init__(self, network: dict[str, Any], trunc: bool):
        self._raw = network
        self._trunc = trunc

    @property
    def ID(self) -> str:
        ident = self._raw.get("Id", "")
        return truncate_id(ident) if self._trunc else ident

    @property
    def Name(self) -> str:
        return self._raw.get("Name", "")

    @property
    def Driver(self) -> str:
        return self._raw.get("Driver", "")

    @property
    def Scope(self) -> str:
        return self._raw.get("Scope", "")

    @property
    def IPv4(self) -> str:
        return "true" if self._raw.get("EnableIPv4") else "false"

    @property
    def IPv6(self) -> str:
        return "true" if self._raw.get("EnableIPv6") else "false"

    @property
    def Internal(self) -> str:
        return "true" if self._raw.get("Internal") else "false"

    @property
    def CreatedAt(self) -> str:
        return go_time_text(self._raw.get("Created", ""))

    def __json__(self) -> dict[str, str]:
        fields = ("CreatedAt", "Driver", "ID", "IPv4", "IPv6", "Internal", "Labels", "Name",
                  "Scope")
        return {name: getattr(self, name) for name in fields}


def network_table(networks: list[dict[str, Any]], fmt: str, quiet: bool, trunc: bool) -> str:
    """``network ls``'s output: sorted by name (naturally), as docker does."""
    ordered = sorted(networks, key=lambda n: natural_key(n.get("Name", "")))
    if quiet and fmt in ("", "table"):
        fmt = "{{.ID}}"
    return render(fmt, [NetworkRow(n, trunc) for n in ordered], NETWORK_HEADERS, NETWORK_TABLE)


def cmd_network_ls(session: Session, argv: list[str]) -> int:
    flags = FlagSet("network ls", "[OPTIONS]", "List networks", max_args=0,
                    aliases=["network ls", "network list"])
    flags.list("filter", "f", 'Provide filter values (e.g. "driver=bridge")', type_name="filter")
    flags.string("format", None, "Format output using a custom template")
    flags.bool("no-trunc", None, "Do not truncate the output")
    flags.bool("quiet", "q", "Only display network IDs")
    opts, _ = flags.parse(argv)
    networks = session.client.get("/networks", {"filters": parse_filters(opts.filter)}) or []
    session.stdout.write(network_table(networks, opts.format or "", opts.quiet,
                                       not opts.no_trunc))
    return 0


# -- inspect, rm, prune ---------------------------------------------------------------


def cmd_network_inspect(session: Session, argv: list[str]) -> int:
    from dockyard.cli.system import _print_inspected

    flags = FlagSet("network inspect", "[OPTIONS] NETWORK [NETWORK...]",
                    "Display detailed information on one or more networks", min_args=1)
    flags.string("format", "f", "Format output using a custom template")
    flags.bool("verbose", "v", "Verbose output for diagnostics")
    opts, names = flags.parse(argv)
    found: list[Any] = []
    failures: list[str] = []
    for name in names:
        try:
            found.append(session.client.get(_path(name), {"verbose": opts.verbose}))
        except errors.NotFound as exc:
            failures.append(describe(exc))
    _print_inspected(session, found, opts.format)
    if failures:
        raise StatusError("\n".join(failures), 1)
    return 0


def cmd_network_rm(session: Session, argv: list[str]) -> int:
    flags = FlagSet("network rm", "NETWORK [NETWORK...]", "Remove one or more networks",
                    min_args=1, aliases=["network rm", "network remove"])
    flags.bool("force", "f", "Do not error if the network does not exist")
    opts, names = flags.parse(argv)
    failed = False
    for name in names:
        try:
            session.client.delete(_path(name))
        except errors.NotFound as exc:
            if not opts.force:
                session.err(describe(exc))
                failed = True
            continue
        except errors.DockyardError as exc:
            session.err(describe(exc))
            failed = True
            continue
        session.out(name)
    if failed:
        raise StatusError("", 1)
    return 0


def cmd_network_prune(session: Session, argv: list[str]) -> int:
    from dockyard.cli.prune import confirm

    flags = FlagSet("network prune", "[OPTIONS]", "Remove all unused networks", max_args=0)
    flags.list("filter", None, 'Provide filter values (e.g. "until=<timestamp>")',
               type_name="filter")
    flags.bool("force", "f", "Do not prompt for confirmation")
    opts, _ = flags.parse(argv)
    filters = parse_filters(opts.filter)
    if not opts.force and not confirm(session, PRUNE_WARNING):
        return 0
    report = session.client.post("/networks/prune", {"filters": filters}) or {}
    deleted = report.get("NetworksDeleted") or []
    if deleted:
        session.out("Deleted Networks:\n" + "".join(f"{name}\n" for name in deleted))
    return 0


# -- connect, disconnect -----------------------------------------------------------------


def connect_flags() -> FlagSet:
    flags = FlagSet("network connect", "[OPTIONS] NETWORK CONTAINER",
                    "Connect a container to a network", min_args=2, max_args=2)
    flags.list("alias", None, "Add network-scoped alias for the container",
               convert=string_slice, type_name="strings")
    flags.list("driver-opt", None, "driver options for the network", convert=string_slice,
               type_name="strings")
    flags.int("gw-priority", None, "Highest gw-priority provides the default gateway. "
              "Accepts positive and negative values.")
    flags.string("ip", None, 'IPv4 address (e.g., "172.30.100.104")')
    flags.string("ip6", None, 'IPv6 address (e.g., "2001:db8::33")')
    flags.list("link", None, "Add link to another container", convert=validate_link)
    flags.list("link-local-ip", None, "Add a link-local address for the container",
               convert=string_slice, type_name="strings")
    return flags


def connect_body(container: str, opts: Options) -> dict[str, Any]:
    """The body of ``POST /networks/{id}/connect``; settings left at their
    zero value are left out."""
    driver_opts: dict[str, str] = {}
    for item in _flatten(opts.driver_opt):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError("invalid key/value pair format in driver options")
        driver_opts[key.strip()] = value.strip()
    endpoint = endpoint_settings(opts.ip or "", opts.ip6 or "", _flatten(opts.link_local_ip), opts.link,
                                 _flatten(opts.alias), driver_opts, opts.gw_priority)
    return {"Container": container, "EndpointConfig": endpoint}


def cmd_network_connect(session: Session, argv: list[str]) -> int:
    opts, (network, container) = connect_flags().parse(argv)
    try:
        body = connect_body(container, opts)
    except ValueError as exc:
        raise StatusError(str(exc), 1) from None
    session.client.post(_path(network, "connect"), None, body)
    return 0


def cmd_network_disconnect(session: Session, argv: list[str]) -> int:
    flags = FlagSet("network disconnect", "[OPTIONS] NETWORK CONTAINER",
                    "Disconnect a container from a network", min_args=2, max_args=2)
    flags.bool("force", "f", "Force the container to disconnect from a network")
    opts, (network, container) = flags.parse(argv)
    session.client.post(_path(network, "disconnect"), None,
                        {"Container": container, "Force": opts.force})
    return 0
