"""The compose commands that act on a project's existing containers:
ps, start, stop, restart, kill, pause, unpause, rm, top, images and port.

Each finds its containers by label through the engine (``Engine.containers``)
and acts on them with the same Engine API calls ``dockyard stop`` and the rest
use; services are taken in dependency order for start and restart, in reverse
for stop.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dockyard import errors
from dockyard.cli.compose import Compose, services_flags
from dockyard.cli.containers import ContainerRow
from dockyard.cli.formatter import render, tabwrite
from dockyard.cli.session import StatusError
from dockyard.compose import convert
from dockyard.compose.plan import dependency_order

PS_TABLE = "{{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}"
PS_HEADERS = {"Name": "NAME", "Image": "IMAGE", "Command": "COMMAND", "Service": "SERVICE",
              "RunningFor": "CREATED", "Status": "STATUS", "Ports": "PORTS", "ID": "CONTAINER ID",
              "Names": "NAMES", "State": "STATE", "Project": "PROJECT", "CreatedAt": "CREATED AT",
              "ExitCode": "EXIT CODE", "Health": "HEALTH", "Publishers": "PUBLISHERS"}


class ServiceRow(ContainerRow):
    """A ``compose ps`` line: docker's container fields plus compose's;
    Health and ExitCode come from the container's inspected *state*."""

    def __init__(self, summary: dict[str, Any], trunc: bool, now: float, state: dict[str, Any] | None = None):
        super().__init__(summary, trunc, now)
        self._state = state or {}

    @property
    def Name(self) -> str:
        return self.Names

    @property
    def Service(self) -> str:
        return self.Label(convert.SERVICE)

    @property
    def Project(self) -> str:
        return self.Label(convert.PROJECT)

    @property
    def Health(self) -> str:
        return (self._state.get("Health") or {}).get("Status", "")

    @property
    def ExitCode(self) -> int:
        return int(self._state.get("ExitCode", 0))

    def __json__(self) -> dict[str, Any]:
        out = super().__json__()
        out.update(Name=self.Name, Service=self.Service, Project=self.Project, Health=self.Health,
                   ExitCode=self.ExitCode)
        return out


def cmd_ps(c: Compose, argv: list[str]) -> int:
    flags = services_flags("ps", "[OPTIONS] [SERVICE...]", "List containers")
    flags.bool("all", "a", "Show all stopped containers (including those created by the run command)")
    flags.bool("quiet", "q", "Only display IDs")
    flags.bool("services", None, "Display services")
    flags.string("format", None, "Format output using a custom template: 'table', 'json' or a Go "
                 "template", default="table")
    flags.list("status", None, "Filter services by status. Values: [paused | restarting | removing | "
               "running | dead | created | exited]")
    flags.list("filter", None, "Filter services by a property (supported filters: status)")
    flags.bool("no-trunc", None, "Don't truncate output")
    flags.bool("orphans", None, "Include orphaned services (not declared by project)", default=True)
    opts, services = flags.parse(argv)
    engine = c.engine
    for f in opts.filter:
        if not f.startswith("status="):
            raise StatusError(f"invalid filter {f!r}: only status=… is supported", 1)
    statuses = list(opts.status) + [f.partition("=")[2] for f in opts.filter if f.startswith("status=")]
    rows = engine.containers(engine.service_names(services or None) if services else None,
                             stopped=opts.all or bool(statuses), oneoff=None if opts.all else False)
    if not opts.orphans:
        rows = [r for r in rows if (r.get("Labels") or {}).get(convert.SERVICE) in c.project.services]
    if statuses:
        rows = [r for r in rows if r.get("State") in statuses]
    if opts.services:
        for name in dict.fromkeys((r.get("Labels") or {}).get(convert.SERVICE, "") for r in rows):
            c.session.out(name)
        return 0
    fmt = "{{.ID}}" if opts.quiet else opts.format
    now = time.time()
    inspect = fmt == "json" or ("Health" in fmt or "ExitCode" in fmt)
    trunc = not (opts.no_trunc or opts.quiet or fmt == "json")
    table = [ServiceRow(r, trunc, now,
                        engine.client.get(f"/containers/{r['Id']}/json").get("State") if inspect else None)
             for r in rows]
    if fmt == "json":
        import json

        # One object per line, as docker compose prints them.
        for row in table:
            c.session.out(json.dumps(row.__json__()))
        return 0
    c.session.stdout.write(render(fmt, table, PS_HEADERS, PS_TABLE))
    return 0


# -- lifecycle --------------------------------------------------------------------------------


def _rows(c: Compose, services: list[str], *, stopped: bool = True) -> list[dict[str, Any]]:
    engine = c.engine
    return engine.containers(engine.service_names(services or None), stopped=stopped)


