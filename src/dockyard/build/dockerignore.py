"""``.dockerignore``: which files of a build context are not sent.

The rules are moby's (``github.com/moby/patternmatcher`` and its
``ignorefile.ReadAll``), reproduced to the letter so that dockyard and
docker send the same context for the same directory.

Reading the file (`parse_dockerignore`):

* a UTF-8 byte order mark at the very start is dropped;
* a line that *starts* with ``#`` is a comment (``  # x`` is a pattern);
* surrounding whitespace is trimmed and empty lines are skipped;
* a leading ``!`` makes the line an *exception* (re-includes what an
  earlier line excluded);
* the path is cleaned like Go's ``filepath.Clean`` and one leading ``/`` is
  dropped, so ``/a/../b/`` and ``b`` are the same pattern.

Matching (`PatternMatcher`), for a slash-separated path relative to the
context root:

* ``*`` is any run of characters but ``/``, ``?`` one character but ``/``,
  ``[a-z]`` / ``[^a-z]`` a class, ``\\`` escapes the next character: Go's
  ``filepath.Match`` syntax, and a pattern that ``filepath.Match`` would call
  malformed is refused up front;
* ``**`` matches any number of directories, none included (``**/x`` matches
  ``x``, ``a/b/x``; ``a/**`` matches everything below ``a``);
* a pattern also matches everything below a directory it matches
  (``docs`` excludes ``docs/a/b``);
* patterns apply in order and the *last* one that matches decides: a path is
  excluded when that pattern is not an exception.

Walking (`PatternMatcher.can_skip_dir`): an excluded directory is skipped
whole unless an exception's text begins with that directory's path (moby's
walker makes the same textual test, so ``!*/keep`` does not stop ``a`` from
being skipped and ``a/keep`` is left out, exactly as with docker).

Like moby, the patterns are turned into regular expressions, with moby's own
quirks: an escaped letter keeps its regular-expression meaning (``\\d`` is
a digit, as in Go's regexp).
"""

from __future__ import annotations

import enum
import posixpath
import re
import warnings
from dataclasses import dataclass, field
from typing import Iterable

from dockyard.errors import InvalidArgument

_BOM = b"\xef\xbb\xbf"
# Regular-expression metacharacters with no meaning in filepath.Match syntax
# (moby's shouldEscape); '^', '[' and ']' pass through on purpose.
_REGEX_ONLY = frozenset(".+()|{}$")
_BAD_PATTERN = "syntax error in pattern"  # Go's filepath.ErrBadPattern


def parse_dockerignore(data: bytes) -> list[str]:
    """The patterns of a ``.dockerignore`` file, in order (moby's ignorefile.ReadAll)."""
    patterns = []
    for number, raw in enumerate(data.split(b"\n")):
        if number == 0 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        line = raw.decode("utf-8", "surrogateescape").removesuffix("\r")
        if line.startswith("#"):
            continue
        line = line.strip()
        if not line:
            continue
        exception = line.startswith("!")
        if exception:
            line = line[1:].strip()
        if line:
            line = go_clean(line)
            if len(line) > 1 and line.startswith("/"):
                line = line[1:]
        patterns.append("!" + line if exception else line)
    return patterns


def go_clean(path: str) -> str:
    """Go's ``filepath.Clean``: like normpath, but any run of leading slashes becomes one."""
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


class MatchKind(enum.Enum):
    """How a compiled pattern is tested; the cheap kinds avoid a regex (as moby's do)."""

    EXACT = "exact"      # no wildcard: string equality
    PREFIX = "prefix"    # "dir/**": startswith("dir/")
    SUFFIX = "suffix"    # "**/name": endswith("/name") or == "name"
    REGEX = "regex"


@dataclass(frozen=True, slots=True)
class Pattern:
    """One cleaned pattern (without its ``!``), compiled on construction."""

    text: str
    exception: bool = False
    kind: MatchKind = field(init=False, repr=False, compare=False)
    regex: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_match_syntax(self.text)
        kind, regex = _compile(self.text)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "regex", regex)

    def matches(self, path: str) -> bool:
        """Whether `path` itself (not its parents) matches."""
        if self.kind is MatchKind.EXACT:
            return path == self.text
        if self.kind is MatchKind.PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind is MatchKind.SUFFIX:
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert self.regex is not None
        return self.regex.match(path) is not None


