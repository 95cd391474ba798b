"""The volume service: records, names, filters, prune, and mounts through a driver.

Drivers keep the bytes (volumes/driver.py); this service keeps what docker
keeps beside them, in the `volumes` table: driver, options, labels, creation
time, whether the volume is anonymous (made for a container without a name,
what `prune` removes by default since docker 23) and whether it was ever
populated from an image (docker copies the image's content at the mount point
into a new, empty volume once).

Who *references* a volume is not recorded here: containers do, stopped or
running, and the container service answers through `in_use(name) → [ids]`.
A referenced volume cannot be removed, `--force` or not, as in docker.

Events `volume create|destroy|mount|unmount|prune` go to the bus, on the
event loop's thread even when a method runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound
from dockyard.metadata.db import Database
from dockyard.paths import DataRoot
from dockyard.volumes.driver import VolumeDriver

# docker sets this label on volumes created without a name.
ANONYMOUS_LABEL = "com.docker.volume.anonymous"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS volumes (
    name       TEXT PRIMARY KEY,
    driver     TEXT NOT NULL,
    options    TEXT NOT NULL DEFAULT '{}',   -- JSON object of strings
    labels     TEXT NOT NULL DEFAULT '{}',   -- JSON object of strings
    created    INTEGER NOT NULL,             -- nanoseconds since the epoch
    anonymous  INTEGER NOT NULL DEFAULT 0,
    populated  INTEGER NOT NULL DEFAULT 0
);
"""

_LIST_FILTERS = {"dangling", "name", "driver", "label", "label!"}
_PRUNE_FILTERS = {"label", "label!", "all"}


@dataclass(frozen=True, slots=True)
class Usage:
    size: int  # bytes, -1 when unknown
    ref_count: int  # containers referencing the volume, -1 when unknown


@dataclass(frozen=True, slots=True)
class Volume:
    name: str
    driver: str
    mountpoint: str
    created_ns: int
    options: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    anonymous: bool = False
    populated: bool = False

    @property
    def created_at(self) -> str:
        """RFC 3339 in UTC, to the second, as docker prints it."""
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created_ns // 1_000_000_000))

    def to_api(self, usage: Usage | None = None) -> dict:
        """The Engine API's Volume object (moby's swagger `Volume`)."""
        doc = {
            "CreatedAt": self.created_at,
            "Driver": self.driver,
            "Labels": dict(self.labels),
            "Mountpoint": self.mountpoint,
            "Name": self.name,
            "Options": dict(self.options),
            "Scope": "local",
        }
        if usage is not None:
            doc["UsageData"] = {"Size": usage.size, "RefCount": usage.ref_count}
        return doc


