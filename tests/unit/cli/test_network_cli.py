"""The networking CLI: ``network *`` commands, run/create's networking flags,
``port`` and ``ps``'s PORTS column.

The expected bodies, outputs and messages are the docker 28 CLI's, captured by
running it against the same fake daemon.
"""

import io
import json
import sys

import pytest

from dockyard.cli.containers import display_ports
from dockyard.cli.flags import UsageError
from dockyard.cli.main import main
from dockyard.cli.netconfig import (localhost_dns_warning, parse_port_spec, parse_ports,
                                    standard_publish_notation)
from dockyard.cli.networks import (connect_body, connect_flags, create_flags, go_time_text,
                                   network_create_body, network_table)
from dockyard.cli.run import run_flags
from dockyard.cli.runconfig import container_config
from dockyard.cli.settings import port_lines

from fakedaemon import FakeDaemon

NET_A = "aa11223344556677889900aabbccddeeff00112233445566778899aabbccddee"
NET_B = "bb11223344556677889900aabbccddeeff00112233445566778899aabbccddee"
NET_C = "cc11223344556677889900aabbccddeeff00112233445566778899aabbccddee"


def body(*argv):
    opts, args = run_flags().parse(list(argv) + ["busybox"])
    return container_config(opts, args, detach=opts.detach, auto_remove=opts.rm)


def network_part(*argv):
    got = body(*argv)
    return (got["HostConfig"]["NetworkMode"],
            (got.get("NetworkingConfig") or {}).get("EndpointsConfig"))


# -- run/create: networks and endpoints ------------------------------------------------


def test_no_network_flags_is_the_default_network_without_endpoint_settings():
    got = body()
    assert got["HostConfig"]["NetworkMode"] == "default"
    assert got["HostConfig"]["PortBindings"] == {}
    assert "NetworkingConfig" not in got and "ExposedPorts" not in got
    for key in ("Dns", "DnsSearch", "DnsOptions", "ExtraHosts", "Links", "PublishAllPorts"):
        assert key not in got["HostConfig"]


def test_user_defined_network_takes_aliases_ip_and_links():
    got = body("--network", "mynet", "--network-alias", "a", "--network-alias", "b",
               "--ip", "10.0.0.5", "--link", "web:w")
    assert got["HostConfig"]["NetworkMode"] == "mynet"
    assert got["HostConfig"]["Links"] == ["web:w"]
    assert got["NetworkingConfig"] == {"EndpointsConfig": {"mynet": {
        "IPAMConfig": {"IPv4Address": "10.0.0.5"}, "Links": ["web:w"], "Aliases": ["a", "b"]}}}


@pytest.mark.parametrize("argv,mode,endpoints", [
    (["--network", "container:foo"], "container:foo", None),
    (["--network", "mynet"], "mynet", None),
    (["--network", "host"], "host", None),
    (["--network", "none"], "none", None),
    (["--network", "mynet", "--network", "other"], "mynet", {"mynet": {}, "other": {}}),
    (["--net", "a", "--network", "b", "--net-alias", "x", "--network-alias", "y"], "a",
     {"a": {"Aliases": ["x", "y"]}, "b": {}}),
    (["--ip", "10.0.0.3"], "default", {"default": {"IPAMConfig": {"IPv4Address": "10.0.0.3"}}}),
    (["--network", "bridge", "--link", "web"], "bridge", None),
    (["--mac-address", "92:d0:c6:0a:29:33", "--network", "n"], "n",
     {"n": {"MacAddress": "92:d0:c6:0a:29:33"}}),
    (["--network", "name=foo,alias=x,ip=10.0.0.9,driver-opt=k=v,gw-priority=3"], "foo",
     {"foo": {"IPAMConfig": {"IPv4Address": "10.0.0.9"}, "Aliases": ["x"],
              "DriverOpts": {"k": "v"}, "GwPriority": 3}}),
])
def test_network_modes_and_endpoints(argv, mode, endpoints):
    assert network_part(*argv) == (mode, endpoints)


