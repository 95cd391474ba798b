"""The /volumes endpoints of a real dockyardd, spoken over its unix socket."""

from __future__ import annotations

import json
import os
import time
import urllib.parse

import pytest

from unixhttp import UnixHTTPConnection


@pytest.fixture
def vapi(api):
    def call(method: str, path: str, body=None):
        status, payload, _ = api(method, path, body)
        return status, payload

    return call


@pytest.fixture
def volumes(vapi):
    """Names created by a test; removed afterwards even if it fails."""
    made: list[str] = []
    yield made
    for name in made:
        vapi("DELETE", f"/volumes/{name}?force=1")


def filters(**kw) -> str:
    return urllib.parse.quote(json.dumps(kw))


def test_create_inspect_list_remove(vapi, volumes, daemon):
    status, v = vapi("POST", "/v1.47/volumes/create", {"Name": "itest-data", "Labels": {"suite": "volumes"}})
    volumes.append("itest-data")
    assert status == 201
    assert v["Name"] == "itest-data" and v["Driver"] == "local" and v["Scope"] == "local"
    assert v["Labels"] == {"suite": "volumes"} and v["Options"] == {}
    assert v["Mountpoint"] == os.path.join(daemon.data_root, "volumes", "itest-data", "_data")
    assert os.path.isdir(v["Mountpoint"])
    status, again = vapi("GET", "/volumes/itest-data")
    assert status == 200 and again == v
    status, listing = vapi("GET", f"/volumes?filters={filters(label=['suite=volumes'])}")
    assert status == 200 and [x["Name"] for x in listing["Volumes"]] == ["itest-data"]
    assert listing["Warnings"] == []
    status, _ = vapi("DELETE", "/volumes/itest-data")
    assert status == 204
    assert not os.path.exists(os.path.dirname(v["Mountpoint"]))
    status, body = vapi("GET", "/volumes/itest-data")
    assert status == 404 and body["message"] == "get itest-data: no such volume"


def test_create_twice_returns_the_same_volume(vapi, volumes):
    _, first = vapi("POST", "/volumes/create", {"Name": "itest-twice"})
    volumes.append("itest-twice")
    status, second = vapi("POST", "/volumes/create", {"Name": "itest-twice"})
    assert status == 201 and second == first


def test_anonymous_volume_and_prune(vapi, volumes):
    _, anon = vapi("POST", "/volumes/create", {})
    _, named = vapi("POST", "/volumes/create", {"Name": "itest-named"})
    volumes += [anon["Name"], "itest-named"]
    assert len(anon["Name"]) == 64 and "com.docker.volume.anonymous" in anon["Labels"]
    status, report = vapi("POST", "/volumes/prune")
    assert status == 200 and anon["Name"] in report["VolumesDeleted"]
    assert "itest-named" not in report["VolumesDeleted"]
    status, report = vapi("POST", f"/volumes/prune?filters={filters(all=['true'], label=['nothing-has-this'])}")
    assert status == 200 and report == {"VolumesDeleted": [], "SpaceReclaimed": 0}


def test_bad_requests(vapi):
    status, body = vapi("POST", "/volumes/create", {"Name": "../etc"})
    assert status == 400 and "includes invalid characters for a local volume name" in body["message"]
    status, body = vapi("POST", "/volumes/create", {"Name": "itest-opts", "DriverOpts": {"colour": "red"}})
    assert status == 400 and body["message"] == 'invalid option: "colour"'
    status, body = vapi("POST", "/volumes/create", {"Name": "itest-drv", "Driver": "nosuchplugin"})
    assert status == 404
    status, body = vapi("GET", f"/volumes?filters={filters(colour=['red'])}")
    assert status == 400
    status, _ = vapi("DELETE", "/volumes/itest-never-made")
    assert status == 404
    status, _ = vapi("DELETE", "/volumes/itest-never-made?force=1")
    assert status == 204


def test_tmpfs_volume_options_are_reported(vapi, volumes):
    opts = {"type": "tmpfs", "device": "tmpfs", "o": "size=1m,uid=1000"}
    status, v = vapi("POST", "/volumes/create", {"Name": "itest-tmpfs", "DriverOpts": opts})
    volumes.append("itest-tmpfs")
    assert status == 201 and v["Options"] == opts


def test_volume_events(vapi, volumes, daemon):
    _, v = vapi("POST", "/volumes/create", {"Name": "itest-events"})
    vapi("DELETE", "/volumes/itest-events")
    conn = UnixHTTPConnection(daemon.socket)
    until = int(time.time()) + 1
    conn.request("GET", f"/events?since=0&until={until}&filters={filters(type=['volume'], volume=['itest-events'])}")
    resp = conn.getresponse()
    lines = [json.loads(line) for line in resp.read().splitlines() if line.strip()]
    conn.close()
    assert [e["Action"] for e in lines] == ["create", "destroy"]
