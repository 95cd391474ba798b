"""``volume create``, ``volume ls``, ``volume inspect`` and ``volume rm``
(``volume prune`` lives with the other prunes)."""

from __future__ import annotations

from dockyard import errors
from dockyard.cli import units
from dockyard.cli.containers import parse_filters
from dockyard.cli.flags import FlagSet, key_value_map
from dockyard.cli.formatter import Labelled, render
from dockyard.cli.session import Session, StatusError, describe
from dockyard.cli.settings import natural_key

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

VOLUME_HEADERS = {
    "ID": "ID", "Name": "VOLUME NAME", "Group": "GROUP", "Driver": "DRIVER", "Scope": "SCOPE",
    "Availability": "AVAILABILITY", "Mountpoint": "MOUNTPOINT", "Labels": "LABELS",
    "Label": "LABEL", "Links": "LINKS", "Size": "SIZE", "Status": "STATUS",
}
VOLUME_TABLE = "{{.Driver}}\t{{.Name}}"


def volume_create_body(name: str, driver: str, options: list[str],
                       labels: list[str]) -> dict[str, Any]:
    """The body of ``POST /volumes/create``; empty fields are left out, as
    Go's ``omitempty`` does."""
    body: dict[str, Any] = {}
    if driver:
        body["Driver"] = driver
    if options:
        body["DriverOpts"] = key_value_map(options)
    if labels:
        body["Labels"] = key_value_map(labels)
    if name:
        body["Name"] = name
    return body


def cmd_volume_create(session: Session, argv: list[str]) -> int:
    flags = FlagSet("volume create", "[OPTIONS] [VOLUME]", "Create a volume", max_args=1)
    flags.string("driver", "d", "Specify volume driver name", default="local")
    flags.list("label", None, "Set metadata for a volume", type_name="list")
    flags.string("name", None, "Specify volume name", hidden=True)
    flags.list("opt", "o", "Set driver specific options", type_name="map")
    opts, args = flags.parse(argv)
    name = opts.name or ""
    if args:
        if name:
            raise StatusError("conflicting options: cannot specify a volume-name through both "
                              "--name and as a positional arg", 1)
        name = args[0]
    for label in opts.label:
        if not label.partition("=")[0].strip():
            raise StatusError(f"invalid label '{label}': empty name", 125)
    volume = session.client.post("/volumes/create", None,
                                 volume_create_body(name, opts.driver, opts.opt, opts.label))
    session.out((volume or {}).get("Name", name))
    return 0


class VolumeRow(Labelled):
    """One line of ``volume ls``: the fields ``--format`` can name."""

    def __init__(self, volume: dict[str, Any]):
        self._raw = volume

    @property
    def Name(self) -> str:
        return self._raw.get("Name", "")

    @property
    def Driver(self) -> str:
        return self._raw.get("Driver", "")

    @property
    def Scope(self) -> str:
        return self._raw.get("Scope", "")

    @property
    def Mountpoint(self) -> str:
        return self._raw.get("Mountpoint", "")

    @property
    def Links(self) -> str:
        usage = self._raw.get("UsageData")
        return "N/A" if usage is None else str(usage.get("RefCount", 0))

    @property
    def Size(self) -> str:
        usage = self._raw.get("UsageData")
        return "N/A" if usage is None else units.human_size(usage.get("Size", 0), 4)

    @property
    def Group(self) -> str:
        return "N/A"  # cluster volumes only

    Availability = Status = Group

    def __json__(self) -> dict[str, str]:
        fields = ("Availability", "Driver", "Group", "Labels", "Links", "Mountpoint", "Name",
                  "Scope", "Size", "Status")
        return {name: getattr(self, name) for name in fields}


def cmd_volume_ls(session: Session, argv: list[str]) -> int:
    flags = FlagSet("volume ls", "[OPTIONS]", "List volumes", max_args=0,
                    aliases=["volume ls", "volume list"])
    flags.bool("cluster", None, "Display only cluster volumes, and use cluster volume list "
               "formatting", hidden=True)
    flags.list("filter", "f", 'Provide filter values (e.g. "dangling=true")', type_name="filter")
    flags.string("format", None, "Format output using a custom template")
    flags.bool("quiet", "q", "Only display volume names")
    opts, _ = flags.parse(argv)
    listing = session.client.get("/volumes", {"filters": parse_filters(opts.filter)}) or {}
    volumes = sorted(listing.get("Volumes") or [], key=lambda v: natural_key(v.get("Name", "")))
    fmt = opts.format or ""
    if opts.quiet and fmt in ("", "table"):
        fmt = "{{.Name}}"
    session.stdout.write(render(fmt, [VolumeRow(v) for v in volumes], VOLUME_HEADERS,
                                VOLUME_TABLE))
    return 0


def cmd_volume_inspect(session: Session, argv: list[str]) -> int:
    from dockyard.cli.system import _print_inspected

    flags = FlagSet("volume inspect", "[OPTIONS] VOLUME [VOLUME...]",
                    "Display detailed information on one or more volumes", min_args=1)
    flags.string("format", "f", "Format output using a custom template")
    opts, names = flags.parse(argv)
    found: list[Any] = []
    failures: list[str] = []
    for name in names:
        try:
            found.append(session.client.get(f"/volumes/{name}"))
        except errors.NotFound as exc:
            failures.append(describe(exc))
    _print_inspected(session, found, opts.format)
    if failures:
        raise StatusError("\n".join(failures), 1)
    return 0


def cmd_volume_rm(session: Session, argv: list[str]) -> int:
    from dockyard.cli.containers import for_each

    flags = FlagSet("volume rm", "[OPTIONS] VOLUME [VOLUME...]",
                    "Remove one or more volumes. You cannot remove a volume that is in use by "
                    "a container.", min_args=1, aliases=["volume rm", "volume remove"])
    flags.bool("force", "f", "Force the removal of one or more volumes")
    opts, names = flags.parse(argv)
    params = {"force": opts.force}
    return for_each(session, names, lambda n: session.client.delete(f"/volumes/{n}", params))