@pytest.mark.parametrize("argv,message", [
    (["--network-alias", "a"], "network-scoped aliases are only supported for user-defined "
                               "networks"),
    (["--network", "host", "--network-alias", "a"], "network-scoped aliases are only "
                                                    "supported for user-defined networks"),
    (["--network", "a", "--network", "host"], "conflicting options: cannot attach both "
                                              "user-defined and non-user-defined network-modes"),
    (["--network", "a", "--network", "a"], 'network "a" is specified multiple times'),
    (["--network-alias", "a", "--network", "name=n,alias=b"],
     "conflicting options: cannot specify both --network-alias and per-network alias"),
    (["--network", ""], "no name set for network"),
    (["--mac-address", "zz"], "zz is not a valid mac address"),
])
def test_network_option_conflicts(argv, message):
    with pytest.raises(ValueError) as info:
        body(*argv)
    assert str(info.value) == message


@pytest.mark.parametrize("argv,message", [
    (["--add-host", "x"], 'invalid argument "x" for "--add-host" flag: bad format for '
                          'add-host: "x"'),
    (["--add-host", ":1.2.3.4"], 'invalid argument ":1.2.3.4" for "--add-host" flag: bad '
                                 'format for add-host: ":1.2.3.4"'),
    (["--add-host", "a:b"], 'invalid argument "a:b" for "--add-host" flag: invalid IP address '
                            'in add-host: "b"'),
    (["--dns", "x"], 'invalid argument "x" for "--dns" flag: IP address is not correctly '
                     'formatted: x'),
    (["--dns-search", "-bad"], 'invalid argument "-bad" for "--dns-search" flag: -bad is not '
                               'a valid domain'),
    (["--link", "a:b:c"], 'invalid argument "a:b:c" for "--link" flag: bad format for links: '
                          'a:b:c'),
    (["--network", "alias=x"], 'invalid argument "alias=x" for "--network" flag: network '
                               'name/id is not specified'),
    (["--network", "name=x,foo=y"], 'invalid argument "name=x,foo=y" for "--network" flag: '
                                    'invalid field key foo'),
])
def test_bad_values_are_flag_errors(argv, message):
    with pytest.raises(UsageError) as info:
        run_flags().parse(argv + ["busybox"])
    assert str(info.value) == (f"{message}\n\nUsage:  dockyard run [OPTIONS] IMAGE [COMMAND] "
                               "[ARG...]\n\nRun 'dockyard run --help' for more information")
    assert info.value.status == 125


def test_dns_hosts_and_names():
    got = body("--dns", "8.8.8.8", "--dns", "::0001", "--dns-search", "example.com",
               "--dns-search", ".", "--dns-search", "ex.org.", "--dns-option", "ndots:2",
               "--dns-opt", "x", "--add-host", "a:1.2.3.4", "--add-host", "b=host-gateway",
               "--add-host", "c:[::1]", "--add-host", "d=::ffff:1.2.3.4", "-h", "hh",
               "--domainname", "dd.example")
    host = got["HostConfig"]
    assert host["Dns"] == ["8.8.8.8", "::1"]
    assert host["DnsSearch"] == ["example.com", ".", "ex.org"]
    assert host["DnsOptions"] == ["ndots:2", "x"]
    assert host["ExtraHosts"] == ["a:1.2.3.4", "b:host-gateway", "c:::1", "d:::ffff:1.2.3.4"]
    assert (got["Hostname"], got["Domainname"]) == ("hh", "dd.example")


def test_localhost_dns_warning():
    assert localhost_dns_warning(["8.8.8.8", "127.0.0.11", "::1"]) == \
        "Localhost DNS (127.0.0.11) may fail in containers."
    assert localhost_dns_warning(["::1"]) == "Localhost DNS (::1) may fail in containers."
    assert localhost_dns_warning(["1.1.1.1"]) == ""


# -- run/create: ports -----------------------------------------------------------------


@pytest.mark.parametrize("spec,mappings", [
    ("80", [("80/tcp", "", "")]),
    ("8080:80", [("80/tcp", "", "8080")]),
    ("127.0.0.1::53/udp", [("53/udp", "127.0.0.1", "")]),
    ("127.0.0.1:5353:53/UDP", [("53/udp", "127.0.0.1", "5353")]),
    ("[::1]:8080:80", [("80/tcp", "::1", "8080")]),
    ("::1:8080:80", [("80/tcp", "::1", "8080")]),
    ("[::1]::80", [("80/tcp", "::1", "")]),
    ("8000-8002:8000-8002", [("8000/tcp", "", "8000"), ("8001/tcp", "", "8001"),
                             ("8002/tcp", "", "8002")]),
    ("8080-8090:80", [("80/tcp", "", "8080-8090")]),
    ("9000-9001", [("9000/tcp", "", ""), ("9001/tcp", "", "")]),
    ("0.0.0.0:53:53/sctp", [("53/sctp", "0.0.0.0", "53")]),
])
def test_port_specs(spec, mappings):
    assert [tuple(m) for m in parse_port_spec(spec)] == mappings


