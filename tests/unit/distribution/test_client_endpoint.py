"""Image reference → registry URL, insecure registries, daemon.json, config.json keys."""

from __future__ import annotations

import json
import os

import pytest

from dockyard.distribution.auth_config import DOCKER_HUB_AUTH_KEY, auth_key, registry_domain
from dockyard.distribution.client_endpoint import (
    DaemonConfig, Endpoint, InsecureRegistries, daemon_config_paths, endpoints, split_host,
)
from dockyard.errors import InvalidArgument
from dockyard.images.reference import parse_reference

DEFAULT = InsecureRegistries()

ENDPOINTS = [
    # reference, expected [(scheme, host, verify)]
    ("busybox", [("https", "registry-1.docker.io", True)]),
    ("docker.io/library/busybox:1.36", [("https", "registry-1.docker.io", True)]),
    ("index.docker.io/user/app", [("https", "registry-1.docker.io", True)]),
    ("localhost:5000/app:v1", [("https", "localhost:5000", False), ("http", "localhost:5000", True)]),
    ("localhost/app", [("https", "localhost", False), ("http", "localhost", True)]),
    ("127.0.0.1:15000/acc/bb:v1", [("https", "127.0.0.1:15000", False), ("http", "127.0.0.1:15000", True)]),
    ("127.9.9.9:5000/x", [("https", "127.9.9.9:5000", False), ("http", "127.9.9.9:5000", True)]),
    ("[::1]:5000/app", [("https", "[::1]:5000", False), ("http", "[::1]:5000", True)]),
    ("ghcr.io/org/app", [("https", "ghcr.io", True)]),
    ("10.1.2.3:5000/app", [("https", "10.1.2.3:5000", True)]),
]


@pytest.mark.parametrize("text,expected", ENDPOINTS)
def test_reference_to_endpoints(text, expected):
    ref = parse_reference(text)
    got = [(e.scheme, e.host, e.verify_tls) for e in endpoints(ref.domain, DEFAULT)]
    assert got == expected


def test_endpoint_urls():
    assert Endpoint("http", "localhost:5000").url("/v2/acc/bb/manifests/v1") == "http://localhost:5000/v2/acc/bb/manifests/v1"
    with pytest.raises(InvalidArgument):
        Endpoint("ftp", "x")


def test_insecure_registries_by_name_and_network():
    insecure = InsecureRegistries.from_list(["registry.lan:5000", "http://other.lan", "10.0.0.0/8", "fd00::/8"])
    assert insecure.is_insecure("registry.lan:5000")
    assert not insecure.is_insecure("registry.lan:5001")
    assert insecure.is_insecure("other.lan") and insecure.is_insecure("other.lan:443")
    assert insecure.is_insecure("10.1.2.3:5000")
    assert insecure.is_insecure("[fd00::1]:5000")
    assert insecure.is_insecure("127.0.0.1:1")  # loopback always
    assert not insecure.is_insecure("11.0.0.1:5000")
    assert not insecure.is_insecure("docker.io")
    assert [e.scheme for e in endpoints("10.1.2.3:5000", insecure)] == ["https", "http"]
    with pytest.raises(InvalidArgument):
        InsecureRegistries.from_list(["not/a/cidr"])


def test_split_host():
    assert split_host("localhost:5000") == ("localhost", 5000)
    assert split_host("[::1]:5000") == ("::1", 5000)
    assert split_host("[::1]") == ("::1", None)
    assert split_host("registry.example") == ("registry.example", None)


def test_registry_domain_and_auth_key():
    assert registry_domain("https://index.docker.io/v1/") == "docker.io"
    assert registry_domain("registry-1.docker.io") == "docker.io"
    assert registry_domain("") == "docker.io"
    assert registry_domain("http://localhost:5000/") == "localhost:5000"
    assert registry_domain("LOCALHOST:5000") == "localhost:5000"
    assert auth_key("docker.io") == DOCKER_HUB_AUTH_KEY
    assert auth_key("localhost:5000") == "localhost:5000"


def test_daemon_config_is_reread_when_it_changes(tmp_path):
    paths = daemon_config_paths(str(tmp_path))
    assert paths[0] == os.path.join(str(tmp_path), "daemon.json")
    config = DaemonConfig([paths[0]])
    assert not config.insecure_registries().is_insecure("registry.lan:5000")
    (tmp_path / "daemon.json").write_text(json.dumps({"insecure-registries": ["registry.lan:5000"], "debug": True}))
    assert config.insecure_registries().is_insecure("registry.lan:5000")
    (tmp_path / "daemon.json").write_text(json.dumps({"insecure-registries": []}) + " " * 10)
    assert not config.insecure_registries().is_insecure("registry.lan:5000")
    (tmp_path / "daemon.json").write_text('{"insecure-registries": "oops"}')
    with pytest.raises(InvalidArgument):
        config.insecure_registries()


def test_daemon_config_falls_back_to_the_next_candidate(tmp_path):
    second = tmp_path / "etc.json"
    second.write_text(json.dumps({"insecure-registries": ["far.lan"]}))
    config = DaemonConfig([str(tmp_path / "missing.json"), str(second)])
    assert config.insecure_registries().is_insecure("far.lan:5000")
