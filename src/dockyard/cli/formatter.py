"""Rendering rows with ``--format``, and docker's aligned tables.

``render(format, rows, headers, default)`` is the one entry point the
listing commands use.  The format is one of:

* ``""`` or ``"table"``  → the command's default table format;
* ``"table TEMPLATE"``    → a header line (the template executed on the
  headers) and one line per row, aligned by ``tabwrite``;
* ``"json"``              → one JSON object per row (``{{json .}}``);
* anything else           → the template executed once per row, no header.

As in docker, the two-character sequences ``\\t`` and ``\\n`` in a format are
turned into a tab and a newline first, so ``table {{.ID}}\\t{{.Names}}``
works from a shell.

``tabwrite`` is Go's text/tabwriter with docker's settings (minimum cell
width 10, padding 3, spaces): tab-terminated cells form columns; a column's
width is taken over the run of consecutive lines that have that column.
"""

from __future__ import annotations

from dockyard.cli.template import Template
from dockyard.cli.template_functions import HEADER_FUNCTIONS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterable

MIN_WIDTH = 10
PADDING = 3


def tabwrite(text: str, min_width: int = MIN_WIDTH, padding: int = PADDING) -> str:
    """Align tab-separated cells the way Go's tabwriter does (flags 0)."""
    raw_lines = text.split("\n")
    trailing_newline = raw_lines and raw_lines[-1] == ""
    if trailing_newline:
        raw_lines.pop()
    lines = [line.split("\t") for line in raw_lines]
    out: list[str] = []
    widths: list[int] = []

    def write_lines(line0: int, line1: int) -> None:
        for cells in lines[line0:line1]:
            parts = []
            for j, cell in enumerate(cells):
                if j < len(widths):
                    parts.append(cell.ljust(widths[j]))
                else:
                    parts.append(cell)
            out.append("".join(parts))

    def format_block(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            # This line opens a block of lines sharing the column.
            write_lines(line0, this)
            line0 = this
            width = min_width
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            format_block(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    format_block(0, len(lines))
    return "\n".join(out) + ("\n" if trailing_newline else "")


class _HeaderText(str):
    """A header cell; callable so ``{{.Label "x"}}`` renders in the header too."""

    def __call__(self, *args: Any) -> "_HeaderText":
        return self


class _Headers:
    """Template data for the header line: field name → column title."""

    def __init__(self, titles: dict[str, str]):
        self._titles = titles

    def __getattr__(self, name: str) -> _HeaderText:
        if name.startswith("_"):
            raise AttributeError(name)
        return _HeaderText(self._titles.get(name, ""))


class Labelled:
    """``Labels`` and ``Label "key"`` for a row whose API object (a
    container, network or volume) is ``self._raw``."""

    _raw: dict

    @property
    def Labels(self) -> str:
        return ",".join(f"{k}={v}" for k, v in (self._raw.get("Labels") or {}).items())

    def Label(self, name: str) -> str:
        return (self._raw.get("Labels") or {}).get(name, "")


def expand_escapes(fmt: str) -> str:
    return fmt.replace("\\t", "\t").replace("\\n", "\n")


def render(fmt: str, rows: Iterable[Any], headers: dict[str, str], default: str) -> str:
    """Render ``rows`` per ``fmt`` (see the module docstring); returns the text."""
    fmt = fmt or "table"
    if fmt == "json":
        fmt = "{{json .}}"
    is_table = fmt.startswith("table")
    if is_table:
        fmt = fmt[len("table"):].strip() or default
    template = Template(expand_escapes(fmt))
    body = [template.render(row) + "\n" for row in rows]
    if not is_table:
        return "".join(body)
    head = template.render(_Headers(headers), HEADER_FUNCTIONS) + "\n"
    return tabwrite(head + "".join(body))


def ellipsis(text: str, max_width: int) -> str:
    """docker's Ellipsis: cut to ``max_width`` characters, ending in "…"."""
    if len(text) <= max_width:
        return text
    if max_width <= 1:
        return text[:max_width]
    return text[:max_width - 1] + "…"


def truncate_id(ident: str) -> str:
    """docker's TruncateID: drop the algorithm prefix, keep 12 hex digits."""
    if ":" in ident:
        ident = ident.split(":", 1)[1]
    return ident[:12]


def go_quote(text: str) -> str:
    """Go's strconv.Quote: double quotes, escapes, printable Unicode kept."""
    out = ['"']
    for ch in text:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)