@pytest.mark.parametrize("spec,message", [
    ("x", "invalid containerPort: x"),
    ("70000", "invalid containerPort: 70000"),
    ("80-79", "invalid containerPort: 80-79"),
    ("80/xyz", "invalid proto: xyz"),
    ("1.2.3:80:80", "invalid IP address: 1.2.3"),
    ("1:2:3:4", "invalid IP address: 1:2"),
    ("x:80", "invalid hostPort: x"),
    ("8000-8001:80-82", "invalid ranges specified for container and host Ports: 80-82 and "
                        "8000-8001"),
    ("80:", "no port specified: 80:<empty>"),
    ("", "no port specified: <empty>"),
])
def test_bad_port_specs(spec, message):
    with pytest.raises(ValueError) as info:
        parse_port_spec(spec)
    assert str(info.value) == message


def test_publish_long_syntax():
    assert standard_publish_notation("published=81,target=82,protocol=udp") == "81:82/udp"
    assert standard_publish_notation("target=80") == ":80/tcp"
    with pytest.raises(ValueError, match=r"should be name=value but got 'bad'"):
        standard_publish_notation("published=1,bad")


def test_publish_expose_and_publish_all():
    got = body("-p", "8000-8002:8000-8002", "-p", "127.0.0.1::53/udp", "-p", "90",
               "-p", "[::1]:8080:80", "-p", "8080-8090:80",
               "-p", "published=81,target=82,protocol=udp", "--expose", "5000-5001",
               "--expose", "7/udp", "-P")
    assert got["ExposedPorts"] == {p: {} for p in (
        "5000/tcp", "5001/tcp", "53/udp", "7/udp", "80/tcp", "8000/tcp", "8001/tcp",
        "8002/tcp", "82/udp", "90/tcp")}
    assert got["HostConfig"]["PortBindings"] == {
        "53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
        "80/tcp": [{"HostIp": "::1", "HostPort": "8080"}, {"HostIp": "", "HostPort": "8080-8090"}],
        "8000/tcp": [{"HostIp": "", "HostPort": "8000"}],
        "8001/tcp": [{"HostIp": "", "HostPort": "8001"}],
        "8002/tcp": [{"HostIp": "", "HostPort": "8002"}],
        "82/udp": [{"HostIp": "", "HostPort": "81"}],
        "90/tcp": [{"HostIp": "", "HostPort": ""}]}
    assert got["HostConfig"]["PublishAllPorts"] is True


@pytest.mark.parametrize("spec,message", [
    ("1:2", "invalid port format for --expose: 1:2"),
    ("x", 'invalid range format for --expose: x, error: strconv.ParseUint: parsing "x": '
          'invalid syntax'),
    ("9-8", "invalid range format for --expose: 9-8, error: invalid range specified for "
            "port: 9-8"),
])
def test_bad_expose(spec, message):
    with pytest.raises(ValueError) as info:
        parse_ports([], [spec])
    assert str(info.value) == message


# -- network create / connect: the request bodies ---------------------------------------


def create_body(*argv):
    opts, (name,) = create_flags().parse(list(argv))
    return network_create_body(name, opts)


def test_network_create_body():
    assert create_body("--subnet", "10.1.0.0/16", "--gateway", "10.1.0.1", "--ip-range",
                       "10.1.5.0/24", "--internal", "--label", "a=b", "--label", "c", "-o",
                       "com.docker.network.bridge.name=br1", "--attachable", "n1") == {
        "Name": "n1", "Driver": "bridge", "Scope": "",
        "IPAM": {"Driver": "default", "Options": {},
                 "Config": [{"Subnet": "10.1.0.0/16", "IPRange": "10.1.5.0/24",
                             "Gateway": "10.1.0.1"}]},
        "Internal": True, "Attachable": True, "Ingress": False, "ConfigOnly": False,
        "ConfigFrom": None, "Options": {"com.docker.network.bridge.name": "br1"},
        "Labels": {"a": "b", "c": ""}}