@dataclass(frozen=True, slots=True)
class PatternMatcher:
    """An ordered list of patterns; see the module docstring for the rules."""

    patterns: tuple[Pattern, ...] = ()

    @classmethod
    def compile(cls, lines: Iterable[str]) -> PatternMatcher:
        """Compile pattern lines as moby's ``patternmatcher.New`` does.

        Each line is trimmed and cleaned; empty ones are dropped.  A bare
        ``!`` and a malformed pattern raise InvalidArgument with Go's words.
        """
        patterns = []
        for line in lines:
            line = line.strip()
            if not line:
                continue
            line = go_clean(line)
            exception = line.startswith("!")
            if exception:
                if len(line) == 1:
                    raise InvalidArgument('illegal exclusion pattern: "!"')
                line = line[1:]
            patterns.append(Pattern(line, exception))
        return cls(tuple(patterns))

    @property
    def has_exceptions(self) -> bool:
        return any(p.exception for p in self.patterns)

    def matches(self, path: str) -> bool:
        """Whether `path` is excluded: moby's ``MatchesOrParentMatches``.

        For each pattern in order, `path` or one of its parent directories
        matching sets the verdict (excluded, or re-included for an
        exception).  A pattern that cannot change the verdict so far is not
        even tried, as in moby.
        """
        matched = False
        parent = go_clean(path[: path.rfind("/") + 1])
        parents = parent.split("/") if parent != "." else []
        for pattern in self.patterns:
            if pattern.exception != matched:
                continue
            hit = pattern.matches(path) or any(
                pattern.matches("/".join(parents[: i + 1])) for i in range(len(parents)))
            if hit:
                matched = not pattern.exception
        return matched

    def can_skip_dir(self, rel_dir: str) -> bool:
        """Whether a walk may skip the excluded directory `rel_dir` and all below it.

        Only when no exception could re-include something inside, judged as
        moby's walker judges it: by the exception's text starting with
        ``rel_dir/``.
        """
        prefix = rel_dir.rstrip("/") + "/"
        return not any(p.exception and (p.text + "/").startswith(prefix) for p in self.patterns)

    def keeping(self, path: str) -> PatternMatcher:
        """This matcher plus the exception ``!path``, appended last so that it wins."""
        return PatternMatcher(self.patterns + (Pattern(go_clean(path), exception=True),))


def check_match_syntax(pattern: str) -> None:
    """Raise InvalidArgument where Go's ``filepath.Match`` reports ErrBadPattern.

    That is: a trailing ``\\``, and a character class that is not closed,
    is empty, or has a ``-`` or ``]`` where a character must be.  A
    reversed range (``[z-a]``) is not Go's error; it fails later, as an
    invalid regular expression, as it does in moby.
    """
    i, end = 0, len(pattern)
    while i < end:
        char = pattern[i]
        if char == "\\":
            if i + 1 >= end:
                raise InvalidArgument(_BAD_PATTERN)
            i += 2
        elif char == "[":
            i = _check_class(pattern, i + 1)
        else:
            i += 1


def _check_class(pattern: str, i: int) -> int:
    """Check the class starting after its ``[``; return the index after its ``]``."""
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    ranges = 0
    while True:
        if i < len(pattern) and pattern[i] == "]" and ranges:
            return i + 1
        i = _class_char(pattern, i)
        if pattern[i] == "-":
            i = _class_char(pattern, i + 1)
        ranges += 1


def _class_char(pattern: str, i: int) -> int:
    """One (possibly escaped) character of a class; something must follow it."""
    if i >= len(pattern) or pattern[i] in "-]":
        raise InvalidArgument(_BAD_PATTERN)
    if pattern[i] == "\\":
        i += 1
    if i + 1 >= len(pattern):
        raise InvalidArgument(_BAD_PATTERN)
    return i + 1


def _compile(pattern: str) -> tuple[MatchKind, re.Pattern[str] | None]:
    """Translate a pattern into its match kind and, for REGEX, the expression.

    The translation is moby's, token by token, including where it decides
    the kind: a leading ``**`` makes SUFFIX unless something later needs a
    regex, a trailing ``**`` after plain text makes PREFIX.
    """
    regex = "^"
    kind = MatchKind.EXACT
    i, end = 0, len(pattern)
    first = True
    while i < end:
        char = pattern[i]
        i += 1
        if char == "*":
            if i < end and pattern[i] == "*":
                i += 1
                if i < end and pattern[i] == "/":
                    i += 1  # "**/" is "**"
                if i >= end:
                    if kind is MatchKind.EXACT:
                        kind = MatchKind.PREFIX
                    else:
                        regex += ".*"
                        kind = MatchKind.REGEX
                else:
                    regex += "(.*/)?"  # any number of directories, even none
                    kind = MatchKind.REGEX
                if first:
                    kind = MatchKind.SUFFIX
            else:
                regex += "[^/]*"
                kind = MatchKind.REGEX
        elif char == "?":
            regex += "[^/]"
            kind = MatchKind.REGEX
        elif char in _REGEX_ONLY:
            regex += "\\" + char
        elif char == "\\":
            # check_match_syntax guarantees a next character.
            regex += _escaped(pattern[i])
            i += 1
            kind = MatchKind.REGEX
        elif char in "[]":
            regex += char
            kind = MatchKind.REGEX
        else:
            regex += char
        first = False
    if kind is not MatchKind.REGEX:
        return kind, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "[[" is literal, as in Go
            return kind, re.compile(regex + r"\Z", re.ASCII)
    except re.error:
        raise InvalidArgument(_BAD_PATTERN) from None


def _escaped(char: str) -> str:
    """``\\`` + `char` in the regex: letters and digits keep their regex meaning
    (moby passes them to Go's regexp as they are); anything else is literal."""
    return "\\" + char if char.isascii() and char.isalnum() else re.escape(char)
