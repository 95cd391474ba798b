"""Dockerfile text → syntax tree, the first arrow of the build pipeline.

Vocabulary (BuildKit's ``parser`` package, reshaped as Python values):

* A *physical line* is one line of the file.  A *logical line* is the text of
  one instruction after joining continuation lines: a line whose last
  non-blank character is the escape token continues on the next one.  Inside
  a continuation, comment lines and blank lines are dropped (docker warns
  about the blank ones; we record a warning too).
* *Parser directives* (``# escape=``, ``# syntax=``, ``# check=``) are only
  recognised in the comment lines before anything else; the first other line
  ends them.  ``escape`` selects ``\\`` or a backtick; the others are kept
  but have no effect here.
* A :class:`Node` is one instruction: its keyword as written, its flags
  (``--name=value`` words before the arguments), its arguments shaped by the
  keyword's *line parser* (below), whether they were a JSON array, any
  heredoc bodies, its comments and its first and last physical line.

Line parsers (docker's dispatch table; arguments are *not* expanded here):

=====================  ===================================================
RUN CMD ENTRYPOINT     JSON array of strings → ``args`` + ``json=True``;
SHELL                  otherwise the rest of the line as one string
ADD COPY VOLUME        JSON array, otherwise whitespace-separated words
ENV LABEL              ``(key, value, "=")`` triples, or one ``(key, rest,
                       "")`` triple for the legacy ``KEY value`` form;
                       quotes are kept for the expansion step to remove
ARG                    words (quotes kept)
FROM EXPOSE            whitespace-separated words
HEALTHCHECK            the type (``CMD``/``NONE``), then as RUN
ONBUILD                the inner instruction as ``Node.sub``
others                 the rest of the line as one string
=====================  ===================================================

Whether the arguments are JSON follows docker: after optional leading
whitespace, the text must start with ``[`` and decode as a JSON array; an
array holding a non-string is an error, anything else that fails to decode
silently becomes the shell form.

Unknown keywords are kept (with no arguments); rejecting them is the next
stage's job, as in docker.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import InvalidArgument
from dockyard.build.shell_words import ShellLex, ShellWordError


class DockerfileError(InvalidArgument):
    """A Dockerfile that cannot be parsed; ``str()`` is ``FILE:LINE: message``."""

    def __init__(self, message: str, file: str = "Dockerfile", line: int = 0):
        super().__init__(message)
        self.file = file
        self.line = line

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class Heredoc:
    """One ``<<NAME`` body.  ``content`` ends with the last line's newline;
    ``chomp`` (``<<-``) means leading tabs are to be stripped, ``expand`` is
    False when any part of the name was quoted (no variable expansion)."""

    name: str
    content: str = ""
    expand: bool = True
    chomp: bool = False
    fd: int = 0


@dataclass(frozen=True, slots=True)
class Flag:
    """A builder flag: ``--name=value``, or ``--name`` with ``value=None``."""

    name: str
    value: str | None


@dataclass(frozen=True, slots=True)
class Node:
    """One instruction of the syntax tree; see the module docstring."""

    keyword: str
    args: tuple[str, ...] = ()
    flags: tuple[Flag, ...] = ()
    json: bool = False
    sub: Node | None = None
    heredocs: tuple[Heredoc, ...] = ()
    original: str = ""
    comments: tuple[str, ...] = ()
    start_line: int = 0
    end_line: int = 0

    @property
    def command(self) -> str:
        """The keyword in lower case, the form instructions dispatch on."""
        return self.keyword.lower()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dump, used by the golden files."""
        out: dict[str, Any] = {"keyword": self.keyword, "lines": [self.start_line, self.end_line]}
        if self.flags:
            out["flags"] = [[f.name, f.value] for f in self.flags]
        out["args"] = list(self.args)
        if self.json:
            out["json"] = True
        if self.sub is not None:
            out["sub"] = self.sub.to_dict()
        if self.heredocs:
            out["heredocs"] = [
                {"name": h.name, "content": h.content, "expand": h.expand,
                 "chomp": h.chomp, "fd": h.fd} for h in self.heredocs]
        if self.comments:
            out["comments"] = list(self.comments)
        return out


