"""Removing unused objects: ``container prune``, ``image prune``,
``volume prune``, ``builder prune`` and ``system prune``.

Each kind has one runner, ``(session, filters, all) -> (space reclaimed,
report text)``, which calls ``POST /{kind}/prune`` without asking; the
``* prune`` commands confirm, run one runner and print its report, and
``system prune`` confirms once and runs several in docker's order
(containers, networks, volumes with ``--volumes``, images, build cache).
As in docker, the space counts only when something was deleted, and the
total is printed with four significant digits ("Total reclaimed space:
1.234MB").
"""

from __future__ import annotations

import sys

from dockyard import errors
from dockyard.cli import units
from dockyard.cli.containers import parse_filters
from dockyard.cli.flags import FlagSet
from dockyard.cli.session import Session, StatusError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    Filters = dict[str, list[str]]
    Runner = Callable[[Session, Filters, bool], tuple[int, str]]


def confirm(session: Session, warning: str) -> bool:
    """docker's prompt; anything but y/yes (any case) declines."""
    session.stdout.write(f"{warning} [y/N] ")
    session.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def _listing(title: str, items: list[str]) -> str:
    return f"{title}:\n" + "".join(f"{item}\n" for item in items)


def prune_containers(session: Session, filters: Filters, _all: bool = False) -> tuple[int, str]:
    report = session.client.post("/containers/prune", {"filters": filters}) or {}
    deleted = report.get("ContainersDeleted") or []
    if not deleted:
        return 0, ""
    return int(report.get("SpaceReclaimed") or 0), _listing("Deleted Containers", deleted)


def prune_networks(session: Session, filters: Filters, _all: bool = False) -> tuple[int, str]:
    try:
        report = session.client.post("/networks/prune", {"filters": filters}) or {}
    except errors.NotFound:
        return 0, ""  # a daemon without networks to prune
    deleted = report.get("NetworksDeleted") or []
    return 0, _listing("Deleted Networks", deleted) if deleted else ""


def prune_volumes(session: Session, filters: Filters, _all: bool = False) -> tuple[int, str]:
    report = session.client.post("/volumes/prune", {"filters": filters}) or {}
    deleted = report.get("VolumesDeleted") or []
    if not deleted:
        return 0, ""
    return int(report.get("SpaceReclaimed") or 0), _listing("Deleted Volumes", deleted)


def prune_images(session: Session, filters: Filters, all_: bool = False) -> tuple[int, str]:
    filters = {**filters, "dangling": ["false" if all_ else "true"]}
    report = session.client.post("/images/prune", {"filters": filters}) or {}
    deleted = report.get("ImagesDeleted") or []
    if not deleted:
        return 0, ""
    lines = [f"untagged: {item['Untagged']}" if item.get("Untagged")
             else f"deleted: {item.get('Deleted', '')}" for item in deleted]
    return int(report.get("SpaceReclaimed") or 0), _listing("Deleted Images", lines)


def prune_build_cache(session: Session, filters: Filters, all_: bool = False) -> tuple[int, str]:
    try:
        report = session.client.post("/build/prune", {"all": all_, "filters": filters}) or {}
    except errors.NotFound:
        return 0, ""  # no builder on this daemon
    deleted = report.get("CachesDeleted") or []
    text = _listing("Deleted build cache objects", deleted) if deleted else ""
    return int(report.get("SpaceReclaimed") or 0), text


def _total(space: int) -> str:
    return f"Total reclaimed space: {units.human_size(space, 4)}"


def _prune_flags(command: str, description: str, filter_example: str) -> FlagSet:
    flags = FlagSet(command, "[OPTIONS]", description, max_args=0)
    flags.list("filter", None, f'Provide filter values (e.g. "{filter_example}")',
               type_name="filter")
    flags.bool("force", "f", "Do not prompt for confirmation")
    return flags


def _run_one(session: Session, runner: Runner, filters: Filters, all_: bool) -> int:
    space, text = runner(session, filters, all_)
    if text:
        session.out(text)
    session.out(_total(space))
    return 0


