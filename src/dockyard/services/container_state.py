"""A container's record and its state machine.

States and the moves between them, as a table (an illegal move is an error,
never a silent no-op):

    created ──start──▶ running ──(process ends)──▶ exited ──start──▶ running
       │               ▲    │ pause                     │
       │       unpause │    ▼                           │
       │               paused ──stop/kill (thawed)──▶ exited
       │                  │                           │
       └──remove──▶ removing ◀──remove(force)─────────┘
                          ▲
                  running─┘ (only with force: killed first)

`exited` with a start error recorded keeps docker's look: a container whose
start failed shows status "created" with ExitCode 127 and the Error text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, asdict

from ..errors import Conflict, NotModified

ZERO_TIME = "0001-01-01T00:00:00Z"

# operation -> the statuses it may start from
ALLOWED = {
    "start": {"created", "exited"},
    "policy-restart": {"restarting"},  # the restart policy's own start: no "exited" in between
    "stop": {"running", "paused", "restarting"},
    "kill": {"running", "paused", "restarting"},
    "remove": {"created", "exited", "dead"},
    "wait": {"created", "running", "exited", "dead"},
}


@dataclass
class ContainerState:
    status: str = "created"  # created, running, paused, restarting, removing, exited, dead
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    oom_killed: bool = False
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    shim_pid: int = 0
    manually_stopped: bool = False  # by stop/kill: restart policies leave it alone
    health: dict | None = None  # {"Status", "FailingStreak", "Log"} with a health check

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused", "restarting")

    def to_api(self) -> dict:
        doc = {
            "Status": self.status,
            "Running": self.running,
            "Paused": self.status == "paused",
            "Restarting": self.status == "restarting",
            "OOMKilled": self.oom_killed,
            "Dead": self.status == "dead",
            "Pid": self.pid if self.running else 0,
            "ExitCode": self.exit_code,
            "Error": self.error,
            "StartedAt": self.started_at,
            "FinishedAt": self.finished_at,
        }
        if self.health is not None:
            doc["Health"] = self.health
        return doc


@dataclass
class Container:
    id: str
    name: str  # without the leading slash
    created: str
    image: str  # as the user named it
    image_id: str
    config: dict  # Engine API ContainerConfig, merged with the image's
    host_config: dict  # Engine API HostConfig
    path: str
    args: list
    state: ContainerState = field(default_factory=ContainerState)
    restart_count: int = 0
    mounts: list = field(default_factory=list)  # container_mounts.MountPoint as JSON
    # network name → docker's EndpointSettings (addresses filled while running)
    networks: dict = field(default_factory=dict)
    ports: list = field(default_factory=list)  # published ports while running (network/ports.py JSON)
    sandbox: str = ""  # the network namespace it runs in, while running (not persisted)

    def check(self, operation: str) -> None:
        """Raise the error docker gives when `operation` is illegal now."""
        status = self.state.status
        if status in ALLOWED[operation]:
            return
        if operation == "start" and status == "paused":
            raise Conflict("cannot start a paused container, try unpause instead")
        if operation == "start" and self.state.running:
            raise NotModified("container already started")
        if operation == "stop":
            raise NotModified("container already stopped")
        if operation == "kill":
            raise Conflict(f"cannot kill container: {self.name}: container {self.id} is not running")
        if operation == "remove":
            if status == "removing":
                raise Conflict(f"removal of container {self.name} is already in progress")
            raise Conflict(
                f"cannot remove container \"/{self.name}\": container is {status}: "
                "stop the container before removing or force remove"
            )
        raise Conflict(f"container {self.id} is {status}")

    # -- persistence -----------------------------------------------------------

    def state_json(self) -> str:
        return json.dumps(asdict(self.state))

    @staticmethod
    def from_row(row) -> "Container":
        return Container(
            id=row["id"],
            name=row["name"],
            created=row["created"],
            image=row["image"],
            image_id=row["image_id"],
            config=json.loads(row["config"]),
            host_config=json.loads(row["host_config"]),
            path=row["path"],
            args=json.loads(row["args"]),
            state=ContainerState(**json.loads(row["state"])),
            restart_count=row["restart_count"],
            mounts=json.loads(row["mounts"] or "[]"),
            networks=json.loads(row["networks"] or "{}"),
            ports=json.loads(row["ports"] or "[]"),
        )


SCHEMA = """
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    image TEXT NOT NULL,
    image_id TEXT NOT NULL,
    config TEXT NOT NULL,
    host_config TEXT NOT NULL,
    path TEXT NOT NULL,
    args TEXT NOT NULL,
    state TEXT NOT NULL,
    restart_count INTEGER NOT NULL DEFAULT 0,
    mounts TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS containers_image ON containers(image_id);
"""

# Columns added since the first release of the table, for data roots made before.
COLUMNS_ADDED = {"mounts": "TEXT NOT NULL DEFAULT '[]'", "networks": "TEXT NOT NULL DEFAULT '{}'",
                 "ports": "TEXT NOT NULL DEFAULT '[]'"}
