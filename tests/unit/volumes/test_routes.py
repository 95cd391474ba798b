"""The /volumes routes served in-process on a temporary socket (no wiring needed)."""

import asyncio
import json
import os
import tempfile

from dockyard.daemon.http import Router, serve_unix
from dockyard.daemon.routes import volumes as volume_routes
from dockyard.metadata.db import Database
from dockyard.paths import DataRoot
from dockyard.services.events import EventBus
from dockyard.services.volumes import VolumeService
from dockyard.volumes.local import LocalDriver


async def _request(sock, method, path, body=None):
    reader, writer = await asyncio.open_unix_connection(sock)
    data = json.dumps(body).encode() if body is not None else b""
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: d\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
    raw = await reader.read()
    writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    return status, json.loads(payload) if payload.strip() else None


def test_volume_routes():
    async def main(tmp):
        root = DataRoot(tmp)
        root.ensure()
        db = Database(root.metadata_db)
        used: dict[str, list[str]] = {}
        service = VolumeService(db, root, {"local": LocalDriver(root.volumes)}, EventBus(), lambda n: used.get(n, []))
        router = Router()
        volume_routes.register(router, service)
        sock = os.path.join(tmp, "api.sock")
        server = await serve_unix(router, sock)
        try:
            call = lambda *a: _request(sock, *a)  # noqa: E731
            status, v = await call("POST", "/v1.47/volumes/create", {"Name": "v1", "Labels": {"a": "b"}})
            assert status == 201 and v["Name"] == "v1" and v["Labels"] == {"a": "b"} and v["Scope"] == "local"
            status, anon = await call("POST", "/volumes/create", {})
            assert status == 201 and len(anon["Name"]) == 64
            status, body = await call("POST", "/volumes/create", {"Name": "bad/name"})
            assert status == 400 and "invalid characters" in body["message"]
            status, body = await call("POST", "/volumes/create", {"Name": "o1", "DriverOpts": {"x": "y"}})
            assert status == 400 and body["message"] == 'invalid option: "x"'
            status, body = await call("GET", "/volumes")
            assert status == 200 and sorted(v["Name"] for v in body["Volumes"]) == sorted(["v1", anon["Name"]])
            assert body["Warnings"] == []
            status, body = await call("GET", '/volumes?filters={"label":{"a=b":true}}')
            assert [v["Name"] for v in body["Volumes"]] == ["v1"]
            status, body = await call("GET", "/volumes/v1")
            assert status == 200 and body["Mountpoint"].endswith("/volumes/v1/_data")
            status, body = await call("GET", "/volumes/nope")
            assert status == 404 and body["message"] == "get nope: no such volume"
            used["v1"] = ["c1"]
            status, body = await call("DELETE", "/volumes/v1")
            assert status == 409 and body["message"] == "remove v1: volume is in use - [c1]"
            used.clear()
            status, body = await call("POST", "/volumes/prune")
            assert status == 200 and body["VolumesDeleted"] == [anon["Name"]]
            status, body = await call("POST", "/v1.41/volumes/prune")  # before 1.42: every unused volume
            assert body["VolumesDeleted"] == ["v1"]
            status, _ = await call("DELETE", "/volumes/nope?force=1")
            assert status == 204
        finally:
            server.close()
            await server.wait_closed()
            db.close()

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(tmp))