@dataclass(frozen=True, slots=True)
class SyntaxTree:
    """A parsed Dockerfile: its instructions, escape token and directives."""

    children: tuple[Node, ...]
    escape_token: str = "\\"
    directives: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    file: str = "Dockerfile"

    def to_dict(self) -> dict[str, Any]:
        return {"escape": self.escape_token, "directives": dict(self.directives),
                "warnings": list(self.warnings),
                "children": [n.to_dict() for n in self.children]}


# ---------------------------------------------------------------------------
# line parsers

_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_HEREDOC = re.compile(r"^(\d*)<<(-?)\s*([^<]*)$")
_DIRECTIVE = re.compile(r"^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_KNOWN_DIRECTIVES = frozenset({"syntax", "escape", "check"})
_HEREDOC_COMMANDS = frozenset({"add", "copy", "run"})


class _LineError(Exception):
    """A parse error without a location; the caller adds the lines."""


def _words(rest: str, esc: str) -> list[str]:
    """docker's ``parseWords``: split on spaces outside quotes, keep quotes
    and escapes in the words (the expansion step removes them)."""
    words: list[str] = []
    buf: list[str] = []
    blank_ok = False
    quote = ""
    i, n = 0, len(rest)
    while i < n:
        ch = rest[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == esc and quote != "'":
                if i + 1 == n:
                    i += 1
                    continue
                buf.append(ch)
                i += 1
                ch = rest[i]
            buf.append(ch)
        elif ch.isspace():
            if buf or blank_ok:
                words.append("".join(buf))
            buf, blank_ok = [], False
        else:
            if ch in "'\"":
                quote, blank_ok = ch, True
            elif ch == esc:
                if i + 1 == n:
                    i += 1
                    continue
                buf.append(ch)
                i += 1
                ch = rest[i]
            buf.append(ch)
        i += 1
    if buf or blank_ok:
        words.append("".join(buf))
    return words


def _json_array(rest: str) -> list[str] | None:
    """The strings of a JSON array, or None if ``rest`` is not one."""
    rest = rest.lstrip()
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise _LineError("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _whitespace_words(rest: str) -> list[str]:
    return _WHITESPACE.split(rest) if rest else []


def _maybe_json(rest: str) -> tuple[list[str], bool]:
    if not rest:
        return [], False
    array = _json_array(rest)
    return (array, True) if array is not None else ([rest], False)


def _maybe_json_list(rest: str) -> tuple[list[str], bool]:
    array = _json_array(rest)
    return (array, True) if array is not None else (_whitespace_words(rest), False)


def _name_val(rest: str, keyword: str, esc: str) -> list[str]:
    words = _words(rest, esc)
    if not words:
        return []
    if "=" not in words[0]:
        parts = _WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise _LineError(f"{keyword} must have two arguments")
        return [parts[0], parts[1], ""]
    out: list[str] = []
    for word in words:
        if "=" not in word:
            raise _LineError(f"Syntax error - can't find = in {json.dumps(word)}. "
                             "Must be of the form: name=value")
        key, value = word.split("=", 1)
        out += [key, value, "="]
    return out


def _split_flags(line: str, esc: str) -> tuple[list[str], str]:
    """docker's ``extractBuilderFlags``: leading ``--words`` and the rest."""
    words: list[str] = []
    buf: list[str] = []
    blank_ok = False
    quote = ""
    i, n = 0, len(line)
    in_word = False
    while i <= n:
        ch = line[i] if i < n else ""
        if not in_word:
            if i == n:
                break
            if ch.isspace():
                i += 1
                continue
            if not line.startswith("--", i):
                return words, line[i:]
            in_word = True
        if i == n:
            word = "".join(buf)
            if word != "--" and (blank_ok or word):
                words.append(word)
            break
        if quote:
            if ch == quote:
                quote = ""
                i += 1
                continue
            if ch == esc:
                if i + 1 == n:
                    quote = ""
                    i += 1
                    continue
                i += 1
                ch = line[i]
            buf.append(ch)
        elif ch.isspace():
            word = "".join(buf)
            in_word = False
            if word == "--":
                return words, line[i:]
            if blank_ok or word:
                words.append(word)
            buf, blank_ok = [], False
        elif ch in "'\"":
            quote, blank_ok = ch, True
        else:
            if ch == esc:
                if i + 1 == n:
                    i += 1
                    continue
                i += 1
                ch = line[i]
            buf.append(ch)
        i += 1
    return words, ""


def _to_flag(word: str) -> Flag:
    if not word.startswith("--"):
        raise _LineError(f"arg should start with -- : {word}")
    name, sep, value = word[2:].partition("=")
    return Flag(name, value if sep else None)


def _node_from_line(line: str, esc: str, comments: tuple[str, ...]) -> Node:
    parts = _WHITESPACE.split(line.strip(), maxsplit=1)
    keyword = parts[0]
    flag_words, rest = _split_flags(parts[1], esc) if len(parts) == 2 else ([], "")
    rest = rest.strip()
    flags = tuple(_to_flag(w) for w in flag_words)
    cmd = keyword.lower()
    args: list[str] = []
    is_json = False
    sub = None
    if cmd in ("run", "cmd", "entrypoint", "shell"):
        args, is_json = _maybe_json(rest)
    elif cmd in ("add", "copy", "volume"):
        args, is_json = _maybe_json_list(rest)
    elif cmd in ("env", "label"):
        args = _name_val(rest, "ENV" if cmd == "env" else "LABEL", esc)
    elif cmd == "arg":
        args = _words(rest, esc)
    elif cmd in ("from", "expose"):
        args = _whitespace_words(rest)
    elif cmd == "healthcheck":
        typ = _WHITESPACE.split(rest, maxsplit=1)[0] if rest else ""
        cmdline = rest[len(typ):].lstrip()
        if typ:
            more, is_json = _maybe_json(cmdline)
            args = [typ, *more]
    elif cmd == "onbuild":
        if rest:
            sub = _node_from_line(rest, esc, ())
    elif cmd in ("maintainer", "stopsignal", "user", "workdir"):
        args = [rest] if rest else []
    return Node(keyword=keyword, args=tuple(args), flags=flags, json=is_json, sub=sub,
                original=line, comments=comments)


# ---------------------------------------------------------------------------
# heredocs

def parse_heredoc(word: str) -> Heredoc | None:
    """The heredoc a single word such as ``<<-"EOF"`` opens, if any."""
    match = _HEREDOC.match(word)
    if not match or not match.group(3):
        return None
    fd, chomp, rest = match.groups()
    # Lex the name with and without quote removal: if the counts of quote
    # characters differ, part of the name was quoted, so no expansion.
    words = ShellLex("\\", skip_unset_env=True).process_words(rest, {})
    if len(words) != 1:
        return None
    raw = ShellLex("\\", skip_unset_env=True, raw_quotes=True).process_words(rest, {})
    count = lambda s: s.count("'") + s.count('"')  # noqa: E731
    return Heredoc(name=words[0], expand=count(words[0]) == count(raw[0]),
                   chomp=chomp == "-", fd=int(fd or 0))


def _heredocs_in(line: str) -> list[Heredoc]:
    lex = ShellLex("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True)
    try:
        words = lex.process_words(line, {})
    except ShellWordError:
        return []
    return [h for h in map(parse_heredoc, words) if h is not None]


def _can_contain_heredoc(node: Node) -> bool:
    if node.command == "onbuild" and node.sub is not None:
        node = node.sub
    return node.command in _HEREDOC_COMMANDS and not node.json


# ---------------------------------------------------------------------------
# the scanner

class _Directives:
    """Parser-directive state: which were seen, and whether they are over."""

    def __init__(self) -> None:
        self.done = False
        self.values: dict[str, str] = {}
        self.escape = "\\"
        self._set_continuation()

    def _set_continuation(self) -> None:
        e = re.escape(self.escape)
        self.continuation = re.compile(rf"([^{e}]){e}[ \t]*\Z|^{e}[ \t]*\Z")

    def feed(self, line: str) -> bool:
        """Consider one (newline-trimmed) line; True if it was a directive."""
        if self.done:
            return False
        if not line.startswith("#"):
            self.done = True
            return False
        match = _DIRECTIVE.match(line[1:].lstrip())
        if not match or match.group(1).lower() not in _KNOWN_DIRECTIVES:
            self.done = True
            return False
        key, value = match.group(1).lower(), match.group(2)
        if key in self.values:
            raise _LineError(f"only one {key} parser directive can be used")
        if key == "escape":
            if value not in ("`", "\\"):
                raise _LineError(f"invalid escape token '{value}' does not match ` or \\")
            self.escape = value
            self._set_continuation()
        self.values[key] = value
        return True

    def trim_continuation(self, line: str) -> tuple[str, bool]:
        """(line without its continuation token, whether the line ends here)."""
        if self.continuation.search(line):
            return self.continuation.sub(lambda m: m.group(1) or "", line), False
        return line, True


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _physical_lines(text: str) -> list[str]:
    """Split keeping each line's ``\\n`` (heredoc bodies need them)."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def parse(data: bytes | str, file: str = "Dockerfile") -> SyntaxTree:
    """Parse a Dockerfile into a :class:`SyntaxTree`.

    Raises :class:`DockerfileError` naming ``file`` and the offending line
    (``file with no instructions``, ``unterminated heredoc``, bad JSON
    arrays, bad directives, ``ENV must have two arguments`` …).
    """
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = _physical_lines(text)
    d = _Directives()
    children: list[Node] = []
    warnings: list[str] = []
    comments: list[str] = []
    current = 0
    idx = 0

    def process(raw: str, strip_left: bool) -> tuple[str, bool]:
        token = raw.rstrip("\r\n")
        if strip_left:
            token = token.lstrip()
        try:
            was_directive = d.feed(token)
        except _LineError as e:
            raise DockerfileError(str(e), file, current + 1) from None
        return ("" if _is_comment(token) else token), was_directive

    while idx < len(lines):
        raw = lines[idx]
        idx += 1
        if _is_comment(raw):
            comment = raw.lstrip()[1:].strip()
            comments = comments + [comment] if comment else []
        line, was_directive = process(raw, True)
        if was_directive and comments:
            comments.pop()
        current += 1
        start = current
        line, at_end = d.trim_continuation(line)
        if at_end and not line:
            continue
        parts = [line]
        empty_continuation = False
        while not at_end and idx < len(lines):
            raw = lines[idx]
            idx += 1
            line, _ = process(raw, False)
            current += 1
            if _is_comment(raw):
                continue
            if not line.strip():
                empty_continuation = True
                continue
            line, at_end = d.trim_continuation(line)
            parts.append(line)
        logical = "".join(parts)
        if empty_continuation:
            warnings.append(f"Empty continuation line found in: {logical}")
        try:
            node = _node_from_line(logical, d.escape, tuple(comments))
        except _LineError as e:
            raise DockerfileError(str(e), file, start) from None

        if _can_contain_heredoc(node) and "<<" in logical:
            docs = []
            for doc in _heredocs_in(logical):
                body: list[str] = []
                terminated = False
                while idx < len(lines):
                    raw = lines[idx]
                    idx += 1
                    current += 1
                    candidate = raw.rstrip("\r\n")
                    if doc.chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == doc.name:
                        terminated = True
                        break
                    body.append(raw)
                if not terminated:
                    raise DockerfileError("unterminated heredoc", file, start)
                docs.append(Heredoc(doc.name, "".join(body), doc.expand, doc.chomp, doc.fd))
            if docs:
                node = _replace(node, heredocs=tuple(docs))
        children.append(_replace(node, start_line=start, end_line=current))
        comments = []

    if not children:
        raise DockerfileError("file with no instructions", file, current)
    return SyntaxTree(tuple(children), d.escape, dict(d.values), tuple(warnings), file)


def _replace(node: Node, **changes: Any) -> Node:
    return dataclasses.replace(node, **changes)


def chomp_heredoc(content: str) -> str:
    """Strip leading tabs from every line, what ``<<-`` asks for."""
    return re.sub(r"(?m)^\t+", "", content)