def test_network_create_groups_addresses_by_subnet():
    got = create_body("--subnet", "10.1.0.0/16,10.2.0.0/16", "--gateway", "10.2.0.1,10.1.0.1",
                      "--aux-address", "a=10.1.0.9", "--ipam-opt", "x=y", "--ipam-driver",
                      "other", "--ipv6", "--ipv4=false", "--config-from", "base", "n3")
    assert got["IPAM"] == {"Driver": "other", "Options": {"x": "y"}, "Config": [
        {"Subnet": "10.1.0.0/16", "Gateway": "10.1.0.1", "AuxiliaryAddresses": {"a": "10.1.0.9"}},
        {"Subnet": "10.2.0.0/16", "Gateway": "10.2.0.1"}]}
    assert (got["EnableIPv4"], got["EnableIPv6"]) == (False, True)
    assert got["ConfigFrom"] == {"Network": "base"}
    assert "EnableIPv4" not in create_body("n")
    v6 = create_body("--subnet", "fd00::/64", "--gateway", "fd00::1", "n6")
    assert v6["IPAM"]["Config"] == [{"Subnet": "fd00::/64", "Gateway": "fd00::1"}]


@pytest.mark.parametrize("argv,message", [
    (["--gateway", "10.0.0.1"], "every ip-range or gateway must have a corresponding subnet"),
    (["--subnet", "10.1.0.0/16", "--subnet", "10.1.1.0/24"],
     "multiple overlapping subnet configuration is not supported"),
    (["--subnet", "bad", "--subnet", "10.0.0.0/8"],
     "invalid subnet: invalid CIDR address: bad"),
    (["--subnet", "10.1.0.0/16", "--gateway", "10.2.0.1"],
     "no matching subnet for gateway 10.2.0.1"),
    (["--subnet", "10.1.0.0/16", "--gateway", "bad"], "no matching subnet for gateway bad"),
    (["--subnet", "10.1.0.0/16", "--ip-range", "bad"], "invalid CIDR address: bad"),
    (["--subnet", "10.1.0.0/16", "--ip-range", "10.2.0.0/24"],
     "no matching subnet for range 10.2.0.0/24"),
    (["--subnet", "10.1.0.0/16", "--subnet", "10.2.0.0/16", "--ip-range", "10.1.0.0/24",
      "--ip-range", "10.1.1.0/24"], "cannot configure multiple ranges (10.1.1.0/24, "
                                    "10.1.0.0/24) on the same subnet (10.1.0.0/16)"),
    (["--subnet", "10.1.0.0/16", "--subnet", "10.2.0.0/16", "--gateway", "10.1.0.1",
      "--gateway", "10.1.0.2"], "cannot configure multiple gateways (10.1.0.2, 10.1.0.1) "
                                "for the same subnet (10.1.0.0/16)"),
    (["--subnet", "10.1.0.0/16", "--aux-address", "a=10.3.0.1"],
     "no matching subnet for aux-address 10.3.0.1"),
])
def test_network_create_ipam_errors(argv, message):
    with pytest.raises(ValueError) as info:
        create_body(*argv, "n")
    assert str(info.value) == message


def test_a_single_bad_subnet_is_the_daemons_to_refuse():
    assert create_body("--subnet", "bad", "n")["IPAM"]["Config"] == [{"Subnet": "bad"}]


def test_network_create_label_errors():
    with pytest.raises(UsageError, match=r"""invalid argument " " for "--label" flag: """
                                         r"""invalid label ' ': empty name"""):
        create_flags().parse(["--label", " ", "n"])


