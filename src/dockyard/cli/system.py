"""Commands about the daemon and objects in general: ``inspect``, ``info``,
``version``, ``events``."""

from __future__ import annotations

import json
import platform
import sys

from dockyard import __version__, errors
from dockyard.cli import units
from dockyard.cli.containers import parse_filters
from dockyard.cli.flags import FlagSet
from dockyard.cli.formatter import expand_escapes
from dockyard.cli.session import Session, StatusError, describe
from dockyard.cli.template import Template, TemplateError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# inspect without --type tries these in docker's order.
_INSPECT_PATHS = {
    "container": "/containers/{}/json",
    "image": "/images/{}/json",
    "network": "/networks/{}",
    "volume": "/volumes/{}",
}


def _print_inspected(session: Session, found: list[Any], fmt: str | None) -> None:
    if fmt:
        template = Template(fmt)
        for item in found:
            session.out(template.render(item))
    else:
        session.out(json.dumps(found, indent=4, ensure_ascii=False))


def cmd_inspect(session: Session, argv: list[str], command: str = "inspect",
                kind: str | None = None) -> int:
    """``inspect``, ``container inspect`` and ``image inspect`` (``kind`` fixed)."""
    noun = kind.upper() if kind else "NAME|ID"
    flags = FlagSet(command, f"[OPTIONS] {noun} [{noun}...]",
                    f"Return low-level information on {'one or multiple ' + kind + 's' if kind else 'Docker objects'}",
                    min_args=1)
    flags.string("format", "f", "Format output using a custom template")
    flags.bool("size", "s", "Display total file sizes if the type is container")
    if kind is None:
        flags.string("type", None, "Only inspect objects of the given type")
    opts, names = flags.parse(argv)
    wanted = kind or getattr(opts, "type", None) or None
    if wanted and wanted not in _INSPECT_PATHS:
        raise StatusError(f'"{wanted}" is not a valid value for --type', 1)
    kinds = [wanted] if wanted else list(_INSPECT_PATHS)
    found: list[Any] = []
    failures: list[str] = []
    for name in names:
        last: errors.DockyardError | None = None
        for each in kinds:
            params = {"size": opts.size} if each == "container" else None
            try:
                found.append(session.client.get(_INSPECT_PATHS[each].format(name), params))
                break
            except errors.NotFound as exc:
                last = exc
        else:
            if wanted and last is not None:
                failures.append(describe(last))
            else:
                failures.append(f"Error: No such object: {name}")
    try:
        _print_inspected(session, found, opts.format)
    except TemplateError as exc:
        raise StatusError(str(exc), 1) from None
    if failures:
        raise StatusError("\n".join(failures), 1)
    return 0


def cmd_container_inspect(session: Session, argv: list[str]) -> int:
    return cmd_inspect(session, argv, "container inspect", "container")


def cmd_image_inspect(session: Session, argv: list[str]) -> int:
    return cmd_inspect(session, argv, "image inspect", "image")


def _client_info(session: Session) -> dict[str, Any]:
    from dockyard.client.api import API_VERSION

    return {"Version": __version__, "ApiVersion": API_VERSION,
            "PythonVersion": platform.python_version(), "Os": "linux",
            "Arch": platform.machine(), "Host": session.client.host}


def cmd_version(session: Session, argv: list[str]) -> int:
    flags = FlagSet("version", "[OPTIONS]", "Show the dockyard version information",
                    max_args=0)
    flags.string("format", "f", "Format output using a custom template")
    opts, _ = flags.parse(argv)
    client = _client_info(session)
    server: Any = None
    failure: BaseException | None = None
    try:
        server = session.client.get("/version")
    except errors.DockyardError as exc:
        failure = exc
    if opts.format:
        text = Template(expand_escapes(opts.format)).render({"Client": client, "Server": server})
        session.out(text)
    else:
        session.out("Client:\n"
                    f" Version:           {client['Version']}\n"
                    f" API version:       {client['ApiVersion']}\n"
                    f" Python version:    {client['PythonVersion']}\n"
                    f" OS/Arch:           linux/{_goarch(client['Arch'])}")
        if server:
            session.out("")
            session.out(_server_version(server), end="")
    if failure is not None:
        raise StatusError(describe(failure), 1)
    return 0


def _goarch(machine: str) -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _server_version(server: dict[str, Any]) -> str:
    name = (server.get("Platform") or {}).get("Name", "")
    lines = [f"Server:{' ' + name if name else ''}"]
    components = server.get("Components") or [{"Name": "Engine", "Version": server.get("Version"),
                                               "Details": server}]
    for component in components:
        details = component.get("Details") or {}
        lines.append(f" {component.get('Name')}:")
        lines.append(f"  {'Version:':<18}{component.get('Version', '')}")
        if component.get("Name") == "Engine":
            api = server.get("ApiVersion", details.get("ApiVersion", ""))
            minimum = server.get("MinAPIVersion", details.get("MinAPIVersion", ""))
            lines.append(f"  {'API version:':<18}{api} (minimum version {minimum})")
            for label, key in (("Go version:", "GoVersion"), ("Git commit:", "GitCommit"),
                               ("Built:", "BuildTime"), ("OS/Arch:", None),
                               ("Experimental:", "Experimental")):
                if key is None:
                    value = f"{server.get('Os', 'linux')}/{server.get('Arch', '')}"
                else:
                    value = server.get(key, details.get(key, ""))
                    if isinstance(value, bool):
                        value = str(value).lower()
                if value not in ("", None):
                    lines.append(f"  {label:<18}{value}")
        elif details.get("GitCommit"):
            lines.append(f"  {'GitCommit:':<18}{details['GitCommit']}")
    return "\n".join(lines) + "\n"