class VolumeService:
    def __init__(
        self,
        db: Database,
        root: DataRoot,
        drivers: Mapping[str, VolumeDriver],
        events,
        in_use: Callable[[str], list[str]],
    ):
        self.db = db
        self.root = root
        self.drivers = dict(drivers)
        self.events = events
        self.in_use = in_use
        # Create/remove/mount of one name must not interleave (remove vs mount).
        self._lock = threading.RLock()
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None  # used as a library, outside the daemon
        db.ensure_schema(_SCHEMA)

    # -- create, get, list -----------------------------------------------------------

    def create(
        self,
        name: str | None = None,
        driver: str = "local",
        driver_opts: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        anonymous: bool = False,
    ) -> Volume:
        """Create a volume; an existing name with the same driver is returned as it is."""
        driver = driver or "local"
        options = _string_map(driver_opts, "DriverOpts")
        labels_ = _string_map(labels, "Labels")
        if not name:
            name = secrets.token_hex(32)
            anonymous = True
        if anonymous:
            labels_.setdefault(ANONYMOUS_LABEL, "")
        drv = self._driver(driver)
        with self._lock:
            existing = self._row(name)
            if existing is not None:
                if existing.driver != driver:
                    raise Conflict(
                        f"create {name}: driver '{existing.driver}' already has volume '{name}': volume name must be unique"
                    )
                return existing
            drv.validate(name, options)
            mountpoint = drv.create(name, options)
            created = time.time_ns()
            try:
                with self.db.transaction() as cur:
                    cur.execute(
                        "INSERT INTO volumes (name, driver, options, labels, created, anonymous) VALUES (?,?,?,?,?,?)",
                        (name, driver, json.dumps(options), json.dumps(labels_), created, int(anonymous)),
                    )
            except BaseException:
                drv.remove(name)
                raise
        self._publish("create", name, {"driver": driver})
        return Volume(name, driver, mountpoint, created, options, labels_, anonymous)

    def get(self, name: str) -> Volume:
        volume = self._row(name)
        if volume is None:
            raise NotFound(f"get {name}: no such volume")
        return volume

    def list(self, filters: Mapping[str, list[str]] | None = None) -> list[Volume]:
        """Every volume matching docker's list filters: dangling, name, driver, label."""
        filters = dict(filters or {})
        _check_filters(filters, _LIST_FILTERS)
        dangling = _bool_filter(filters, "dangling")
        result = []
        for v in self._rows():
            if filters.get("driver") and v.driver not in filters["driver"]:
                continue
            if filters.get("name") and not any(_name_matches(pattern, v.name) for pattern in filters["name"]):
                continue
            if not _labels_match(v.labels, filters):
                continue
            if dangling is not None and (not self.in_use(v.name)) != dangling:
                continue
            result.append(v)
        return result

    # -- remove, prune -----------------------------------------------------------------

    def remove(self, name: str, force: bool = False) -> None:
        """Remove an unreferenced volume.

        `force` forgives an unknown name and a driver that fails to delete
        (the record goes anyway), never a volume in use: docker's rules.
        """
        with self._lock:
            volume = self._row(name)
            if volume is None:
                if force:
                    return
                raise NotFound(f"get {name}: no such volume")
            users = self.in_use(name)
            if users:
                raise Conflict(f"remove {name}: volume is in use - [{' '.join(users)}]")
            drv = self.drivers.get(volume.driver)
            try:
                if drv is not None:
                    drv.remove(name)
            except NotFound:
                pass  # the data is gone already: drop the stale record
            except DockyardError:
                if not force:
                    raise
            self.db.execute("DELETE FROM volumes WHERE name=?", (name,))
        self._publish("destroy", name, {"driver": volume.driver})

    def prune(self, filters: Mapping[str, list[str]] | None = None, all: bool = False) -> dict:  # noqa: A002 - docker's word
        """Remove unreferenced local volumes: anonymous ones, or every one with `all`.

        As in docker, volumes with mount options (tmpfs, bind, nfs) are left
        alone: removing them reclaims nothing here.  Returns docker's
        ``{"VolumesDeleted": [...], "SpaceReclaimed": n}``.
        """
        filters = dict(filters or {})
        _check_filters(filters, _PRUNE_FILTERS)
        values = filters.pop("all", [])
        if len(values) > 1:
            raise InvalidArgument(f"invalid filter 'all={values}': only one value is expected")
        if values:
            all = all or _parse_bool("all", values[0])
        deleted: list[str] = []
        reclaimed = 0
        for v in self._rows():
            if v.driver != "local" or v.options:
                continue
            if not all and not (v.anonymous or ANONYMOUS_LABEL in v.labels):
                continue
            if not _labels_match(v.labels, filters) or self.in_use(v.name):
                continue
            size = self.drivers["local"].usage(v.name) if "local" in self.drivers else 0
            try:
                self.remove(v.name)
            except DockyardError:
                continue  # taken into use meanwhile, or the driver failed: skip, as docker does
            deleted.append(v.name)
            reclaimed += max(size, 0)
        self._publish("prune", "", {"reclaimed": str(reclaimed)})
        return {"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed}

    # -- use by containers -------------------------------------------------------------

    def mount(self, name: str, container_id: str, destination: str = "", read_write: bool = True) -> str:
        """Make the volume's content available for a container; return the host path to bind."""
        with self._lock:
            volume = self.get(name)
            path = self._driver(volume.driver).mount(name, container_id)
        self._publish("mount", name, {
            "container": container_id, "destination": destination, "driver": volume.driver,
            "propagation": "", "read/write": "true" if read_write else "false",
        })
        return path

    def unmount(self, name: str, container_id: str) -> None:
        """Release one `mount` of the container; the last release unmounts the device."""
        with self._lock:
            volume = self.get(name)
            self._driver(volume.driver).unmount(name, container_id)
        self._publish("unmount", name, {"container": container_id, "driver": volume.driver})

    def copy_up_needed(self, name: str) -> bool:
        """Whether the image's content at the mount point should be copied in.

        True for a volume never populated whose mount path is empty (docker
        copies only into an empty volume).  Ask after `mount`, so a device
        volume is judged by its device; call `mark_populated` after copying.
        """
        volume = self.get(name)
        if volume.populated:
            return False
        try:
            return not os.listdir(volume.mountpoint)
        except OSError:
            return False

    def mark_populated(self, name: str) -> None:
        self.get(name)
        self.db.execute("UPDATE volumes SET populated=1 WHERE name=?", (name,))

    def usage(self, name: str) -> Usage:
        """Size (bytes) and how many containers reference the volume (for /system/df)."""
        volume = self.get(name)
        drv = self.drivers.get(volume.driver)
        size = drv.usage(name) if drv is not None else -1
        return Usage(size, len(self.in_use(name)))

    # -- helpers -----------------------------------------------------------------------

    def _driver(self, name: str) -> VolumeDriver:
        try:
            return self.drivers[name]
        except KeyError:
            raise NotFound(f'error looking up volume plugin {name}: plugin "{name}" not found') from None

    def _row(self, name: str) -> Volume | None:
        row = self.db.query_one("SELECT * FROM volumes WHERE name=?", (name,))
        return self._volume(row) if row is not None else None

    def _rows(self) -> list[Volume]:
        return [self._volume(r) for r in self.db.query("SELECT * FROM volumes ORDER BY name")]

    def _volume(self, row) -> Volume:
        drv = self.drivers.get(row["driver"])
        if drv is not None:
            try:
                mountpoint = drv.path(row["name"])
            except DockyardError:
                mountpoint = ""
        else:
            mountpoint = ""
        return Volume(
            row["name"], row["driver"], mountpoint, row["created"], json.loads(row["options"]),
            json.loads(row["labels"]), bool(row["anonymous"]), bool(row["populated"]),
        )

    def _publish(self, action: str, name: str, attributes: dict) -> None:
        # The bus's queues belong to the event loop: from a worker thread, hand over.
        if self._loop is not None and not _on_loop(self._loop):
            self._loop.call_soon_threadsafe(self.events.publish, "volume", action, name, attributes)
        else:
            self.events.publish("volume", action, name, attributes)


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _string_map(value: Mapping[str, str] | None, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise InvalidArgument(f"{what} must be a map of strings to strings")
    return dict(value)


def _check_filters(filters: Mapping[str, list[str]], accepted: set[str]) -> None:
    for key in filters:
        if key not in accepted:
            raise InvalidArgument(f"invalid filter '{key}'")


def _parse_bool(key: str, value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "t", "true"):
        return True
    if v in ("0", "f", "false"):
        return False
    raise InvalidArgument(f"invalid filter '{key}={value}'")


def _bool_filter(filters: Mapping[str, list[str]], key: str) -> bool | None:
    values = filters.get(key)
    if not values:
        return None
    return _parse_bool(key, values[-1])


def _name_matches(pattern: str, name: str) -> bool:
    """docker's filter match: equal, or the value as a regular expression found in the name."""
    if pattern == name:
        return True
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return False


def _labels_match(labels: Mapping[str, str], filters: Mapping[str, list[str]]) -> bool:
    """`label=k` / `label=k=v` must all match; `label!=k` / `label!=k=v` must all not."""

    def has(spec: str) -> bool:
        key, sep, want = spec.partition("=")
        return key in labels and (not sep or labels[key] == want)

    return all(has(s) for s in filters.get("label", [])) and not any(has(s) for s in filters.get("label!", []))