def test_connect_body():
    opts, (_, container) = connect_flags().parse([
        "--ip", "10.0.0.4", "--alias", "a", "--alias", "b,c", "--ip6", "fd00::4", "--link",
        "x:y", "--link-local-ip", "169.254.0.1", "--driver-opt", "k=v", "--gw-priority", "2",
        "net1", "ctr"])
    assert connect_body(container, opts) == {"Container": "ctr", "EndpointConfig": {
        "IPAMConfig": {"IPv4Address": "10.0.0.4", "IPv6Address": "fd00::4",
                       "LinkLocalIPs": ["169.254.0.1"]},
        "Links": ["x:y"], "Aliases": ["a", "b", "c"], "DriverOpts": {"k": "v"},
        "GwPriority": 2}}
    opts, _ = connect_flags().parse(["net1", "ctr"])
    assert connect_body("ctr", opts) == {"Container": "ctr", "EndpointConfig": {}}
    opts, _ = connect_flags().parse(["--driver-opt", "x", "net1", "ctr"])
    with pytest.raises(ValueError, match="invalid key/value pair format in driver options"):
        connect_body("ctr", opts)


# -- network ls ----------------------------------------------------------------------


NETWORKS = [
    {"Name": "net10", "Id": NET_A, "Created": "2024-05-06T07:08:09.120000000Z",
     "Scope": "local", "Driver": "bridge", "EnableIPv4": True, "Internal": True,
     "Labels": {"a": "b"}},
    {"Name": "bridge", "Id": NET_B, "Created": "2024-05-06T07:08:09.000000001+02:00",
     "Scope": "local", "Driver": "bridge", "EnableIPv4": True, "Labels": {}},
    {"Name": "net9", "Id": NET_C, "Created": "2024-05-06T07:08:09Z", "Scope": "local",
     "Driver": "a-very-long-driver-name", "EnableIPv6": True, "Labels": None},
]


def test_network_ls_table_is_sorted_by_name():
    assert network_table(NETWORKS, "", False, True) == (
        "NETWORK ID     NAME      DRIVER                    SCOPE\n"
        "bb1122334455   bridge    bridge                    local\n"
        "cc1122334455   net9      a-very-long-driver-name   local\n"
        "aa1122334455   net10     bridge                    local\n")
    assert network_table(NETWORKS, "", True, True) == \
        "bb1122334455\ncc1122334455\naa1122334455\n"
    assert network_table(NETWORKS, "{{.ID}}", True, False).split("\n")[0] == NET_B


def test_network_ls_formats():
    fmt = "{{.CreatedAt}}|{{.Labels}}|{{.IPv4}}|{{.IPv6}}|{{.Internal}}"
    assert network_table(NETWORKS, fmt, False, True) == (
        "2024-05-06 07:08:09.000000001 +0200 +0200||true|false|false\n"
        "2024-05-06 07:08:09 +0000 UTC||false|true|false\n"
        "2024-05-06 07:08:09.12 +0000 UTC|a=b|true|false|true\n")
    first = json.loads(network_table(NETWORKS, "json", False, True).split("\n")[0])
    assert first == {"CreatedAt": "2024-05-06 07:08:09.000000001 +0200 +0200",
                     "Driver": "bridge", "ID": "bb1122334455", "IPv4": "true", "IPv6": "false",
                     "Internal": "false", "Labels": "", "Name": "bridge", "Scope": "local"}
    assert go_time_text("not a time") == "not a time"


# -- port and ps ---------------------------------------------------------------------


def test_ps_ports_column():
    ports = [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 18081, "Type": "tcp"},
             {"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 18080, "Type": "tcp"},
             {"PrivatePort": 443, "Type": "tcp"},
             *({"IP": "0.0.0.0", "PrivatePort": p, "PublicPort": p, "Type": "tcp"}
               for p in (8000, 8001, 8002)),
             {"IP": "::", "PrivatePort": 8000, "PublicPort": 8000, "Type": "tcp"},
             {"PrivatePort": 53, "Type": "udp"}, {"PrivatePort": 54, "Type": "udp"},
             {"PrivatePort": 56, "Type": "udp"}]
    assert display_ports(ports) == (
        "53-54/udp, 56/udp, 443/tcp, 0.0.0.0:8000-8002->8000-8002/tcp, [::]:8000->8000/tcp, "
        "0.0.0.0:18081->80/tcp, 127.0.0.1:18080->80/tcp")


INSPECT_PORTS = {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "18081"},
                            {"HostIp": "127.0.0.1", "HostPort": "18080"},
                            {"HostIp": "::", "HostPort": "18081"}],
                 "443/tcp": None, "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "5353"}],
                 "9/tcp": [{"HostIp": "0.0.0.0", "HostPort": "9"}]}