def _by_order(c: Compose, rows: list[dict[str, Any]], reverse: bool = False) -> list[list[dict[str, Any]]]:
    """Rows grouped by service, services in dependency order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r.get("Labels") or {}).get(convert.SERVICE, ""), []).append(r)
    known = [s for s in c.project.services if s in groups]
    order = dependency_order(c.project.services, known)
    if reverse:
        order.reverse()
    return [groups[s] for s in order] + [g for s, g in groups.items() if s not in c.project.services]


def _each(c: Compose, groups: list[list[dict[str, Any]]], verb: str, done: str, call: Any) -> None:
    """Apply *call* to each row, a group at a time, rows of a group in parallel."""
    progress = c.engine.progress

    def one(row: dict[str, Any]) -> None:
        name = convert.row_name(row)
        progress.event("Container", name, verb)
        try:
            call(row)
        except errors.NotModified:
            pass
        progress.event("Container", name, done)

    with ThreadPoolExecutor(max_workers=4) as pool:
        for group in groups:
            for future in [pool.submit(one, r) for r in group]:
                future.result()


def stop_rows(c: Compose, rows: list[dict[str, Any]], timeout: int | None) -> None:
    engine = c.engine
    _each(c, _by_order(c, rows, reverse=True), "Stopping", "Stopped",
          lambda r: engine.client.post(f"/containers/{r['Id']}/stop", {"t": timeout}))


def _timeout(flags: Any) -> None:
    flags.int("timeout", "t", "Specify a shutdown timeout in seconds", default=-1)


def cmd_stop(c: Compose, argv: list[str]) -> int:
    flags = services_flags("stop", "[OPTIONS] [SERVICE...]", "Stop services")
    _timeout(flags)
    opts, services = flags.parse(argv)
    stop_rows(c, _rows(c, services, stopped=False), None if opts.timeout < 0 else opts.timeout)
    return 0


def cmd_start(c: Compose, argv: list[str]) -> int:
    flags = services_flags("start", "[SERVICE...]", "Start services")
    flags.bool("wait", None, "Wait for services to be running|healthy. Implies detached mode.")
    flags.int("wait-timeout", None, "Maximum duration in seconds to wait for the project to be "
              "running|healthy")
    opts, services = flags.parse(argv)
    engine = c.engine
    rows = _rows(c, services)
    if not rows:
        raise StatusError("service(s) have no containers to start: run `compose up` first"
                          if services else "no containers to start", 1)
    stopped = [r for r in rows if r.get("State") in ("created", "exited", "dead")]
    _each(c, _by_order(c, stopped), "Starting", "Started",
          lambda r: engine.client.post(f"/containers/{r['Id']}/start"))
    if opts.wait:
        engine.wait_running([r["Id"] for r in rows], opts.wait_timeout or None)
    return 0


def cmd_restart(c: Compose, argv: list[str]) -> int:
    flags = services_flags("restart", "[OPTIONS] [SERVICE...]", "Restart service containers")
    _timeout(flags)
    flags.bool("no-deps", None, "Don't restart dependent services")
    opts, services = flags.parse(argv)
    engine = c.engine
    timeout = None if opts.timeout < 0 else opts.timeout
    names = engine.service_names(services or None)
    if services and not opts.no_deps and engine.modeled:
        from dockyard.compose.plan import with_dependents

        names = with_dependents(c.project.services, names)  # as docker compose: what needs them too
    _each(c, _by_order(c, engine.containers(names)), "Restarting", "Started",
          lambda r: engine.client.post(f"/containers/{r['Id']}/restart", {"t": timeout}))
    return 0


def cmd_kill(c: Compose, argv: list[str]) -> int:
    flags = services_flags("kill", "[OPTIONS] [SERVICE...]", "Force stop service containers")
    flags.string("signal", "s", "SIGNAL to send to the container", default="SIGKILL")
    flags.bool("remove-orphans", None, "Remove containers for services not defined in the Compose file")
    opts, services = flags.parse(argv)
    engine = c.engine
    rows = _rows(c, services, stopped=False)
    _each(c, [rows], "Killing", "Killed",
          lambda r: engine.client.post(f"/containers/{r['Id']}/kill", {"signal": opts.signal}))
    if opts.remove_orphans:
        from dockyard.compose import teardown

        teardown.remove_containers(engine, engine.orphans())
    return 0


def _pause(c: Compose, argv: list[str], command: str, description: str, *, state: str, verb: str,
           done: str) -> int:
    flags = services_flags(command, "[SERVICE...]", description)
    _, services = flags.parse(argv)
    engine = c.engine
    rows = [r for r in _rows(c, services, stopped=False) if r.get("State") == state]
    _each(c, [rows], verb, done, lambda r: engine.client.post(f"/containers/{r['Id']}/{command}"))
    return 0


def cmd_pause(c: Compose, argv: list[str]) -> int:
    return _pause(c, argv, "pause", "Pause services", state="running", verb="Pausing", done="Paused")


def cmd_unpause(c: Compose, argv: list[str]) -> int:
    return _pause(c, argv, "unpause", "Unpause services", state="paused", verb="Unpausing", done="Unpaused")


def cmd_rm(c: Compose, argv: list[str]) -> int:
    flags = services_flags("rm", "[OPTIONS] [SERVICE...]", "Removes stopped service containers")
    flags.bool("force", "f", "Don't ask to confirm removal")
    flags.bool("stop", "s", "Stop the containers, if required, before removing")
    flags.bool("volumes", "v", "Remove any anonymous volumes attached to containers")
    opts, services = flags.parse(argv)
    engine = c.engine
    rows = _rows(c, services)
    if opts.stop:
        stop_rows(c, [r for r in rows if r.get("State") in ("running", "paused", "restarting")], None)
        rows = _rows(c, services)
    stopped = [r for r in rows if r.get("State") not in ("running", "paused", "restarting")]
    if not stopped:
        c.session.err("No stopped containers")
        return 0
    if not opts.force:
        c.session.err("Going to remove " + ", ".join(convert.row_name(r) for r in stopped))
        c.session.err("? Are you sure you want to remove these containers? (y/N) ", end="")
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            return 0
    _each(c, [stopped], "Removing", "Removed",
          lambda r: engine.client.delete(f"/containers/{r['Id']}", {"v": opts.volumes}))
    return 0


# -- views ------------------------------------------------------------------------------------


def cmd_top(c: Compose, argv: list[str]) -> int:
    from dockyard.cli.processes import top_table

    flags = services_flags("top", "[SERVICES...]", "Display the running processes")
    _, services = flags.parse(argv)
    engine = c.engine
    first = True
    for row in _rows(c, services, stopped=False):
        listing = engine.client.get(f"/containers/{row['Id']}/top") or {}
        if not first:
            c.session.out()
        first = False
        c.session.out(convert.row_name(row))
        c.session.stdout.write(top_table(listing))
    return 0


def cmd_images(c: Compose, argv: list[str]) -> int:
    from dockyard.cli import units

    flags = services_flags("images", "[OPTIONS] [SERVICE...]", "List images used by the created containers")
    flags.bool("quiet", "q", "Only display IDs")
    flags.string("format", None, "Format the output. Values: [table | json]", default="table")
    opts, services = flags.parse(argv)
    engine = c.engine
    rows = _rows(c, services)
    entries = []
    for row in rows:
        try:
            image = engine.client.get(f"/images/{row['ImageID']}/json")
        except errors.NotFound:
            continue
        ref = row.get("Image", "")
        repo, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
        entries.append({"ContainerName": convert.row_name(row), "Repository": repo, "Tag": tag,
                        "ID": image["Id"], "Size": image.get("Size", 0)})
    if opts.quiet:
        for image_id in dict.fromkeys(e["ID"] for e in entries):
            c.session.out(image_id.split(":", 1)[-1][:12])
        return 0
    if opts.format == "json":
        import json

        c.session.out(json.dumps(entries))
        return 0
    lines = ["CONTAINER\tREPOSITORY\tTAG\tIMAGE ID\tSIZE"]
    lines += [f"{e['ContainerName']}\t{e['Repository']}\t{e['Tag']}\t{e['ID'].split(':', 1)[-1][:12]}\t"
              f"{units.human_size(e['Size'])}" for e in entries]
    c.session.stdout.write(tabwrite("\n".join(lines) + "\n"))
    return 0


def cmd_port(c: Compose, argv: list[str]) -> int:
    flags = services_flags("port", "[OPTIONS] SERVICE PRIVATE_PORT", "Print the public port for a port binding",
                           min_args=2, max_args=2)
    flags.string("protocol", None, "tcp or udp", default="tcp")
    flags.int("index", None, "Index of the container if service has multiple replicas", default=1)
    opts, (service, private) = flags.parse(argv)
    engine = c.engine
    rows = [r for r in _rows(c, [service]) if convert.row_number(r) == opts.index]
    if not rows:
        raise StatusError(f"service {service!r} has no container number {opts.index}", 1)
    info = engine.client.get(f"/containers/{rows[0]['Id']}/json")
    ports = ((info.get("NetworkSettings") or {}).get("Ports") or {}).get(f"{private}/{opts.protocol}") or []
    if not ports:
        raise StatusError(f"no port {private}/{opts.protocol} for container {convert.row_name(rows[0])}: "
                          "is the port published?", 1)
    p = ports[0]
    c.session.out(f"{p.get('HostIp') or '0.0.0.0'}:{p.get('HostPort')}")
    return 0
