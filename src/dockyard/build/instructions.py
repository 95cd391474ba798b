"""Syntax tree → typed instructions grouped in stages, the second arrow.

Each instruction is a frozen dataclass; ``line`` is the first physical line
of its node.  Values are as written in the Dockerfile: variable expansion and
quote removal happen later (``expand.py``) because they depend on the ARG and
ENV state at dispatch time — except where docker itself decides early
(JSON arrays are already final; ``COPY <<EOF`` sources become
:class:`InlineFile`\\ s).

Validation follows BuildKit's ``instructions.Parse`` and its wording; every
error is a :class:`DockerfileError` whose message is ``dockerfile parse error
on line N: <docker's message>``.  On top of docker's parse-time checks this
module rejects duplicate stage names (docker only warns, then uses the first).

Grouping: ARGs before the first FROM are the *meta args* (usable in FROM
lines); every FROM opens a :class:`Stage`; any other instruction before the
first FROM is an error (``no build stage in current context``).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, Union

from dockyard.build.flags import FlagError, Flags as _Flags, parse_duration, parse_mount
from dockyard.build.parser import DockerfileError, Heredoc, Node, SyntaxTree, chomp_heredoc, parse_heredoc


_Invalid = FlagError  # one failure type below the edge; parse_instructions adds file and line


# ---------------------------------------------------------------------------
# the instructions

@dataclass(frozen=True, slots=True)
class InlineFile:
    """A heredoc used as a file: RUN's scripts, COPY/ADD's sources.

    ``data`` already has leading tabs removed when the heredoc was ``<<-``;
    ``expand`` is False for a quoted name (``<<"EOF"``)."""

    name: str
    data: str
    expand: bool = True
    chomp: bool = False


def _kw_line() -> Any:
    return field(default=0, kw_only=True, compare=False)


@dataclass(frozen=True, slots=True)
class Run:
    """``RUN``: ``args`` is the JSON array, or one shell command line
    (``json=False``: to be run with the stage's SHELL).  ``mounts`` are the
    ``--mount`` options as key → value dicts with ``type`` filled in."""

    args: tuple[str, ...]
    json: bool = False
    heredocs: tuple[InlineFile, ...] = ()
    mounts: tuple[dict[str, str], ...] = ()
    network: str | None = None
    security: str | None = None
    line: int = _kw_line()


@dataclass(frozen=True, slots=True)
class Cmd:
    args: tuple[str, ...]
    json: bool = False
    line: int = _kw_line()


@dataclass(frozen=True, slots=True)
class Entrypoint:
    args: tuple[str, ...]
    json: bool = False
    line: int = _kw_line()


@dataclass(frozen=True, slots=True)
class Shell:
    args: tuple[str, ...]
    line: int = _kw_line()


@dataclass(frozen=True, slots=True)
class Env:
    """``ENV``: ``pairs`` of (name, raw value) in order."""

    pairs: tuple[tuple[str, str], ...]
    line: int = _kw_line()


@dataclass(frozen=True, slots=True)
class Label:
    pairs: tuple[tuple[str, str], ...]
    line: int = _kw_line()


@dataclass(frozen=True, slots=True)
class Arg:
    """One declared build argument; ``ARG a b=1`` yields two of these."""

    name: str
    default: str | None = None
    line: int = _kw_line()


@dataclass(frozen=True, slots=True)
class Expose:
    ports: tuple[str, ...]
    line: int = _kw_line()


@dataclass(frozen=True, slots=True)
class Volume:
    paths: tuple[str, ...]
    line: int = _kw_line()


@dataclass(frozen=True, slots=True)
class User:
    user: str
    line: int = _kw_line()


@dataclass(frozen=True, slots=True)
class Workdir:
    path: str
    line: int = _kw_line()


@dataclass(frozen=True, slots=True)
class Stopsignal:
    signal: str
    line: int = _kw_line()


@dataclass(frozen=True, slots=True)
class Maintainer:
    name: str
    line: int = _kw_line()


@dataclass(frozen=True, slots=True)
class Onbuild:
    """``ONBUILD``: the trigger's text, to be parsed when a child image builds."""

    expression: str
    line: int = _kw_line()


@dataclass(frozen=True, slots=True)
class Copy:
    """``COPY``: ``sources`` are paths, ``heredocs`` inline sources;
    ``from_`` is a stage name, a stage index or an image reference."""

    sources: tuple[str, ...]
    dest: str
    chown: str = ""
    chmod: str = ""
    from_: str = ""
    link: bool = False
    parents: bool = False
    exclude: tuple[str, ...] = ()
    heredocs: tuple[InlineFile, ...] = ()
    line: int = _kw_line()


@dataclass(frozen=True, slots=True)
class Add:
    sources: tuple[str, ...]
    dest: str
    chown: str = ""
    chmod: str = ""
    checksum: str = ""
    link: bool = False
    keep_git_dir: bool = False
    unpack: bool | None = None
    exclude: tuple[str, ...] = ()
    heredocs: tuple[InlineFile, ...] = ()
    line: int = _kw_line()


@dataclass(frozen=True, slots=True)
class Healthcheck:
    """``HEALTHCHECK``: ``test`` is docker's form — ``("NONE",)``,
    ``("CMD", *argv)`` or ``("CMD-SHELL", cmdline)``; durations are in
    nanoseconds, 0 meaning "inherit the default"."""

    test: tuple[str, ...]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0
    line: int = _kw_line()


Instruction = Union[Run, Cmd, Entrypoint, Shell, Env, Label, Arg, Expose, Volume, User,
                    Workdir, Stopsignal, Maintainer, Onbuild, Copy, Add, Healthcheck]


@dataclass(frozen=True, slots=True)
class Stage:
    """One ``FROM`` and what follows it.  ``name`` is lower-cased (docker
    matches stage names case-insensitively) or ``""``; ``index`` counts from 0."""

    name: str
    base: str
    platform: str
    instructions: tuple[Instruction, ...]
    index: int
    line: int = _kw_line()


@dataclass(frozen=True, slots=True)
class StagedDockerfile:
    """The output of :func:`parse_instructions`."""

    meta_args: tuple[Arg, ...]
    stages: tuple[Stage, ...]

    def stage(self, ref: str) -> Stage | None:
        """The stage ``COPY --from=ref`` / ``FROM ref`` means, if any: a
        stage name (any case) or a stage index; None means an image."""
        for st in self.stages:
            if st.name and st.name == ref.lower():
                return st
        if ref.isdigit() and int(ref) < len(self.stages):
            return self.stages[int(ref)]
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"meta_args": [to_dict(a) for a in self.meta_args],
                "stages": [to_dict(s) for s in self.stages]}


