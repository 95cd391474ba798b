"""``system df``: disk usage from ``GET /system/df``.

The summary has one row per kind (Images, Containers, Local Volumes, Build
Cache) with docker's arithmetic: what is reclaimable is what no running or
paused container holds, shown with its integer percentage of the total
("1.2MB (50%)").  ``-v`` prints a table per kind instead.
"""

from __future__ import annotations

import time

from dockyard.cli import units
from dockyard.cli.containers import PS_HEADERS, ContainerRow
from dockyard.cli.flags import FlagSet
from dockyard.cli.formatter import render, truncate_id
from dockyard.cli.images import IMAGE_HEADERS, ImageRow, familiar_name, split_reference
from dockyard.cli.session import Session

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DF_HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
              "Reclaimable": "RECLAIMABLE"}
DF_TABLE = "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
DF_IMAGES = ("{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}"
             "\t{{.UniqueSize}}\t{{.Containers}}")
DF_CONTAINERS = ("{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}"
                 "\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}")
DF_VOLUMES = "{{.Name}}\t{{.Links}}\t{{.Size}}"
DF_CACHE = ("{{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}"
            "\t{{.UsageCount}}\t{{.Shared}}")
CACHE_HEADERS = {"ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE",
                 "CreatedSince": "CREATED", "LastUsedSince": "LAST USED",
                 "UsageCount": "USAGE", "Shared": "SHARED"}
_ACTIVE_STATES = ("running", "paused", "restarting")


def _size(value: float) -> str:
    return units.human_size(value, 4)


def _with_percent(reclaimable: int, total: int) -> str:
    if total > 0:
        return f"{_size(reclaimable)} ({reclaimable * 100 // total}%)"
    return _size(reclaimable)


class SummaryRow:
    """One line of the summary table."""

    def __init__(self, kind: str, total: int, active: int, size: str, reclaimable: str):
        self.Type = kind
        self.TotalCount = str(total)
        self.Active = str(active)
        self.Size = size
        self.Reclaimable = reclaimable

    def __json__(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in ("Active", "Reclaimable", "Size", "TotalCount",
                                                "Type")}


def _usage(volume: dict[str, Any]) -> tuple[int, int]:
    usage = volume.get("UsageData") or {}
    return int(usage.get("RefCount") or 0), int(usage.get("Size", -1))


def builder_size(cache: list[dict[str, Any]]) -> int:
    return sum(int(r.get("Size") or 0) for r in cache if not r.get("Shared"))


def summary_rows(df: dict[str, Any]) -> list[SummaryRow]:
    images = df.get("Images") or []
    layers = int(df.get("LayersSize") or 0)
    used = sum(i.get("Size", 0) - i.get("SharedSize", 0) for i in images
               if i.get("Containers") and i.get("Size", -1) != -1
               and i.get("SharedSize", -1) != -1)
    rows = [SummaryRow("Images", len(images), sum(1 for i in images if i.get("Containers", 0) > 0),
                       _size(layers), _with_percent(layers - used, layers))]

    containers = df.get("Containers") or []
    total = sum(int(c.get("SizeRw") or 0) for c in containers)
    idle = sum(int(c.get("SizeRw") or 0) for c in containers
               if c.get("State") not in _ACTIVE_STATES)
    rows.append(SummaryRow("Containers", len(containers),
                           sum(1 for c in containers if c.get("State") in _ACTIVE_STATES),
                           _size(total), _with_percent(idle, total)))

    volumes = [_usage(v) for v in df.get("Volumes") or []]
    total = sum(size for _, size in volumes if size != -1)
    idle = sum(size for refs, size in volumes if size != -1 and refs == 0)
    rows.append(SummaryRow("Local Volumes", len(volumes), sum(1 for r, _ in volumes if r > 0),
                           _size(total), _with_percent(idle, total)))

    cache = df.get("BuildCache") or []
    size = builder_size(cache)
    in_use = sum(int(r.get("Size") or 0) for r in cache if r.get("InUse") and not r.get("Shared"))
    rows.append(SummaryRow("Build Cache", len(cache), sum(1 for r in cache if r.get("InUse")),
                           _size(size), _size(size - in_use)))
    return rows


class CacheRow:
    def __init__(self, record: dict[str, Any], now: float):
        self._r = record
        self._now = now

    @property
    def ID(self) -> str:
        ident = truncate_id(self._r.get("ID", ""))
        return ident + "*" if self._r.get("InUse") else ident

    @property
    def CacheType(self) -> str:
        return self._r.get("Type", "")

    @property
    def Size(self) -> str:
        return units.human_size(self._r.get("Size") or 0)

    @property
    def CreatedSince(self) -> str:
        return self._since(self._r.get("CreatedAt"))

    @property
    def LastUsedSince(self) -> str:
        return self._since(self._r.get("LastUsedAt"))

    @property
    def UsageCount(self) -> str:
        return str(self._r.get("UsageCount") or 0)

    @property
    def Shared(self) -> str:
        return str(bool(self._r.get("Shared"))).lower()

    def _since(self, stamp: str | None) -> str:
        from dockyard.units import parse_rfc3339

        return units.since(parse_rfc3339(stamp), self._now) if stamp else ""


def _image_row(image: dict[str, Any], now: float) -> ImageRow:
    repo = tag = "<none>"
    tags = image.get("RepoTags") or []
    if tags and tags[0] != "<none>:<none>":
        name, found = split_reference(tags[0])
        if found:
            repo, tag = familiar_name(name), found
    return ImageRow(image, repo, tag, "<none>", True, now)


def verbose_text(df: dict[str, Any]) -> str:
    from dockyard.cli.volumes import VOLUME_HEADERS, VolumeRow

    now = time.time()
    images = [_image_row(i, now) for i in df.get("Images") or []]
    containers = [ContainerRow({**c, "SizeRootFs": 0}, True, now)
                  for c in df.get("Containers") or []]
    volumes = [VolumeRow(v) for v in df.get("Volumes") or []]
    cache = sorted(df.get("BuildCache") or [],
                   key=lambda r: (r.get("LastUsedAt") or "", r.get("CreatedAt") or ""),
                   reverse=True)
    size = builder_size(cache)
    return ("Images space usage:\n\n" + render("table", images, IMAGE_HEADERS, DF_IMAGES)
            + "\nContainers space usage:\n\n"
            + render("table", containers, PS_HEADERS, DF_CONTAINERS)
            + "\nLocal Volumes space usage:\n\n"
            + render("table", volumes, VOLUME_HEADERS, DF_VOLUMES)
            + f"\nBuild cache usage: {_size(size)}\n\n"
            + render("table", [CacheRow(r, now) for r in cache], CACHE_HEADERS, DF_CACHE))


def cmd_system_df(session: Session, argv: list[str]) -> int:
    flags = FlagSet("system df", "[OPTIONS]", "Show dockyard disk usage", max_args=0)
    flags.string("format", None, "Format output using a custom template")
    flags.bool("verbose", "v", "Show detailed information on space usage")
    opts, _ = flags.parse(argv)
    df = session.client.get("/system/df") or {}
    if opts.verbose and opts.format in (None, "", "table"):
        session.stdout.write(verbose_text(df))
    elif opts.verbose:
        from dockyard.cli.formatter import expand_escapes
        from dockyard.cli.template import Template

        session.out(Template(expand_escapes(opts.format)).render(df))
    else:
        session.stdout.write(render(opts.format or "", summary_rows(df), DF_HEADERS, DF_TABLE))
    return 0
