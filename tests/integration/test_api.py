"""The Engine API spoken directly: status codes, error bodies, streams, events."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse

from unixhttp import UnixHTTPConnection



def test_ping_and_version_headers(api):
    status, body, resp = api("GET", "/_ping")
    assert status == 200 and body == b"OK"
    assert resp.getheader("API-Version") == "1.47"
    status, body, _ = api("HEAD", "/_ping")
    assert status == 200
    status, body, _ = api("GET", "/v1.24/version")
    assert status == 200 and body["ApiVersion"] == "1.47" and body["MinAPIVersion"] == "1.24"
    status, body, _ = api("GET", "/v1.99/version")
    assert status == 400 and "too new" in body["message"]
    status, body, _ = api("GET", "/v1.12/version")
    assert status == 400 and "too old" in body["message"]


def test_info_has_real_figures(api):
    status, info, _ = api("GET", "/info")
    assert status == 200
    assert info["NCPU"] >= 1 and info["MemTotal"] > 0
    assert info["Images"] >= 1
    assert info["MemoryLimit"] is True


def test_malformed_json_is_400(api):
    status, body, _ = api("POST", "/containers/create", b"{not json")
    assert status == 400
    assert "invalid JSON" in body["message"]
    status, body, _ = api("POST", "/containers/create", {"Cmd": ["true"]})
    assert status == 400


def test_not_found_and_conflicts(api):
    status, body, _ = api("GET", "/containers/nosuch/json")
    assert status == 404 and body["message"] == "No such container: nosuch"
    status, body, _ = api("GET", "/images/nosuch:tag/json")
    assert status == 404 and body["message"] == "No such image: nosuch:tag"
    status, body, _ = api("POST", "/containers/create?name=api-dup", {"Image": "busybox", "Cmd": ["true"]})
    assert status == 201
    try:
        status, body, _ = api("POST", "/containers/create?name=api-dup", {"Image": "busybox", "Cmd": ["true"]})
        assert status == 409 and "is already in use" in body["message"]
        status, body, _ = api("POST", "/containers/create?name=bad%20name", {"Image": "busybox"})
        assert status == 400 and "Invalid container name" in body["message"]
        status, body, _ = api("POST", "/containers/api-dup/kill")
        assert status == 409
        status, body, _ = api("POST", "/containers/api-dup/stop")
        assert status == 304
    finally:
        api("DELETE", "/containers/api-dup?force=1")


def test_rm_running_without_force_is_409(api):
    status, body, _ = api("POST", "/containers/create?name=api-run", {"Image": "busybox", "Cmd": ["sleep", "60"]})
    assert status == 201
    try:
        assert api("POST", "/containers/api-run/start")[0] == 204
        assert api("POST", "/containers/api-run/start")[0] == 304
        status, body, _ = api("DELETE", "/containers/api-run")
        assert status == 409 and "container is running" in body["message"]
    finally:
        assert api("DELETE", "/containers/api-run?force=1")[0] == 204
    assert api("GET", "/containers/api-run/json")[0] == 404


def test_invalid_values(api):
    status, body, _ = api("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Memory": 1024}})
    assert status == 400 and "Minimum memory limit" in body["message"]
    status, body, _ = api("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Runtime": "nope"}})
    assert status == 400 and "unknown or invalid runtime" in body["message"]
    status, body, _ = api("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"CapAdd": ["NOT_A_CAP"]}})
    assert status == 400
    status, body, _ = api("GET", "/containers/json?filters=%7Bbad")
    assert status == 400


def test_events_stream_lifecycle(api, daemon):
    since = time.time()
    status, body, _ = api("POST", "/containers/create?name=api-ev", {"Image": "busybox", "Cmd": ["true"]})
    cid = body["Id"]
    api("POST", f"/containers/{cid}/start")
    api("POST", f"/containers/{cid}/wait")
    api("DELETE", f"/containers/{cid}")
    until = time.time() + 0.2
    time.sleep(0.3)
    filters = urllib.parse.quote(json.dumps({"container": [cid]}))
    status, raw, _ = api("GET", f"/events?since={since:.3f}&until={until:.3f}&filters={filters}")
    assert status == 200
    lines = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
    actions = [json.loads(line)["Action"] for line in lines.splitlines() if line.strip()]
    assert actions == ["create", "start", "die", "destroy"]


def test_events_live(api, daemon):
    received = []

    def listen():
        conn = UnixHTTPConnection(daemon.socket)
        conn.request("GET", "/events?filters=" + urllib.parse.quote(json.dumps({"type": ["container"], "event": ["start"]})))
        resp = conn.getresponse()
        received.append(json.loads(resp.readline()))
        conn.close()

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    time.sleep(0.3)
    status, body, _ = api("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"AutoRemove": True}})
    api("POST", f"/containers/{body['Id']}/start")
    t.join(10)
    assert received and received[0]["Action"] == "start" and received[0]["Actor"]["ID"] == body["Id"]


def test_wait_condition_removed_and_logs(api):
    status, body, _ = api("POST", "/containers/create", {"Image": "busybox", "Cmd": ["sh", "-c", "echo out; echo err >&2; exit 2"]})
    cid = body["Id"]
    result = {}

    def wait():
        result["wait"] = api("POST", f"/containers/{cid}/wait?condition=removed")

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.1)
    api("POST", f"/containers/{cid}/start")
    time.sleep(0.5)
    status, raw, _ = api("GET", f"/containers/{cid}/logs?stdout=1&stderr=1")
    # multiplexed: 8-byte headers naming the stream
    assert raw == b"\x01\x00\x00\x00\x00\x00\x00\x04out\n" + b"\x02\x00\x00\x00\x00\x00\x00\x04err\n"
    api("DELETE", f"/containers/{cid}")
    t.join(10)
    assert result["wait"][0] == 200 and result["wait"][1]["StatusCode"] == 2