def to_dict(value: Any) -> Any:
    """A JSON-ready dump of any instruction value; instructions carry their
    keyword under ``"kind"``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        if not isinstance(value, (Stage, InlineFile)):
            out["kind"] = type(value).__name__.upper()
        for f in dataclasses.fields(value):
            out[f.name.rstrip("_")] = to_dict(getattr(value, f.name))
        return out
    if isinstance(value, (tuple, list)):
        return [to_dict(v) for v in value]
    if isinstance(value, dict):
        return {k: to_dict(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------------
# one parser per keyword

def _at_least_one(kw: str) -> _Invalid:
    return _Invalid(f"{kw} requires at least one argument")


def _exactly_one(kw: str) -> _Invalid:
    return _Invalid(f"{kw} requires exactly one argument")


def _kvps(node: Node, kw: str) -> tuple[tuple[str, str], ...]:
    args = node.args
    if not args:
        raise _at_least_one(kw)
    if len(args) % 3:
        raise _Invalid(f"Bad input to {kw}, too many arguments")
    pairs = []
    for i in range(0, len(args), 3):
        if not args[i]:
            raise _Invalid(f"{kw} names can not be blank")
        pairs.append((args[i], args[i + 1]))
    return tuple(pairs)


def _command_line(node: Node) -> tuple[str, ...]:
    return node.args if node.json else ((" ".join(node.args),) if node.args else ())


def _inline_files(heredocs: tuple[Heredoc, ...]) -> tuple[InlineFile, ...]:
    return tuple(InlineFile(h.name, chomp_heredoc(h.content) if h.chomp else h.content,
                            h.expand, h.chomp) for h in heredocs)


def _sources_and_dest(node: Node, kw: str) -> tuple[tuple[str, ...], str, tuple[InlineFile, ...]]:
    if len(node.args) < 2:
        raise _Invalid(f"{kw} requires at least two arguments, but only one was provided. "
                       "Destination could not be determined")
    *srcs, dest = node.args
    if parse_heredoc(dest) is not None:
        raise _Invalid(f"{kw} cannot accept a heredoc as a destination")
    bodies = {h.name: h for h in node.heredocs}
    paths: list[str] = []
    inline: list[InlineFile] = []
    for src in srcs:
        doc = None if node.json else parse_heredoc(src)
        if doc is None:
            paths.append(src)
            continue
        content = bodies[doc.name].content if doc.name in bodies else ""
        if doc.chomp:
            content = chomp_heredoc(content)
        inline.append(InlineFile(doc.name, content, doc.expand, doc.chomp))
    return tuple(paths), dest, tuple(inline)


def _parse_copy(node: Node, fl: _Flags) -> Copy:
    f = fl.parse(chown="str", from_="str", chmod="str", link="bool", exclude="list",
                 parents="bool")
    srcs, dest, inline = _sources_and_dest(node, "COPY")
    return Copy(srcs, dest, f.get("chown", ""), f.get("chmod", ""), f.get("from", ""),
                f.get("link", False), f.get("parents", False), tuple(f["exclude"]), inline)


def _parse_add(node: Node, fl: _Flags) -> Add:
    f = fl.parse(chown="str", chmod="str", link="bool", keep_git_dir="bool", checksum="str",
                 unpack="bool", exclude="list")
    srcs, dest, inline = _sources_and_dest(node, "ADD")
    return Add(srcs, dest, f.get("chown", ""), f.get("chmod", ""), f.get("checksum", ""),
               f.get("link", False), f.get("keep-git-dir", False), f.get("unpack"),
               tuple(f["exclude"]), inline)


def _parse_run(node: Node, fl: _Flags) -> Run:
    f = fl.parse(mount="list", network="str", security="str")
    network = f.get("network")
    if network is not None and network not in ("default", "none", "host"):
        raise _Invalid(f'unsupported network mode "{network}"')
    security = f.get("security")
    if security is not None and security not in ("sandbox", "insecure"):
        raise _Invalid(f'unsupported security mode "{security}"')
    mounts = tuple(parse_mount(m) for m in f["mount"])
    return Run(_command_line(node), node.json, _inline_files(node.heredocs), mounts,
               network, security)


def _interval(f: dict[str, Any], name: str) -> int:
    text = f.get(name, "")
    if not text:
        return 0
    d = parse_duration(text)
    if 0 < d < 1_000_000 or d < 0:
        raise _Invalid(f'Interval "{name}" cannot be less than 1ms')
    return d


def _parse_healthcheck(node: Node, fl: _Flags) -> Healthcheck:
    if not node.args:
        raise _at_least_one("HEALTHCHECK")
    typ, rest = node.args[0].upper(), node.args[1:]
    if typ == "NONE":
        if rest:
            raise _Invalid("HEALTHCHECK NONE takes no arguments")
        return Healthcheck(("NONE",))
    if typ != "CMD":
        raise _Invalid(f'Unknown type "{typ}" in HEALTHCHECK (try CMD)')
    f = fl.parse(interval="str", timeout="str", start_period="str", start_interval="str",
                 retries="str")
    if not rest:
        raise _Invalid("Missing command after HEALTHCHECK CMD")
    test = ("CMD", *rest) if node.json else ("CMD-SHELL", " ".join(rest))
    retries = 0
    if f.get("retries"):
        try:
            retries = int(f["retries"])
        except ValueError:
            raise _Invalid(f'strconv.ParseInt: parsing "{f["retries"]}": invalid syntax') from None
        if retries < 0:
            raise _Invalid(f"--retries cannot be negative ({retries})")
    return Healthcheck(test, _interval(f, "interval"), _interval(f, "timeout"),
                       _interval(f, "start-period"), _interval(f, "start-interval"), retries)


def _parse_arg(node: Node, fl: _Flags) -> list[Arg]:
    if not node.args:
        raise _at_least_one("ARG")
    out = []
    for word in node.args:
        if "=" in word:
            name, value = word.split("=", 1)
            if not name:
                raise _Invalid("ARG names can not be blank")
            out.append(Arg(name, value))
        else:
            out.append(Arg(word))
    return out


def _parse_onbuild(node: Node, fl: _Flags) -> Onbuild:
    fl.parse()
    if node.sub is None:
        raise _at_least_one("ONBUILD")
    trigger = node.sub.keyword.upper()
    if trigger == "ONBUILD":
        raise _Invalid("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise _Invalid(f"{trigger} isn't allowed as an ONBUILD trigger")
    expression = re.sub(r"(?i)^\s*ONBUILD\s*", "", node.original)
    for doc in node.heredocs:
        expression += "\n" + doc.content + doc.name
    return Onbuild(expression)


def _one(node: Node, fl: _Flags, kw: str) -> str:
    if len(node.args) != 1:
        raise _exactly_one(kw)
    fl.parse()
    return node.args[0]


def _parse_volume(node: Node, fl: _Flags) -> Volume:
    if not node.args:
        raise _at_least_one("VOLUME")
    fl.parse()
    paths = tuple(p.strip() for p in node.args)
    if any(not p for p in paths):
        raise _Invalid("VOLUME specified can not be an empty string")
    return Volume(paths)


def _parse_shell(node: Node, fl: _Flags) -> Shell:
    fl.parse()
    if not node.args:
        raise _at_least_one("SHELL")
    if not node.json:
        raise _Invalid("SHELL requires the arguments to be in JSON form")
    return Shell(node.args)


def _parse_expose(node: Node, fl: _Flags) -> Expose:
    if not node.args:
        raise _at_least_one("EXPOSE")
    fl.parse()
    return Expose(tuple(sorted(node.args)))


def _parse_simple(node: Node, fl: _Flags) -> Instruction | list[Arg]:
    cmd = node.command
    if cmd == "env":
        fl.parse()
        return Env(_kvps(node, "ENV"))
    if cmd == "label":
        fl.parse()
        return Label(_kvps(node, "LABEL"))
    if cmd == "cmd":
        fl.parse()
        return Cmd(_command_line(node), node.json)
    if cmd == "entrypoint":
        fl.parse()
        return Entrypoint(_command_line(node), node.json)
    if cmd == "maintainer":
        return Maintainer(_one(node, fl, "MAINTAINER"))
    if cmd == "user":
        return User(_one(node, fl, "USER"))
    if cmd == "workdir":
        return Workdir(_one(node, fl, "WORKDIR"))
    if cmd == "stopsignal":
        return Stopsignal(_one(node, fl, "STOPSIGNAL"))
    raise _Invalid(f"unknown instruction: {node.keyword}")


_PARSERS = {
    "run": _parse_run, "copy": _parse_copy, "add": _parse_add, "arg": _parse_arg,
    "healthcheck": _parse_healthcheck, "onbuild": _parse_onbuild, "volume": _parse_volume,
    "shell": _parse_shell, "expose": _parse_expose,
}

_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")


def _parse_from(node: Node) -> tuple[str, str, str]:
    """(base, stage name, platform) of a FROM node."""
    args = node.args
    name = ""
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.match(name):
            raise _Invalid(f'invalid name for build stage: "{args[2]}", '
                           "name can't start with a number or contain symbols")
    elif len(args) != 1:
        raise _Invalid("FROM requires either one or three arguments")
    f = _Flags("FROM", node.flags).parse(platform="str")
    return args[0], name, f.get("platform", "")


def parse_instruction(node: Node) -> Instruction | list[Arg]:
    """One non-FROM node → its instruction (ARG gives a list).

    Raises :class:`FlagError` (no location); :func:`parse_instructions`
    turns it into a :class:`DockerfileError` with the line.
    """
    fl = _Flags(node.keyword, node.flags)
    parser = _PARSERS.get(node.command, _parse_simple)
    result = parser(node, fl)
    if isinstance(result, list):
        return [dataclasses.replace(a, line=node.start_line) for a in result]
    return dataclasses.replace(result, line=node.start_line)


def parse_instructions(tree: SyntaxTree) -> StagedDockerfile:
    """Type every node of ``tree`` and group them into stages.

    Raises :class:`DockerfileError` at the node's first line with message
    ``dockerfile parse error on line N: …`` (docker's wording).
    """
    meta: list[Arg] = []
    stages: list[Stage] = []
    body: list[Instruction] = []
    seen: set[str] = set()

    def close() -> None:
        if stages:
            stages[-1] = dataclasses.replace(stages[-1], instructions=tuple(body))

    for node in tree.children:
        try:
            if node.command == "from":
                base, name, platform = _parse_from(node)
                if name and name in seen:
                    raise _Invalid(f'duplicate stage name "{name}"')
                seen.add(name)
                close()
                body = []
                stages.append(Stage(name, base, platform, (), len(stages), line=node.start_line))
                continue
            result = parse_instruction(node)
            if isinstance(result, list) and not stages:
                meta.extend(result)
                continue
            if not stages:
                raise _Invalid("no build stage in current context")
            if isinstance(result, list):
                body.extend(result)
            else:
                body.append(result)
        except _Invalid as e:
            raise DockerfileError(f"dockerfile parse error on line {node.start_line}: {e}",
                                  tree.file, node.start_line) from None
    close()
    return StagedDockerfile(tuple(meta), tuple(stages))
