"""docker's config.json as the CLI's credential store."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from dockyard.distribution.auth_config import DOCKER_HUB_AUTH_KEY, ConfigFile, config_dir, registry_auth_header


def test_config_dir_respects_docker_config(tmp_path):
    assert config_dir({"DOCKER_CONFIG": str(tmp_path)}) == str(tmp_path)
    assert config_dir({}).endswith(os.path.join("", ".docker"))


def test_store_lookup_remove_keep_other_keys(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"psFormat": "{{.ID}}", "auths": {"other.example": {"auth": "eDp5"}}}))
    config = ConfigFile.load(str(tmp_path))
    assert config.credentials("localhost:5000") == {}
    config.store("localhost:5000", "alice", "s3:cret")
    doc = json.loads(path.read_text())
    assert doc["psFormat"] == "{{.ID}}" and "other.example" in doc["auths"]
    assert base64.b64decode(doc["auths"]["localhost:5000"]["auth"]) == b"alice:s3:cret"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = ConfigFile.load(str(tmp_path))
    assert again.credentials("http://localhost:5000/") == {
        "serveraddress": "localhost:5000", "username": "alice", "password": "s3:cret"}
    assert again.remove("localhost:5000") is True
    assert again.remove("localhost:5000") is False
    assert "localhost:5000" not in json.loads(path.read_text())["auths"]


def test_docker_hub_key_and_identity_token(tmp_path):
    config = ConfigFile.load(str(tmp_path))
    config.store(DOCKER_HUB_AUTH_KEY, "bob", "", identity_token="refresh")
    assert json.loads((tmp_path / "config.json").read_text())["auths"] == {DOCKER_HUB_AUTH_KEY: {"identitytoken": "refresh"}}
    creds = ConfigFile.load(str(tmp_path)).credentials("docker.io")
    assert creds == {"serveraddress": DOCKER_HUB_AUTH_KEY, "identitytoken": "refresh"}


def test_keys_written_with_a_scheme_are_found(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"https://registry.lan:5000": {"auth": "dTpw"}}}))
    assert ConfigFile.load(str(tmp_path)).credentials("registry.lan:5000")["username"] == "u"


def test_broken_config_is_reported(tmp_path):
    (tmp_path / "config.json").write_text("{nope")
    with pytest.raises(ValueError) as caught:
        ConfigFile.load(str(tmp_path))
    assert "config.json" in str(caught.value)


def test_registry_auth_header_is_base64url_json():
    header = registry_auth_header({"username": "a", "password": "b?>"})
    assert "+" not in header and "/" not in header
    assert json.loads(base64.urlsafe_b64decode(header)) == {"username": "a", "password": "b?>"}
