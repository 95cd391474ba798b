"""Command-line flags with docker's (pflag's) syntax and messages.

Accepted forms: ``--name x``, ``--name=x``, ``-n x``, ``-nx``, ``-n=x``,
grouped booleans ``-dit``, a boolean given a value (``--rm=false``,
``-H=false``), ``--`` ending the flags.  With ``interspersed=False``
(``run``, ``create``) flags stop at the first positional argument, so
everything after the image is the container's command.

Errors raise ``UsageError`` carrying docker's wording and exit status:
flag errors exit 125 (docker's FlagErrorFunc), argument-count errors 1.
``--help`` raises ``HelpRequested``; callers print ``FlagSet.help_text()``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable

PROG = "dockyard"


class UsageError(Exception):
    """A command line that cannot be parsed; ``str()`` is the full message."""

    def __init__(self, message: str, status: int = 125):
        super().__init__(message)
        self.status = status


class HelpRequested(Exception):
    """``--help`` was given; ``flags`` is the FlagSet whose help to print."""

    def __init__(self, flags: "FlagSet"):
        super().__init__(flags.command)
        self.flags = flags


class Flag:
    """One flag: its names, value kind, and how to convert the value.

    ``kind`` is ``bool``, ``string``, ``int`` or ``list`` (repeatable);
    ``convert`` turns the text into the stored value and raises ValueError
    with docker's explanation when it cannot.
    """

    __slots__ = ("long", "short", "kind", "dest", "help", "default", "convert", "type_name",
                 "hidden")

    def __init__(self, long: str, short: str | None, kind: str, help: str, default: Any,
                 convert: Callable[[str], Any] | None, type_name: str, hidden: bool,
                 dest: str | None = None):
        self.long = long
        self.short = short
        self.kind = kind
        self.dest = dest or long.replace("-", "_")
        self.help = help
        self.default = default
        self.convert = convert
        self.type_name = type_name
        self.hidden = hidden

    @property
    def label(self) -> str:
        """How docker names the flag in errors: ``-m, --memory`` or ``--cpus``."""
        return f"-{self.short}, --{self.long}" if self.short else f"--{self.long}"


class Options:
    """Parsed flag values as attributes; ``changed`` holds the flags given."""

    def __init__(self) -> None:
        self.changed: set[str] = set()

    def __repr__(self) -> str:
        return f"Options({vars(self)!r})"


class FlagSet:
    """The flags and argument rules of one command (``run``, ``image ls``)."""

    def __init__(self, command: str, usage: str, description: str, *,
                 min_args: int = 0, max_args: int | None = None,
                 interspersed: bool = True, aliases: Iterable[str] = ()):
        self.command = command
        self.usage = usage
        self.description = description
        self.min_args = min_args
        self.max_args = max_args
        self.interspersed = interspersed
        self.aliases = list(aliases)
        self.flags: list[Flag] = []
        self._long: dict[str, Flag] = {}
        self._short: dict[str, Flag] = {}

    # -- declaration -------------------------------------------------------

    def add(self, long: str, short: str | None = None, *, kind: str = "string", help: str = "",
            default: Any = None, convert: Callable[[str], Any] | None = None,
            type_name: str | None = None, hidden: bool = False,
            dest: str | None = None) -> FlagSet:
        """Declare a flag; ``dest`` lets two spellings share one value (docker's
        hidden ``--net`` for ``--network``), in the order they were given."""
        if default is None:
            default = {"bool": False, "list": [], "int": 0}.get(kind, default)
        flag = Flag(long, short, kind, help, default, convert,
                    type_name if type_name is not None else ("" if kind == "bool" else kind),
                    hidden, dest)
        self.flags.append(flag)
        self._long[long] = flag
        if short:
            self._short[short] = flag
        return self

    def bool(self, long: str, short: str | None = None, help: str = "", **kw: Any) -> FlagSet:
        return self.add(long, short, kind="bool", help=help, **kw)

    def string(self, long: str, short: str | None = None, help: str = "", **kw: Any) -> FlagSet:
        return self.add(long, short, kind="string", help=help, **kw)

    def int(self, long: str, short: str | None = None, help: str = "", **kw: Any) -> FlagSet:
        return self.add(long, short, kind="int", help=help, **kw)

    def list(self, long: str, short: str | None = None, help: str = "", **kw: Any) -> FlagSet:
        return self.add(long, short, kind="list", help=help, **kw)

    # -- parsing -----------------------------------------------------------

    @property
    def command_path(self) -> str:
        return f"{PROG} {self.command}"

    @property
    def use_line(self) -> str:
        return f"{self.command_path} {self.usage}".rstrip()

    def flag_error(self, message: str) -> UsageError:
        return UsageError(f"{message}\n\nUsage:  {self.use_line}\n\n"
                          f"Run '{self.command_path} --help' for more information", 125)

    def _args_error(self, what: str, see: bool = False) -> UsageError:
        verb = "See" if see else "Run"
        return UsageError(f"{PROG}: '{self.command_path}' {what}\n\nUsage:  {self.use_line}\n\n"
                          f"{verb} '{self.command_path} --help' for more information", 1)

    def parse(self, argv: list[str]) -> tuple[Options, list[str]]:
        """Parse ``argv`` (without the command name) into options and args."""
        opts = Options()
        for flag in self.flags:
            setattr(opts, flag.dest, list(flag.default) if flag.kind == "list" else flag.default)
        args: list[str] = []
        i = 0
        while i < len(argv):
            arg = argv[i]
            i += 1
            if arg == "--":
                args.extend(argv[i:])
                break
            if arg.startswith("--") and len(arg) > 2:
                name, eq, value = arg[2:].partition("=")
                if name == "help":
                    raise HelpRequested(self)
                flag = self._long.get(name)
                if flag is None:
                    raise self.flag_error(f"unknown flag: --{name}")
                if flag.kind != "bool" and not eq:
                    if i >= len(argv):
                        raise self.flag_error(f"flag needs an argument: --{name}")
                    value = argv[i]
                    i += 1
                self._set(opts, flag, value if eq or flag.kind != "bool" else None)
            elif arg.startswith("-") and len(arg) > 1:
                i = self._parse_shorts(opts, arg, argv, i)
            else:
                args.append(arg)
                if not self.interspersed:
                    args.extend(argv[i:])
                    break
        self._check_args(args)
        return opts, args

    def _parse_shorts(self, opts: Options, arg: str, argv: list[str], i: int) -> int:
        shorts = arg[1:]
        while shorts:
            letter, shorts = shorts[0], shorts[1:]
            flag = self._short.get(letter)
            if flag is None:
                raise self.flag_error(f"unknown shorthand flag: '{letter}' in {arg}")
            if shorts.startswith("="):
                self._set(opts, flag, shorts[1:])
                return i
            if flag.kind == "bool":
                self._set(opts, flag, None)
                continue
            if shorts:
                self._set(opts, flag, shorts)
                return i
            if i >= len(argv):
                raise self.flag_error(f"flag needs an argument: '{letter}' in -{letter}")
            self._set(opts, flag, argv[i])
            return i + 1
        return i

    def _set(self, opts: Options, flag: Flag, text: str | None) -> None:
        opts.changed.add(flag.dest)
        try:
            if flag.kind == "bool":
                value: Any = True if text is None else _parse_bool(text)
            elif flag.kind == "int":
                value = int(text)  # type: ignore[arg-type]
            else:
                value = text
            if flag.convert is not None:
                value = flag.convert(value)
        except ValueError as exc:
            detail = str(exc)
            if flag.kind == "int" and flag.convert is None:
                detail = f'strconv.ParseInt: parsing "{text}": invalid syntax'
            elif flag.kind == "bool" and flag.convert is None:
                detail = f'strconv.ParseBool: parsing "{text}": invalid syntax'
            raise self.flag_error(
                f'invalid argument "{text}" for "{flag.label}" flag: {detail}') from None
        if flag.kind == "list":
            getattr(opts, flag.dest).append(value)
        else:
            setattr(opts, flag.dest, value)

    def _check_args(self, args: list[str]) -> None:
        lo, hi = self.min_args, self.max_args
        n = len(args)
        if hi == 0 and n:
            raise self._args_error("accepts no arguments")
        if lo == hi and n != lo:
            raise self._args_error(f"requires {lo} {_plural(lo)}")
        if n < lo:
            if hi is not None:
                raise self._args_error(f"requires at least {lo} and at most {hi} {_plural(hi)}")
            raise self._args_error(f"requires at least {lo} {_plural(lo)}", see=True)
        if hi is not None and n > hi:
            if lo:
                raise self._args_error(f"requires at least {lo} and at most {hi} {_plural(hi)}")
            raise self._args_error(f"requires at most {hi} {_plural(hi)}")

    # -- help --------------------------------------------------------------

    def help_text(self) -> str:
        lines = [f"Usage:  {self.use_line}", "", self.description, ""]
        if self.aliases:
            lines += ["Aliases:", "  " + ", ".join(f"{PROG} {a}" for a in self.aliases), ""]
        entries = []
        for flag in self.flags:
            if flag.hidden:
                continue
            names = f"-{flag.short}, --{flag.long}" if flag.short else f"    --{flag.long}"
            if flag.type_name:
                names += " " + flag.type_name
            text = flag.help
            if flag.kind in ("string", "int") and flag.default not in (None, "", 0):
                text += f' (default {flag.default!r})'.replace("'", '"') if flag.kind == "string" \
                    else f" (default {flag.default})"
            entries.append((names, text))
        entries.append(("    --help", "Print usage"))
        entries.sort(key=lambda e: e[0].strip().lstrip("-").split(",")[-1].strip().lstrip("-"))
        width = max(len(n) for n, _ in entries) + 3
        lines.append("Options:")
        lines += [f"  {n.ljust(width)}{t}".rstrip() for n, t in entries]
        return "\n".join(lines) + "\n"


def key_value_map(items: Iterable[str]) -> dict[str, str]:
    """docker's MapOpts and ConvertKVStringsToMap (``--label``, ``--opt``):
    ``k=v`` → {k: v}, ``k`` → {k: ""}; a later key wins."""
    return {key: value for key, _, value in (item.partition("=") for item in items)}


def _parse_bool(text: str) -> bool:
    """Go's strconv.ParseBool."""
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise ValueError(text)


def _plural(n: int) -> str:
    return "argument" if n == 1 else "arguments"