def cmd_info(session: Session, argv: list[str]) -> int:
    flags = FlagSet("info", "[OPTIONS]", "Display system-wide information", max_args=0,
                    aliases=["system info", "info"])
    flags.string("format", "f", "Format output using a custom template")
    opts, _ = flags.parse(argv)
    client = _client_info(session)
    try:
        info = session.client.get("/info") or {}
    except errors.DockyardError as exc:
        if opts.format:
            raise
        session.out(f"Client:\n Version:    {client['Version']}\n Context:    default\n"
                    " Debug Mode: false\n\nServer:")
        raise StatusError(describe(exc), 1) from None
    if opts.format:
        session.out(Template(expand_escapes(opts.format)).render({**info, "ClientInfo": client}))
        return 0
    session.out(f"Client:\n Version:    {client['Version']}\n Context:    default\n"
                " Debug Mode: false\n")
    session.out(_server_info(info), end="")
    return 0


def _server_info(info: dict[str, Any]) -> str:
    out = ["Server:"]

    def line(label: str, value: Any, indent: int = 1) -> None:
        if value is None or value == "":
            return
        if isinstance(value, bool):
            value = str(value).lower()
        out.append(f"{' ' * indent}{label}: {value}")

    line("Containers", info.get("Containers", 0))
    line("Running", info.get("ContainersRunning", 0), 2)
    line("Paused", info.get("ContainersPaused", 0), 2)
    line("Stopped", info.get("ContainersStopped", 0), 2)
    line("Images", info.get("Images", 0))
    line("Server Version", info.get("ServerVersion"))
    line("Storage Driver", info.get("Driver"))
    for pair in info.get("DriverStatus") or []:
        if len(pair) == 2:
            line(pair[0], pair[1], 2)
    line("Logging Driver", info.get("LoggingDriver"))
    line("Cgroup Driver", info.get("CgroupDriver"))
    line("Cgroup Version", info.get("CgroupVersion"))
    runtimes = info.get("Runtimes") or {}
    if runtimes:
        line("Runtimes", " ".join(sorted(runtimes)))
    line("Default Runtime", info.get("DefaultRuntime"))
    line("Init Binary", info.get("InitBinary"))
    security = info.get("SecurityOptions") or []
    if security:
        out.append(" Security Options:")
        for option in security:
            fields = dict(f.split("=", 1) for f in option.split(",") if "=" in f)
            out.append(f"  {fields.get('name', option)}")
            if fields.get("profile"):
                out.append(f"   Profile: {fields['profile']}")
    line("Kernel Version", info.get("KernelVersion"))
    line("Operating System", info.get("OperatingSystem"))
    line("OSType", info.get("OSType"))
    line("Architecture", info.get("Architecture"))
    line("CPUs", info.get("NCPU"))
    if info.get("MemTotal"):
        line("Total Memory", units.bytes_size(info["MemTotal"]))
    line("Name", info.get("Name"))
    line("ID", info.get("ID"))
    line("Docker Root Dir", info.get("DockerRootDir"))
    line("Debug Mode", bool(info.get("Debug")))
    labels = info.get("Labels") or []
    if labels:
        out.append(" Labels:")
        out += [f"  {label}" for label in labels]
    line("Experimental", bool(info.get("ExperimentalBuild")))
    line("Live Restore Enabled", bool(info.get("LiveRestoreEnabled")))
    text = "\n".join(out) + "\n"
    warnings = info.get("Warnings") or []
    if warnings:
        sys.stderr.write("".join(f"{w}\n" for w in warnings))
    return text


def format_event(event: dict[str, Any]) -> str:
    """docker's default event line: time, type, action, actor id, attributes."""
    from datetime import datetime

    stamp = ""
    nanos = event.get("timeNano") or 0
    seconds = event.get("time") or 0
    if nanos or seconds:
        whole, frac = (divmod(int(nanos), 10**9) if nanos else (int(seconds), 0))
        moment = datetime.fromtimestamp(whole).astimezone()
        zone = moment.strftime("%z")
        zone = "Z" if zone in ("+0000", "") else f"{zone[:3]}:{zone[3:]}"
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}{zone} "
    actor = event.get("Actor") or {}
    text = f"{stamp}{event.get('Type', '')} {event.get('Action', '')} {actor.get('ID', '')}"
    attributes = actor.get("Attributes") or {}
    if attributes:
        text += " (" + ", ".join(f"{k}={attributes[k]}" for k in sorted(attributes)) + ")"
    return text


def cmd_events(session: Session, argv: list[str]) -> int:
    flags = FlagSet("events", "[OPTIONS]", "Get real time events from the server",
                    max_args=0, aliases=["system events", "events"])
    flags.list("filter", "f", "Filter output based on conditions provided", type_name="filter")
    flags.string("format", None, "Format output using a custom template")
    flags.string("since", None, "Show all events created since timestamp")
    flags.string("until", None, "Stream events until this timestamp")
    opts, _ = flags.parse(argv)
    try:
        params = {"since": units.timestamp(opts.since) if opts.since else None,
                  "until": units.timestamp(opts.until) if opts.until else None,
                  "filters": parse_filters(opts.filter)}
    except ValueError as exc:
        raise StatusError(str(exc), 1) from None
    fmt = opts.format
    template = Template("{{json .}}" if fmt == "json" else expand_escapes(fmt)) if fmt else None
    try:
        for event in session.client.stream_json("GET", "/events", params):
            session.out(template.render(event) if template else format_event(event))
            session.stdout.flush()
    except KeyboardInterrupt:
        pass
    return 0
