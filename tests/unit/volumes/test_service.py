"""VolumeService over a real SQLite file and LocalDriver in a temporary directory."""

import asyncio
import os
import re
import subprocess

import pytest

from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.metadata.db import Database
from dockyard.paths import DataRoot
from dockyard.services.events import EventBus
from dockyard.services.volumes import ANONYMOUS_LABEL, VolumeService
from dockyard.volumes.local import LocalDriver


class Users:
    """Stands in for the container service: volume name → container ids."""

    def __init__(self):
        self.by_volume: dict[str, list[str]] = {}

    def __call__(self, name):
        return list(self.by_volume.get(name, []))


@pytest.fixture
def env(tmp_path):
    root = DataRoot(str(tmp_path / "data"))
    root.ensure()
    db = Database(root.metadata_db)
    events = EventBus()
    users = Users()
    service = VolumeService(db, root, {"local": LocalDriver(root.volumes)}, events, users)
    yield service, events, users
    db.close()
    with open("/proc/self/mountinfo") as f:
        targets = [line.split()[4] for line in f if line.split()[4].startswith(str(tmp_path))]
    for target in sorted(targets, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True)


def actions(events):
    return [(e.action, e.actor_id) for e in events.since(0)]


def test_create_get_and_api_shape(env):
    service, events, _ = env
    v = service.create("web-data", labels={"tier": "front"})
    assert service.get("web-data") == v
    api = v.to_api()
    assert api == {
        "CreatedAt": api["CreatedAt"], "Driver": "local", "Labels": {"tier": "front"},
        "Mountpoint": os.path.join(service.root.volumes, "web-data", "_data"), "Name": "web-data",
        "Options": {}, "Scope": "local",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", api["CreatedAt"])
    assert actions(events) == [("create", "web-data")]
    assert events.since(0)[0].attributes == {"driver": "local"}


def test_create_existing_returns_it(env):
    service, events, _ = env
    first = service.create("same", driver_opts={})
    again = service.create("same", labels={"ignored": "1"})
    assert again == first and again.labels == {}
    assert actions(events) == [("create", "same")]


def test_create_with_other_driver_conflicts_or_is_unknown(env):
    service, _, _ = env
    with pytest.raises(NotFound, match='plugin "nfsplugin" not found'):
        service.create("x1", driver="nfsplugin")
    service.create("x1")
    service.drivers["other"] = service.drivers["local"]
    with pytest.raises(Conflict, match="volume name must be unique"):
        service.create("x1", driver="other")


def test_anonymous_volume(env):
    service, _, _ = env
    v = service.create()
    assert re.fullmatch(r"[0-9a-f]{64}", v.name)
    assert v.anonymous and v.labels == {ANONYMOUS_LABEL: ""}


def test_invalid_input(env):
    service, _, _ = env
    with pytest.raises(InvalidArgument, match="includes invalid characters"):
        service.create("/host/dir")
    with pytest.raises(InvalidArgument, match='invalid option: "foo"'):
        service.create("okname", driver_opts={"foo": "bar"})
    with pytest.raises(InvalidArgument, match="map of strings"):
        service.create("okname", labels={"a": 1})
    assert service.list() == []
    assert os.listdir(service.root.volumes) == [".tmp"]


def test_list_filters(env):
    service, _, users = env
    service.create("alpha", labels={"env": "prod", "team": "a"})
    service.create("beta", labels={"env": "dev"})
    service.create("gamma")
    users.by_volume["beta"] = ["c1"]

    def names(filters):
        return [v.name for v in service.list(filters)]

    assert names({}) == ["alpha", "beta", "gamma"]
    assert names({"name": ["a"]}) == ["alpha", "beta", "gamma"]
    assert names({"name": ["^al"]}) == ["alpha"]
    assert names({"name": ["beta", "gamma"]}) == ["beta", "gamma"]
    assert names({"name": ["[unclosed"]}) == []
    assert names({"label": ["env"]}) == ["alpha", "beta"]
    assert names({"label": ["env=prod"]}) == ["alpha"]
    assert names({"label": ["env", "team=a"]}) == ["alpha"]
    assert names({"label!": ["env"]}) == ["gamma"]
    assert names({"dangling": ["true"]}) == ["alpha", "gamma"]
    assert names({"dangling": ["0"]}) == ["beta"]
    assert names({"driver": ["local"]}) == ["alpha", "beta", "gamma"]
    assert names({"driver": ["other"]}) == []
    with pytest.raises(InvalidArgument, match="invalid filter 'colour'"):
        service.list({"colour": ["red"]})
    with pytest.raises(InvalidArgument, match="invalid filter 'dangling=maybe'"):
        service.list({"dangling": ["maybe"]})


def test_remove(env):
    service, events, users = env
    service.create("busy")
    users.by_volume["busy"] = ["abc123", "def456"]
    with pytest.raises(Conflict) as e:
        service.remove("busy", force=True)
    assert e.value.message == "remove busy: volume is in use - [abc123 def456]"
    users.by_volume.clear()
    service.remove("busy")
    assert service.list() == []
    assert actions(events)[-1] == ("destroy", "busy")
    with pytest.raises(NotFound) as e:
        service.remove("busy")
    assert e.value.message == "get busy: no such volume"
    service.remove("busy", force=True)  # forgiven


def test_remove_record_whose_data_vanished(env):
    service, _, _ = env
    v = service.create("vanished")
    os.rename(os.path.dirname(v.mountpoint), os.path.join(service.root.tmp, "elsewhere"))
    assert service.get("vanished").mountpoint == ""
    service.remove("vanished")
    assert service.list() == []


def test_prune_anonymous_only_by_default(env):
    service, events, users = env
    anon = service.create()
    used = service.create()
    service.create("named")
    users.by_volume[used.name] = ["c1"]
    with open(os.path.join(anon.mountpoint, "f"), "wb") as f:
        f.write(b"z" * 4096)
    report = service.prune()
    assert report == {"VolumesDeleted": [anon.name], "SpaceReclaimed": 4096}
    assert sorted(v.name for v in service.list()) == sorted([used.name, "named"])
    assert ("prune", "") in actions(events)


def test_prune_all_and_labels(env):
    service, _, _ = env
    service.create("keep", labels={"keep": "yes"})
    service.create("drop")
    service.create("tmpfs-vol", driver_opts={"type": "tmpfs", "device": "tmpfs"})
    assert service.prune({"label!": ["keep"], "all": ["true"]})["VolumesDeleted"] == ["drop"]
    assert service.prune(all=True)["VolumesDeleted"] == ["keep"]  # volumes with mount options stay
    assert [v.name for v in service.list()] == ["tmpfs-vol"]
    with pytest.raises(InvalidArgument):
        service.prune({"all": ["true", "false"]})
    with pytest.raises(InvalidArgument):
        service.prune({"dangling": ["true"]})


def test_mount_unmount_events_and_copy_up(env):
    service, events, _ = env
    v = service.create("app")
    assert service.copy_up_needed("app")
    path = service.mount("app", "c1", destination="/data")
    assert path == v.mountpoint
    mount_event = events.since(0)[-1]
    assert (mount_event.action, mount_event.attributes["container"], mount_event.attributes["destination"]) == ("mount", "c1", "/data")
    open(os.path.join(path, "from-image"), "w").close()
    service.mark_populated("app")
    assert not service.copy_up_needed("app")
    service.unmount("app", "c1")
    assert actions(events)[-1] == ("unmount", "app")
    # docker copies only into an empty volume
    service.create("filled")
    open(os.path.join(service.get("filled").mountpoint, "x"), "w").close()
    assert not service.copy_up_needed("filled")
    with pytest.raises(NotFound):
        service.mount("nope", "c1")


def test_usage(env):
    service, _, users = env
    v = service.create("sized")
    with open(os.path.join(v.mountpoint, "f"), "wb") as f:
        f.write(b"a" * 10)
    users.by_volume["sized"] = ["c1", "c2"]
    usage = service.usage("sized")
    assert (usage.size, usage.ref_count) == (10, 2)
    assert v.to_api(usage)["UsageData"] == {"Size": 10, "RefCount": 2}


def test_records_survive_a_restart(env, tmp_path):
    service, _, users = env
    service.create("durable", driver_opts={"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}, labels={"a": "b"})
    again = VolumeService(service.db, service.root, {"local": LocalDriver(service.root.volumes)}, EventBus(), users)
    v = again.get("durable")
    assert v.options == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"} and v.labels == {"a": "b"}


def test_events_from_a_worker_thread_reach_subscribers():
    async def main(tmp):
        root = DataRoot(tmp)
        root.ensure()
        db = Database(root.metadata_db)
        events = EventBus()
        service = VolumeService(db, root, {"local": LocalDriver(root.volumes)}, events, lambda name: [])
        queue = events.subscribe()
        service.create("threaded")
        await asyncio.to_thread(service.remove, "threaded")
        got = [await asyncio.wait_for(queue.get(), 2) for _ in range(2)]
        db.close()
        return [(e.action, e.actor_id) for e in got]

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        assert asyncio.run(main(tmp)) == [("create", "threaded"), ("destroy", "threaded")]
