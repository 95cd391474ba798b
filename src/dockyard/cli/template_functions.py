"""The values side of dockyard's Go templates: Go's ``%v`` printing, truth,
and the function map (docker's additions plus Go's builtins).

Kept apart from ``template`` (lexing, parsing, executing) so each stays a
readable size; ``template`` re-exports what callers use.
"""

from __future__ import annotations

import json
import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable


class TemplateError(Exception):
    """A format that does not parse or fails while executing."""


class _Missing:
    """A map key that is not there; prints as Go's ``<no value>``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<no value>"

    def __bool__(self) -> bool:
        return False


MISSING = _Missing()


# -- printing like Go's %v ----------------------------------------------------

def go_string(value: Any) -> str:
    """Format a value as Go's ``fmt.Sprint`` of the decoded JSON would."""
    if value is MISSING:
        return "<no value>"
    if value is None:
        return "<nil>"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_string(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{go_string(k)}:{go_string(value[k])}"
                                 for k in sorted(value)) + "]"
    return str(value)


def _go_float(value: float) -> str:
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    return text.replace("e-0", "e-").replace("e+0", "e+") if "e" in text else text


def truth(value: Any) -> bool:
    if value is MISSING or value is None:
        return False
    if isinstance(value, (bool, int, float, str, list, tuple, dict)):
        return bool(value)
    return True


def _to_json(value: Any) -> Any:
    if hasattr(value, "__json__"):
        return value.__json__()
    if value is MISSING:
        return None
    return value


# -- functions ----------------------------------------------------------------

def _json(value: Any) -> str:
    # docker's json function: no HTML escaping, no trailing newline.
    return json.dumps(_to_json(value), default=_to_json, ensure_ascii=False,
                      separators=(",", ":"))


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(item, dict):
            item = item.get(key, MISSING)
        elif isinstance(item, (list, tuple, str)):
            try:
                item = item[int(key)]
            except (IndexError, ValueError):
                raise TemplateError(f"error calling index: index out of range: {key}") from None
        elif item is MISSING or item is None:
            return MISSING
        else:
            raise TemplateError(f"can't index item of type {type(item).__name__}")
    return item


def _go_print(*args: Any) -> str:
    # fmt.Sprint puts a space between operands when neither is a string.
    out = ""
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out += " "
        out += go_string(arg)
    return out


_VERB = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+))?([a-zA-Z%])")


def _printf(fmt: str, *args: Any) -> str:
    """Go's fmt.Sprintf for the common verbs (%s %v %d %q %x %f %g %e %t %%)."""
    queue = list(args)

    def repl(match: re.Match[str]) -> str:
        flags, width, precision, verb = match.groups()
        if verb == "%":
            return "%"
        if not queue:
            return f"%!{verb}(MISSING)"
        arg = queue.pop(0)
        spec = flags.replace("#", "") + (width or "") + (f".{precision}" if precision else "")
        if verb in "sv":
            text = go_string(arg)
            if precision:
                text = text[:int(precision)]
            if width and width != "*":
                text = text.ljust(int(width)) if "-" in flags else text.rjust(int(width))
            return text
        if verb == "q":
            return json.dumps(go_string(arg), ensure_ascii=False)
        if verb == "t":
            return go_string(bool(arg))
        if verb == "d":
            return ("%" + spec + "d") % int(arg)
        if verb in "xXoeEfFgG":
            if verb in "xX" and isinstance(arg, str):
                return arg.encode().hex() if verb == "x" else arg.encode().hex().upper()
            return ("%" + spec + verb) % (float(arg) if verb not in "xXo" else int(arg))
        return f"%!{verb}({go_string(arg)})"

    out = _VERB.sub(repl, fmt)
    if queue:
        out += "%!(EXTRA " + ", ".join(go_string(a) for a in queue) + ")"
    return out


def _compare(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        try:
            return op(a, b)
        except TypeError:
            raise TemplateError("incompatible types for comparison") from None
    return compare


def _and(*args: Any) -> Any:
    for arg in args:
        if not truth(arg):
            return arg
    return args[-1]


def _or(*args: Any) -> Any:
    for arg in args:
        if truth(arg):
            return arg
    return args[-1]


def _title(text: str) -> str:
    # strings.Title: upper-case the first letter of each word, keep the rest.
    return re.sub(r"(^|\s)(\S)", lambda m: m.group(1) + m.group(2).upper(), text)


def _truncate(text: str, length: int) -> str:
    return text if len(text) < int(length) else text[:int(length)]


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "json": _json,
    "join": lambda items, sep: sep.join(go_string(i) for i in (items or [])),
    "split": lambda text, sep: text.split(sep),
    "lower": lambda text: go_string(text).lower(),
    "upper": lambda text: go_string(text).upper(),
    "title": lambda text: _title(go_string(text)),
    "pad": lambda text, left, right: " " * int(left) + go_string(text) + " " * int(right),
    "truncate": _truncate,
    "println": lambda *args: " ".join(go_string(a) for a in args) + "\n",
    "print": _go_print,
    "printf": _printf,
    "index": _index,
    "len": lambda item: len(item),
    "slice": lambda item, *ix: item[slice(*(int(i) for i in ix))],
    "not": lambda value: not truth(value),
    "and": _and,
    "or": _or,
    "eq": lambda a, *bs: any(a == b for b in bs),
    "ne": _compare(lambda a, b: a != b),
    "lt": _compare(lambda a, b: a < b),
    "le": _compare(lambda a, b: a <= b),
    "gt": _compare(lambda a, b: a > b),
    "ge": _compare(lambda a, b: a >= b),
}

# When rendering a table header, docker swaps these for functions that return
# their argument unchanged, so ``{{upper .Name}}`` still prints "NAME".
HEADER_FUNCTIONS: dict[str, Callable[..., Any]] = {
    **FUNCTIONS,
    **{name: (lambda v, *_: v) for name in ("json", "join", "split", "lower", "upper",
                                            "title", "pad", "truncate")},
}
