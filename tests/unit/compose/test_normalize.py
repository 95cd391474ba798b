import pytest

from dockyard.compose.normalize import normalize_service, parse_port, parse_volume
from dockyard.errors import InvalidArgument


@pytest.mark.parametrize("spec, expected", [
    ("80", [{"target": 80, "protocol": "tcp"}]),
    (80, [{"target": 80, "protocol": "tcp"}]),
    ("8080:80", [{"target": 80, "published": "8080", "protocol": "tcp"}]),
    ("127.0.0.1:8080:80/udp", [{"target": 80, "published": "8080", "protocol": "udp", "host_ip": "127.0.0.1"}]),
    ("127.0.0.1::80", [{"target": 80, "protocol": "tcp", "host_ip": "127.0.0.1"}]),
    ("[::1]:8080:80", [{"target": 80, "published": "8080", "protocol": "tcp", "host_ip": "::1"}]),
    ("9000-9001:80-81", [{"target": 80, "published": "9000", "protocol": "tcp"},
                         {"target": 81, "published": "9001", "protocol": "tcp"}]),
    ({"target": "80", "published": 8080}, [{"target": 80, "published": "8080", "protocol": "tcp"}]),
])
def test_parse_port(spec, expected):
    assert parse_port(spec, "service 'web'") == expected


@pytest.mark.parametrize("spec", ["1:2:3:4", "x", "0", "70000", "1-3:1-2", "80:"])
def test_parse_port_rejects(spec):
    with pytest.raises(InvalidArgument, match="service 'web' key 'ports'"):
        parse_port(spec, "service 'web'")


@pytest.mark.parametrize("spec, expected", [
    ("/data", {"type": "volume", "target": "/data"}),
    ("db:/data", {"type": "volume", "source": "db", "target": "/data"}),
    ("db:/data:ro", {"type": "volume", "source": "db", "target": "/data", "read_only": True}),
    ("./conf:/etc/x:rw", {"type": "bind", "source": "/p/conf", "target": "/etc/x"}),
    ("../up:/up", {"type": "bind", "source": "/up", "target": "/up"}),
    ("/abs:/abs:ro,z", {"type": "bind", "source": "/abs", "target": "/abs", "read_only": True}),
    ({"type": "bind", "source": "./s", "target": "/s"}, {"type": "bind", "source": "/p/s", "target": "/s"}),
])
def test_parse_volume(spec, expected):
    assert parse_volume(spec, "/p", "service 'web'") == expected


@pytest.mark.parametrize("spec", ["db:data", "a:/b:bogus", "a:/b:ro:x", {"source": "x"}])
def test_parse_volume_rejects(spec):
    with pytest.raises(InvalidArgument, match="service 'web' key 'volumes'"):
        parse_volume(spec, "/p", "service 'web'")


def test_short_forms_become_long_forms():
    out = normalize_service("web", {
        "build": "./app",
        "command": "sh -c 'echo hi'",
        "environment": ["A=1", "B=", "FROM_ENV", "NOT_SET"],
        "labels": {"n": 1, "b": True},
        "depends_on": ["db"],
        "networks": ["front"],
        "dns": "8.8.8.8",
        "tmpfs": "/run",
        "expose": [3000],
        "healthcheck": {"test": "true"},
    }, "/p", {"FROM_ENV": "x"})
    assert out == {
        "build": {"context": "/p/app", "dockerfile": "Dockerfile"},
        "command": ["sh", "-c", "echo hi"],
        "environment": {"A": "1", "B": "", "FROM_ENV": "x", "NOT_SET": None},
        "labels": {"n": "1", "b": "true"},
        "depends_on": {"db": {}},
        "networks": {"front": None},
        "dns": ["8.8.8.8"],
        "tmpfs": ["/run"],
        "expose": ["3000"],
        "healthcheck": {"test": ["CMD-SHELL", "true"]},
    }


def test_env_file_is_read_and_environment_wins(tmp_path):
    (tmp_path / "web.env").write_text("# c\nA=from-file\nB='quoted'\n")
    out = normalize_service("web", {"env_file": "web.env", "environment": {"A": "inline"}}, str(tmp_path), {})
    assert out == {"environment": {"A": "inline", "B": "quoted"}}


def test_missing_env_file_names_the_service(tmp_path):
    from dockyard.errors import NotFound
    with pytest.raises(NotFound, match="service 'web' key 'env_file'"):
        normalize_service("web", {"env_file": ["nope.env"]}, str(tmp_path), {})