def cmd_container_prune(session: Session, argv: list[str]) -> int:
    opts, _ = _prune_flags("container prune", "Remove all stopped containers",
                           "until=<timestamp>").parse(argv)
    if not opts.force and not confirm(
            session, "WARNING! This will remove all stopped containers.\n"
                     "Are you sure you want to continue?"):
        return 0
    return _run_one(session, prune_containers, parse_filters(opts.filter), False)


def cmd_image_prune(session: Session, argv: list[str]) -> int:
    flags = _prune_flags("image prune", "Remove unused images", "until=<timestamp>")
    flags.bool("all", "a", "Remove all unused images, not just dangling ones")
    opts, _ = flags.parse(argv)
    warning = ("WARNING! This will remove all images without at least one container "
               "associated to them." if opts.all else
               "WARNING! This will remove all dangling images.")
    if not opts.force and not confirm(session, f"{warning}\nAre you sure you want to continue?"):
        return 0
    return _run_one(session, prune_images, parse_filters(opts.filter), opts.all)


def cmd_volume_prune(session: Session, argv: list[str]) -> int:
    flags = _prune_flags("volume prune", "Remove unused local volumes", "label=<label>")
    flags.bool("all", "a", "Remove all unused volumes, not just anonymous ones")
    opts, _ = flags.parse(argv)
    filters = parse_filters(opts.filter)
    warning = ("WARNING! This will remove anonymous local volumes not used by at least one "
               "container.")
    if opts.all:
        if "all" in filters:
            raise StatusError("conflicting options: cannot specify both --all and "
                              "--filter all=1", 1)
        filters["all"] = ["true"]
        warning = "WARNING! This will remove all local volumes not used by at least one container."
    if not opts.force and not confirm(session, f"{warning}\nAre you sure you want to continue?"):
        return 0
    return _run_one(session, prune_volumes, filters, False)


def cmd_builder_prune(session: Session, argv: list[str]) -> int:
    flags = _prune_flags("builder prune", "Remove build cache", "until=24h")
    flags.bool("all", "a", "Remove all unused build cache, not just dangling ones")
    opts, _ = flags.parse(argv)
    # docker words this one prompt on a single line
    warning = ("WARNING! This will remove all build cache." if opts.all else
               "WARNING! This will remove all dangling build cache.")
    if not opts.force and not confirm(session, f"{warning} Are you sure you want to continue?"):
        return 0
    return _run_one(session, prune_build_cache, parse_filters(opts.filter), opts.all)


def system_prune_warning(volumes: bool, all_: bool, filters: Filters) -> str:
    """docker's confirmation text for ``system prune``."""
    items = ["all stopped containers", "all networks not used by at least one container"]
    if volumes:
        items.append("all anonymous volumes not used by at least one container")
    items.append("all images without at least one container associated to them" if all_
                 else "all dangling images")
    items.append("all build cache" if all_ else "unused build cache")
    text = "WARNING! This will remove:\n" + "".join(f"  - {item}\n" for item in items)
    shown = sorted((f"{name}={value}" for name in ("label", "label!", "until")
                    for value in filters.get(name, [])), key=_natural)
    if shown:
        text += "\n  Items to be pruned will be filtered with:\n"
        text += "".join(f"  - {item}\n" for item in shown)
    return text + "\nAre you sure you want to continue?"


def _natural(text: str) -> Any:
    from dockyard.cli.settings import natural_key

    return natural_key(text)


def cmd_system_prune(session: Session, argv: list[str]) -> int:
    flags = _prune_flags("system prune", "Remove unused data", "label=<key>=<value>")
    flags.bool("all", "a", "Remove all unused images not just dangling ones")
    flags.bool("volumes", None, "Prune anonymous volumes")
    opts, _ = flags.parse(argv)
    filters = parse_filters(opts.filter)
    if opts.volumes and "until" in filters:
        raise StatusError('ERROR: The "until" filter is not supported with "--volumes"', 1)
    if not opts.force and not confirm(session, system_prune_warning(opts.volumes, opts.all,
                                                                    filters)):
        return 0
    runners: list[Runner] = [prune_containers, prune_networks]
    if opts.volumes:
        runners.append(prune_volumes)
    runners += [prune_images, prune_build_cache]
    total = 0
    for runner in runners:
        space, text = runner(session, filters, opts.all)
        total += space
        if text:
            session.out(text)
    session.out(_total(total))
    return 0
