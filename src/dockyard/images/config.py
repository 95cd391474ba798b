"""Image configuration (OCI image config / Docker image JSON) and its parts.

The config blob is the image's identity: the Image ID is the sha256 of its
bytes.  So serialisation must be deterministic: `ImageConfig.to_bytes` writes
compact JSON with sorted keys.  Configs read from elsewhere (pulls, loads) are
kept as the bytes received; `from_bytes` reads them, and fields dockyard does
not model survive in `extra` so that re-serialising loses nothing.

Field names inside the config are the spec's own (PascalCase in "config",
lowercase at the top level); that is the file format, not an API edge.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from dockyard.content.digest import Digest
from dockyard.errors import InvalidArgument

DEFAULT_ARCH = "amd64"
DEFAULT_OS = "linux"


@dataclass(frozen=True, slots=True)
class ContainerConfig:
    """The runtime defaults an image carries (`config` in the image JSON)."""

    user: str = ""
    exposed_ports: tuple[str, ...] = ()  # "80/tcp"
    env: tuple[str, ...] = ()  # "KEY=value"
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    volumes: tuple[str, ...] = ()
    working_dir: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    stop_signal: str = ""
    healthcheck: Mapping[str, Any] | None = None
    on_build: tuple[str, ...] = ()
    shell: tuple[str, ...] | None = None
    args_escaped: bool = False

    def env_dict(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.env:
            k, _, v = item.partition("=")
            out[k] = v
        return out

    def with_env(self, key: str, value: str) -> "ContainerConfig":
        # Replace in place when present, to keep docker's ordering.
        for i, e in enumerate(self.env):
            if e.partition("=")[0] == key:
                new = list(self.env)
                new[i] = f"{key}={value}"
                return replace(self, env=tuple(new))
        return replace(self, env=self.env + (f"{key}={value}",))

    def to_json(self) -> dict:
        """The image-spec JSON form. Empty optional fields are left out, like Go's omitempty."""
        out: dict[str, Any] = {}
        if self.user:
            out["User"] = self.user
        if self.exposed_ports:
            out["ExposedPorts"] = {p: {} for p in self.exposed_ports}
        if self.env:
            out["Env"] = list(self.env)
        if self.entrypoint is not None:
            out["Entrypoint"] = list(self.entrypoint)
        if self.cmd is not None:
            out["Cmd"] = list(self.cmd)
        if self.volumes:
            out["Volumes"] = {v: {} for v in self.volumes}
        if self.working_dir:
            out["WorkingDir"] = self.working_dir
        if self.labels:
            out["Labels"] = dict(self.labels)
        if self.stop_signal:
            out["StopSignal"] = self.stop_signal
        if self.healthcheck is not None:
            out["Healthcheck"] = dict(self.healthcheck)
        if self.on_build:
            out["OnBuild"] = list(self.on_build)
        if self.shell is not None:
            out["Shell"] = list(self.shell)
        if self.args_escaped:
            out["ArgsEscaped"] = True
        return out

    def to_api(self) -> dict:
        """The Engine API's ImageConfig shape: every field present, nulls where unset."""
        return {
            "Hostname": "",
            "Domainname": "",
            "User": self.user,
            "AttachStdin": False,
            "AttachStdout": False,
            "AttachStderr": False,
            "ExposedPorts": {p: {} for p in self.exposed_ports} or None,
            "Tty": False,
            "OpenStdin": False,
            "StdinOnce": False,
            "Env": list(self.env) or None,
            "Cmd": list(self.cmd) if self.cmd is not None else None,
            "Healthcheck": dict(self.healthcheck) if self.healthcheck is not None else None,
            "ArgsEscaped": self.args_escaped or None,
            "Image": "",
            "Volumes": {v: {} for v in self.volumes} or None,
            "WorkingDir": self.working_dir,
            "Entrypoint": list(self.entrypoint) if self.entrypoint is not None else None,
            "OnBuild": list(self.on_build) or None,
            "Labels": dict(self.labels) or None,
            "StopSignal": self.stop_signal or None,
            "Shell": list(self.shell) if self.shell is not None else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> "ContainerConfig":
        if not data:
            return cls()

        def strs(key: str) -> tuple[str, ...] | None:
            value = data.get(key)
            if value is None:
                return None
            if isinstance(value, str):  # seen in hand-written configs
                return (value,)
            return tuple(str(v) for v in value)

        return cls(
            user=data.get("User") or "",
            exposed_ports=tuple(sorted((data.get("ExposedPorts") or {}).keys())),
            env=strs("Env") or (),
            entrypoint=strs("Entrypoint"),
            cmd=strs("Cmd"),
            volumes=tuple(sorted((data.get("Volumes") or {}).keys())),
            working_dir=data.get("WorkingDir") or "",
            labels=dict(data.get("Labels") or {}),
            stop_signal=data.get("StopSignal") or "",
            healthcheck=data.get("Healthcheck"),
            on_build=strs("OnBuild") or (),
            shell=strs("Shell"),
            args_escaped=bool(data.get("ArgsEscaped")),
        )


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    created: str = ""
    created_by: str = ""
    author: str = ""
    comment: str = ""
    empty_layer: bool = False

    def to_json(self) -> dict:
        out: dict[str, Any] = {}
        if self.created:
            out["created"] = self.created
        if self.author:
            out["author"] = self.author
        if self.created_by:
            out["created_by"] = self.created_by
        if self.comment:
            out["comment"] = self.comment
        if self.empty_layer:
            out["empty_layer"] = True
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "HistoryEntry":
        return cls(
            created=data.get("created") or "",
            created_by=data.get("created_by") or "",
            author=data.get("author") or "",
            comment=data.get("comment") or "",
            empty_layer=bool(data.get("empty_layer")),
        )


_KNOWN_TOP = {"architecture", "os", "variant", "config", "rootfs", "history", "created", "author", "comment"}


@dataclass(frozen=True, slots=True)
class ImageConfig:
    diff_ids: tuple[Digest, ...]
    config: ContainerConfig = field(default_factory=ContainerConfig)
    history: tuple[HistoryEntry, ...] = ()
    created: str = ""
    author: str = ""
    comment: str = ""
    architecture: str = DEFAULT_ARCH
    os: str = DEFAULT_OS
    variant: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)  # fields we do not model, kept verbatim

    def to_json(self) -> dict:
        out: dict[str, Any] = dict(self.extra)
        out["architecture"] = self.architecture
        out["os"] = self.os
        if self.variant:
            out["variant"] = self.variant
        out["config"] = self.config.to_json()
        out["rootfs"] = {"type": "layers", "diff_ids": [str(d) for d in self.diff_ids]}
        if self.history:
            out["history"] = [h.to_json() for h in self.history]
        if self.created:
            out["created"] = self.created
        if self.author:
            out["author"] = self.author
        if self.comment:
            out["comment"] = self.comment
        return out

    def to_bytes(self) -> bytes:
        """Canonical bytes: compact, sorted keys, UTF-8. Their sha256 is the Image ID."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    @property
    def id(self) -> Digest:
        return Digest.from_bytes(self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> "ImageConfig":
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidArgument(f"invalid image config: {exc}") from None
        if not isinstance(doc, dict):
            raise InvalidArgument("invalid image config: not a JSON object")
        rootfs = doc.get("rootfs") or {}
        if rootfs.get("type", "layers") != "layers":
            raise InvalidArgument(f"invalid image config: unsupported rootfs type {rootfs.get('type')!r}")
        return cls(
            diff_ids=tuple(Digest.parse(d) for d in rootfs.get("diff_ids") or ()),
            config=ContainerConfig.from_json(doc.get("config")),
            history=tuple(HistoryEntry.from_json(h) for h in doc.get("history") or ()),
            created=doc.get("created") or "",
            author=doc.get("author") or "",
            comment=doc.get("comment") or "",
            architecture=doc.get("architecture") or DEFAULT_ARCH,
            os=doc.get("os") or DEFAULT_OS,
            variant=doc.get("variant") or "",
            extra={k: v for k, v in doc.items() if k not in _KNOWN_TOP},
        )

    def layer_history(self) -> list[tuple[HistoryEntry, int | None]]:
        """History entries paired with the index of the layer each created (None if empty)."""
        out: list[tuple[HistoryEntry, int | None]] = []
        layer = 0
        for entry in self.history:
            if entry.empty_layer:
                out.append((entry, None))
            else:
                out.append((entry, layer if layer < len(self.diff_ids) else None))
                layer += 1
        return out
