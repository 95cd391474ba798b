"""Commands about a container's processes: ``top``, ``pause``, ``unpause``."""

from __future__ import annotations

from dockyard.cli.containers import for_each
from dockyard.cli.flags import FlagSet
from dockyard.cli.formatter import tabwrite
from dockyard.cli.session import Session

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# docker's top writes through a tabwriter with a minimum cell width of 20
# (the listing tables use 10).
TOP_MIN_WIDTH = 20


def top_table(listing: dict[str, Any]) -> str:
    """``{"Titles": [...], "Processes": [[...], ...]}`` as docker prints it."""
    lines = ["\t".join(listing.get("Titles") or [])]
    lines += ["\t".join(str(cell) for cell in row) for row in listing.get("Processes") or []]
    return tabwrite("\n".join(lines) + "\n", min_width=TOP_MIN_WIDTH)


def cmd_top(session: Session, argv: list[str]) -> int:
    flags = FlagSet("top", "CONTAINER [ps OPTIONS]",
                    "Display the running processes of a container", min_args=1,
                    interspersed=False, aliases=["container top", "top"])
    _, args = flags.parse(argv)
    name, ps_args = args[0], args[1:]
    params = {"ps_args": " ".join(ps_args)} if ps_args else None
    listing = session.client.get(f"/containers/{name}/top", params) or {}
    session.stdout.write(top_table(listing))
    return 0


def cmd_pause(session: Session, argv: list[str]) -> int:
    flags = FlagSet("pause", "CONTAINER [CONTAINER...]",
                    "Pause all processes within one or more containers", min_args=1,
                    aliases=["container pause", "pause"])
    _, names = flags.parse(argv)
    return for_each(session, names, lambda n: session.client.post(f"/containers/{n}/pause"))


def cmd_unpause(session: Session, argv: list[str]) -> int:
    flags = FlagSet("unpause", "CONTAINER [CONTAINER...]",
                    "Unpause all processes within one or more containers", min_args=1,
                    aliases=["container unpause", "unpause"])
    _, names = flags.parse(argv)
    return for_each(session, names, lambda n: session.client.post(f"/containers/{n}/unpause"))
