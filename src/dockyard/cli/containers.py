"""Container commands other than the attaching ones (see ``run``): ``ps``,
``stop``, ``restart``, ``kill``, ``rm``, ``wait``, ``logs``.

Commands acting on several containers behave like docker's: each success
prints the name as given, each failure is remembered, and the failures are
printed together at the end with exit status 1.  A 304 (already stopped /
already started) is a success, as in docker's Go client.
"""

from __future__ import annotations

import sys
import time

from dockyard import errors
from dockyard.cli import units
from dockyard.cli.flags import FlagSet
from dockyard.cli.formatter import Labelled, ellipsis, go_quote, render, truncate_id
from dockyard.cli.session import Session, StatusError, describe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

PS_HEADERS = {
    "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
    "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Label": "LABEL", "Mounts": "MOUNTS",
    "LocalVolumes": "LOCAL VOLUMES", "Networks": "NETWORKS", "Platform": "PLATFORM",
}
PS_TABLE = "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"


def parse_filters(items: list[str]) -> dict[str, list[str]]:
    """``--filter k=v`` (repeatable) → {"k": ["v", …]}."""
    filters: dict[str, list[str]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise StatusError("bad format of filter (expected name=value)", 125)
        filters.setdefault(key.strip().lower(), []).append(value)
    return filters


def display_ports(ports: list[dict[str, Any]]) -> str:
    """docker's DisplayablePorts: consecutive ports grouped into ranges.

    Published ports whose host port equals the container port are grouped
    per address; other host mappings are listed after the groups.
    """
    ordered = sorted(ports, key=lambda p: (p.get("PrivatePort", 0), _address_order(p.get("IP")),
                                           p.get("PublicPort", 0), p.get("Type", "")))
    groups: dict[str, list[int]] = {}
    order: list[str] = []
    result: list[str] = []
    mappings: list[str] = []
    for port in ordered:
        private, kind, ip = port.get("PrivatePort", 0), port.get("Type", "tcp"), port.get("IP")
        key = kind
        if ip:
            public = port.get("PublicPort", 0)
            if public != private:
                mappings.append(f"{_host_port(ip, str(public))}->{private}/{kind}")
                continue
            key = f"{ip}/{kind}"
        group = groups.get(key)
        if group is None:
            groups[key] = [private, private]
            order.append(key)
        elif private == group[1] + 1:
            group[1] = private
        else:
            result.append(_group(key, *group))
            groups[key] = [private, private]
    result += [_group(key, *groups[key]) for key in order]
    return ", ".join(result + mappings)


def _address_order(ip: str | None) -> tuple:
    """IPv4 addresses compare as numbers (9.0.0.1 before 10.0.0.1), IPv6
    after them; none first.  (No ipaddress import: ps stays quick to start.)"""
    if not ip:
        return (0,)
    if ":" in ip:
        return (6, ip)
    return (4, tuple(int(part) for part in ip.split(".")))


def _host_port(ip: str, port: str) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _group(key: str, first: int, last: int) -> str:
    ip, _, kind = key.rpartition("/")
    span = str(first) if first == last else f"{first}-{last}"
    if ip:
        span = f"{_host_port(ip, span)}->{span}"
    return f"{span}/{kind}"


class ContainerRow(Labelled):
    """One line of ``ps``: the fields ``--format`` can name (docker's names)."""

    def __init__(self, summary: dict[str, Any], trunc: bool, now: float):
        self._raw = summary
        self._trunc = trunc
        self._now = now

    @property
    def ID(self) -> str:
        ident = self._raw.get("Id", "")
        return truncate_id(ident) if self._trunc else ident

    @property
    def Image(self) -> str:
        image = self._raw.get("Image") or ""
        if not image:
            return "<no image>"
        if self._trunc:
            if image.startswith("sha256:") or truncate_id(self._raw.get("ImageID", "")) == \
                    truncate_id(image):
                return truncate_id(image)
            if "@" in image and ":" in image.split("@")[0].rsplit("/", 1)[-1]:
                return image.split("@")[0]
        return image

    @property
    def Command(self) -> str:
        command = self._raw.get("Command", "")
        return go_quote(ellipsis(command, 20) if self._trunc else command)

    @property
    def CreatedAt(self) -> str:
        return units.go_time(self._raw.get("Created", 0))

    @property
    def RunningFor(self) -> str:
        return units.since(self._raw.get("Created", 0), self._now)

    @property
    def Ports(self) -> str:
        return display_ports(self._raw.get("Ports") or [])

    @property
    def State(self) -> str:
        return self._raw.get("State", "")

    @property
    def Status(self) -> str:
        return self._raw.get("Status", "")

    @property
    def Size(self) -> str:
        rw = self._raw.get("SizeRw") or 0
        root = self._raw.get("SizeRootFs") or 0
        text = units.human_size(rw)
        return f"{text} (virtual {units.human_size(root)})" if root > 0 else text

    @property
    def Names(self) -> str:
        names = [n[1:] if n.startswith("/") else n for n in self._raw.get("Names") or []]
        if self._trunc:
            # Link aliases ("/other/alias") are not the container's own name.
            names = [n for n in names if "/" not in n][:1] or names[:1]
        return ",".join(names)

    @property
    def Mounts(self) -> str:
        names = []
        for mount in self._raw.get("Mounts") or []:
            name = mount.get("Name") or mount.get("Source", "")
            names.append(ellipsis(name, 15) if self._trunc and mount.get("Name") else name)
        return ",".join(names)

    @property
    def LocalVolumes(self) -> str:
        mounts = self._raw.get("Mounts") or []
        return str(sum(1 for m in mounts if m.get("Driver") == "local"))

    @property
    def Networks(self) -> str:
        networks = ((self._raw.get("NetworkSettings") or {}).get("Networks") or {})
        return ",".join(sorted(networks))

    @property
    def Platform(self) -> str:
        return ""

    def __json__(self) -> dict[str, str]:
        fields = ("Command", "CreatedAt", "ID", "Image", "Labels", "LocalVolumes", "Mounts",
                  "Names", "Networks", "Ports", "RunningFor", "Size", "State", "Status")
        return {name: getattr(self, name) for name in fields}


def cmd_ps(session: Session, argv: list[str]) -> int:
    flags = FlagSet("ps", "[OPTIONS]", "List containers", max_args=0,
                    aliases=["container ls", "container list", "container ps", "ps"])
    flags.bool("all", "a", "Show all containers (default shows just running)")
    flags.list("filter", "f", "Filter output based on conditions provided", type_name="filter")
    flags.string("format", None, "Format output using a custom template")
    flags.int("last", "n", "Show n last created containers (includes all states)", default=-1)
    flags.bool("latest", "l", "Show the latest created container (includes all states)")
    flags.bool("no-trunc", None, "Don't truncate output")
    flags.bool("quiet", "q", "Only display container IDs")
    flags.bool("size", "s", "Display total file sizes")
    opts, _ = flags.parse(argv)
    limit = 1 if opts.latest else opts.last
    params: dict[str, Any] = {"all": opts.all, "size": opts.size,
                              "filters": parse_filters(opts.filter)}
    if limit != -1:
        params["limit"] = limit
    containers = session.client.get("/containers/json", params) or []
    fmt = opts.format
    if opts.quiet and fmt in ("", None, "table"):
        fmt = "{{.ID}}"
    default = PS_TABLE + ("\t{{.Size}}" if opts.size else "")
    now = time.time()
    rows = [ContainerRow(c, not opts.no_trunc, now) for c in containers]
    session.stdout.write(render(fmt or "", rows, PS_HEADERS, default))
    return 0


def for_each(session: Session, names: list[str], action: Callable[[str], Any]) -> int:
    failures = []
    for name in names:
        try:
            action(name)
        except errors.NotModified:
            pass
        except errors.DockyardError as exc:
            failures.append(describe(exc))
            continue
        session.out(name)
    if failures:
        raise StatusError("\n".join(failures), 1)
    return 0


def _timeout_flags(flags: FlagSet) -> FlagSet:
    flags.string("signal", "s", "Signal to send to the container")
    flags.int("timeout", "t", "Seconds to wait before killing the container")
    flags.int("time", None, "Seconds to wait before killing the container (deprecated: use "
              "--timeout)", hidden=True)
    return flags


def _stop_params(opts: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"signal": opts.signal or None}
    if "timeout" in opts.changed:
        params["t"] = opts.timeout
    elif "time" in opts.changed:
        params["t"] = opts.time
    return params


def cmd_stop(session: Session, argv: list[str]) -> int:
    flags = _timeout_flags(FlagSet("stop", "[OPTIONS] CONTAINER [CONTAINER...]",
                                   "Stop one or more running containers", min_args=1,
                                   aliases=["container stop", "stop"]))
    opts, names = flags.parse(argv)
    params = _stop_params(opts)
    return for_each(session, names,
                     lambda n: session.client.post(f"/containers/{n}/stop", params))


def cmd_restart(session: Session, argv: list[str]) -> int:
    flags = _timeout_flags(FlagSet("restart", "[OPTIONS] CONTAINER [CONTAINER...]",
                                   "Restart one or more containers", min_args=1,
                                   aliases=["container restart", "restart"]))
    opts, names = flags.parse(argv)
    params = _stop_params(opts)
    return for_each(session, names,
                     lambda n: session.client.post(f"/containers/{n}/restart", params))


def cmd_kill(session: Session, argv: list[str]) -> int:
    flags = FlagSet("kill", "[OPTIONS] CONTAINER [CONTAINER...]",
                    "Kill one or more running containers", min_args=1,
                    aliases=["container kill", "kill"])
    flags.string("signal", "s", "Signal to send to the container")
    opts, names = flags.parse(argv)
    params = {"signal": opts.signal or None}
    return for_each(session, names,
                     lambda n: session.client.post(f"/containers/{n}/kill", params))


def cmd_rm(session: Session, argv: list[str]) -> int:
    flags = FlagSet("rm", "[OPTIONS] CONTAINER [CONTAINER...]",
                    "Remove one or more containers", min_args=1,
                    aliases=["container rm", "container remove", "rm"])
    flags.bool("force", "f", "Force the removal of a running container (uses SIGKILL)")
    flags.bool("link", "l", "Remove the specified link")
    flags.bool("volumes", "v", "Remove anonymous volumes associated with the container")
    opts, names = flags.parse(argv)
    params = {"force": opts.force, "v": opts.volumes, "link": opts.link}

    def remove(name: str) -> None:
        name = name.strip("/")
        if not name:
            raise errors.InvalidArgument("Container name cannot be empty")
        session.client.delete(f"/containers/{name}", params)

    return for_each(session, names, remove)


def cmd_wait(session: Session, argv: list[str]) -> int:
    flags = FlagSet("wait", "CONTAINER [CONTAINER...]",
                    "Block until one or more containers stop, then print their exit codes",
                    min_args=1, aliases=["container wait", "wait"])
    _, names = flags.parse(argv)
    failures = []
    for name in names:
        try:
            result = session.client.post(f"/containers/{name}/wait") or {}
        except errors.DockyardError as exc:
            failures.append(describe(exc))
            continue
        session.out(str(result.get("StatusCode", 0)))
    if failures:
        raise StatusError("\n".join(failures), 1)
    return 0


def cmd_logs(session: Session, argv: list[str]) -> int:
    flags = FlagSet("logs", "[OPTIONS] CONTAINER", "Fetch the logs of a container",
                    min_args=1, max_args=1, aliases=["container logs", "logs"])
    flags.bool("details", None, "Show extra details provided to logs")
    flags.bool("follow", "f", "Follow log output")
    flags.string("since", None, "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or "
                 "relative (e.g. \"42m\" for 42 minutes)")
    flags.string("tail", "n", "Number of lines to show from the end of the logs",
                 default="all")
    flags.bool("timestamps", "t", "Show timestamps")
    flags.string("until", None, "Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") "
                  "or relative (e.g. \"42m\" for 42 minutes)")
    opts, (name,) = flags.parse(argv)
    try:
        since = units.timestamp(opts.since) if opts.since else None
        until = units.timestamp(opts.until) if opts.until else None
    except ValueError as exc:
        raise StatusError(str(exc), 1) from None
    info = session.client.get(f"/containers/{name}/json")
    tty = bool((info.get("Config") or {}).get("Tty"))
    params = {"stdout": True, "stderr": True, "follow": opts.follow, "since": since,
              "until": until, "timestamps": opts.timestamps, "details": opts.details,
              "tail": opts.tail}
    response = session.client.stream("GET", f"/containers/{name}/logs", params)
    _copy_stream(response, tty)
    return 0


def _copy_stream(response: Any, tty: bool) -> None:
    from dockyard.client.stream import STDERR, Demultiplexer

    out, err = sys.stdout.buffer, sys.stderr.buffer
    demux = None if tty else Demultiplexer()
    try:
        while True:
            chunk = response.read1(65536)
            if not chunk:
                break
            if demux is None:
                out.write(chunk)
                out.flush()
                continue
            for stream, payload in demux.feed(chunk):
                target = err if stream == STDERR else out
                target.write(payload)
                target.flush()
    except KeyboardInterrupt:
        pass
    finally:
        response.close()