def test_port_lines():
    assert port_lines(INSPECT_PORTS) == [
        "9/tcp -> 0.0.0.0:9", "53/udp -> 0.0.0.0:5353", "80/tcp -> 0.0.0.0:18081",
        "80/tcp -> 127.0.0.1:18080", "80/tcp -> [::]:18081"]
    assert port_lines(INSPECT_PORTS, "80") == ["0.0.0.0:18081", "127.0.0.1:18080", "[::]:18081"]
    assert port_lines(INSPECT_PORTS, "53/udp") == ["0.0.0.0:5353"]


# -- whole commands against the fake daemon ---------------------------------------------


def empty(status):
    """A response without a body, written in one go: the fake daemon's own
    empty ``write`` after the headers can race the client's close."""
    def respond(handler):
        handler.wfile.write(f"HTTP/1.1 {status} OK\r\nContent-Length: 0\r\n\r\n".encode())
        handler.wfile.flush()
    return lambda _request: respond


@pytest.fixture
def daemon(tmp_path):
    with FakeDaemon(str(tmp_path / "d.sock")) as d:
        yield d


def dockyard(daemon, capsys, monkeypatch, *argv, stdin=""):
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    status = main(["-H", f"unix://{daemon.path}", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_network_create_prints_the_id(daemon, capsys, monkeypatch):
    daemon.reply("POST", "/networks/create", 201, {"Id": NET_A, "Warning": ""})
    status, out, _ = dockyard(daemon, capsys, monkeypatch, "network", "create", "--subnet",
                              "10.5.0.0/24", "-d", "bridge", "n1")
    assert (status, out) == (0, NET_A + "\n")
    sent = daemon.requests[-1].json()
    assert sent["Name"] == "n1" and sent["IPAM"]["Config"] == [{"Subnet": "10.5.0.0/24"}]


def test_network_create_refuses_before_sending(daemon, capsys, monkeypatch):
    status, out, err = dockyard(daemon, capsys, monkeypatch, "network", "create", "--gateway",
                                "10.0.0.1", "n1")
    assert (status, out, err) == (1, "", "every ip-range or gateway must have a corresponding "
                                         "subnet\n")
    assert daemon.requests == []
    status, _, err = dockyard(daemon, capsys, monkeypatch, "network", "create")
    assert status == 1 and err.startswith("dockyard: 'dockyard network create' requires 1 "
                                          "argument\n")


def test_network_daemon_errors_are_prefixed(daemon, capsys, monkeypatch):
    daemon.reply("POST", "/networks/create", 409, {"message": "network with name n1 already "
                                                              "exists"})
    status, _, err = dockyard(daemon, capsys, monkeypatch, "network", "create", "n1")
    assert (status, err) == (1, "Error response from daemon: network with name n1 already "
                                "exists\n")


def test_network_ls_sends_filters(daemon, capsys, monkeypatch):
    daemon.reply("GET", "/networks", 200, NETWORKS)
    status, out, _ = dockyard(daemon, capsys, monkeypatch, "network", "ls", "--filter",
                              "driver=bridge", "-f", "name=x", "-q")
    assert status == 0 and out == "bb1122334455\ncc1122334455\naa1122334455\n"
    assert json.loads(daemon.requests[-1].q("filters")) == {"driver": {"bridge": True},
                                                            "name": {"x": True}}


def test_network_rm_reports_each_failure(daemon, capsys, monkeypatch):
    daemon.reply("DELETE", "/networks/gone", 404, {"message": "network gone not found"})
    daemon.reply("DELETE", "/networks/busy", 403, {"message": "error while removing network: "
                                                              "network busy has active endpoints"})
    daemon.route("DELETE", "/networks/a", empty(204))
    status, out, err = dockyard(daemon, capsys, monkeypatch, "network", "rm", "gone", "a", "busy")
    assert (status, out) == (1, "a\n")
    assert err == ("Error response from daemon: network gone not found\n"
                   "Error response from daemon: error while removing network: network busy has "
                   "active endpoints\n")
    status, out, err = dockyard(daemon, capsys, monkeypatch, "network", "rm", "-f", "gone", "a")
    assert (status, out, err) == (0, "a\n", "")


def test_network_prune_asks_first(daemon, capsys, monkeypatch):
    daemon.reply("POST", "/networks/prune", 200, {"NetworksDeleted": ["n1", "n2"]})
    warning = ("WARNING! This will remove all custom networks not used by at least one "
               "container.\nAre you sure you want to continue? [y/N] ")
    status, out, _ = dockyard(daemon, capsys, monkeypatch, "network", "prune", stdin="n\n")
    assert (status, out) == (0, warning) and daemon.requests == []
    status, out, _ = dockyard(daemon, capsys, monkeypatch, "network", "prune", "--filter",
                              "until=24h", stdin="y\n")
    assert (status, out) == (0, warning + "Deleted Networks:\nn1\nn2\n\n")
    assert json.loads(daemon.requests[-1].q("filters")) == {"until": {"24h": True}}


def test_network_connect_and_disconnect(daemon, capsys, monkeypatch):
    daemon.route("POST", "/networks/n1/connect", empty(200))
    daemon.route("POST", "/networks/n1/disconnect", empty(200))
    status, out, _ = dockyard(daemon, capsys, monkeypatch, "network", "connect", "--ip",
                              "10.0.0.4", "--alias", "db", "n1", "web")
    assert (status, out) == (0, "")
    assert daemon.requests[-1].json() == {"Container": "web", "EndpointConfig": {
        "IPAMConfig": {"IPv4Address": "10.0.0.4"}, "Aliases": ["db"]}}
    status, out, _ = dockyard(daemon, capsys, monkeypatch, "network", "disconnect", "-f", "n1",
                              "web")
    assert (status, out) == (0, "")
    assert daemon.requests[-1].json() == {"Container": "web", "Force": True}


def test_network_inspect(daemon, capsys, monkeypatch):
    daemon.reply("GET", "/networks/n1", 200, {"Name": "n1", "Id": NET_A, "Containers": {
        "c" * 64: {"Name": "web", "IPv4Address": "172.18.0.2/16"}}})
    daemon.reply("GET", "/networks/nope", 404, {"message": "network nope not found"})
    status, out, err = dockyard(daemon, capsys, monkeypatch, "network", "inspect", "-f",
                                "{{.Name}} {{range .Containers}}{{.IPv4Address}}{{end}}",
                                "n1", "nope")
    assert (status, out) == (1, "n1 172.18.0.2/16\n")
    assert err == "Error response from daemon: network nope not found\n"


def test_run_warns_about_localhost_dns(daemon, capsys, monkeypatch):
    daemon.reply("POST", "/containers/create", 201, {"Id": "c" * 64, "Warnings": []})
    status, out, err = dockyard(daemon, capsys, monkeypatch, "create", "--dns", "127.0.0.1",
                                "--network", "container:web", "busybox")
    assert (status, out) == (0, "c" * 64 + "\n")
    assert err == "WARNING: Localhost DNS (127.0.0.1) may fail in containers.\n"
    assert daemon.requests[-1].json()["HostConfig"]["NetworkMode"] == "container:web"


def test_run_reports_a_bad_publish_spec(daemon, capsys, monkeypatch):
    status, _, err = dockyard(daemon, capsys, monkeypatch, "run", "-p", "80/xyz", "busybox")
    assert status == 125 and daemon.requests == []
    assert err == "dockyard: invalid proto: xyz\n\nRun 'dockyard run --help' for more information\n"


def test_port_command(daemon, capsys, monkeypatch):
    daemon.reply("GET", "/containers/web/json", 200,
                 {"Id": "c" * 64, "NetworkSettings": {"Ports": INSPECT_PORTS}})
    status, out, _ = dockyard(daemon, capsys, monkeypatch, "port", "web", "80/tcp")
    assert (status, out) == (0, "0.0.0.0:18081\n127.0.0.1:18080\n[::]:18081\n")
    status, _, err = dockyard(daemon, capsys, monkeypatch, "port", "web", "443")
    assert (status, err) == (1, "Error: No public port '443' published for web\n")
    status, _, err = dockyard(daemon, capsys, monkeypatch, "port", "web", "99999")
    assert (status, err) == (1, 'Error: invalid port (99999): strconv.ParseUint: parsing '
                                '"99999": value out of range\n')
