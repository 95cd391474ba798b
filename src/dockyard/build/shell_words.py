"""Docker's word lexer: quote removal and ``$VAR`` substitution.

This is the behaviour of BuildKit's ``shell.Lex`` (``ProcessWord`` /
``ProcessWords``), which is *not* POSIX sh: it is what Dockerfile
instructions such as ``ENV``, ``COPY`` or ``WORKDIR`` use on their arguments.

Contract of :meth:`ShellLex.process_word`:

* ``$NAME`` and ``${NAME}`` are replaced by the value from ``env`` (an unset
  name becomes the empty string, or is kept verbatim with
  ``skip_unset_env``).  ``$`` not followed by a name stays a literal ``$``.
* ``${NAME:-word}`` / ``${NAME-word}``: *word* if NAME is unset (or, with the
  colon, empty); ``${NAME:+word}`` / ``${NAME+word}``: *word* if NAME is set
  (and, with the colon, non-empty) else empty; ``${NAME:?msg}`` /
  ``${NAME?msg}`` fail; ``${NAME#pat}``, ``${NAME##pat}``, ``${NAME%pat}``,
  ``${NAME%%pat}`` strip a shell-pattern prefix or suffix.
* Single quotes suppress everything up to the next single quote; double
  quotes keep ``$`` expansion and let the escape token escape ``"``, ``$`` and
  itself only.  The quotes themselves are removed unless ``raw_quotes``.
* Outside quotes the escape token (``\\`` or `````) makes the next character
  literal and is itself removed unless ``raw_escapes``.

:meth:`ShellLex.process_words` does the same but splits the result into words
on unquoted whitespace, including whitespace that came from a variable's
value (``EXPOSE $PORTS``), never on quoted whitespace.

Errors raise :class:`ShellWordError` with docker's wording (``failed to
process "…": syntax error: missing '}'``).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping

from dockyard.errors import InvalidArgument

_EOF = ""
_SPECIAL_PARAMS = frozenset("@*#?-$!0")


class ShellWordError(InvalidArgument):
    """A word could not be lexed (unbalanced quote, bad ``${}``, ``${X?}``)."""


class _Words:
    """Accumulates the words of ``process_words`` as characters arrive."""

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word and self.buf:
                self.words.append("".join(self.buf))
                self.buf = []
                self.in_word = False
        else:
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.buf.append(ch)
        self.in_word = True

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def add_raw_string(self, s: str) -> None:
        self.buf.append(s)
        self.in_word = True

    def get(self) -> list[str]:
        if self.buf:
            self.words.append("".join(self.buf))
            self.buf = []
            self.in_word = False
        return self.words


class ShellLex:
    """A configured lexer; see the module docstring for the rules.

    ``escape_token`` is the Dockerfile's escape character (``\\`` unless the
    ``# escape=`` directive chose a backtick).  The flags mirror BuildKit's:
    ``raw_quotes`` keeps quote characters, ``raw_escapes`` keeps escape
    characters, ``skip_unset_env`` leaves references to unset variables as
    written, ``skip_process_quotes`` treats quotes as ordinary characters.
    """

    def __init__(self, escape_token: str = "\\", *, raw_quotes: bool = False,
                 raw_escapes: bool = False, skip_unset_env: bool = False,
                 skip_process_quotes: bool = False) -> None:
        if escape_token not in ("\\", "`"):
            raise ValueError(f"invalid escape token {escape_token!r}")
        self.escape_token = escape_token
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset_env = skip_unset_env
        self.skip_process_quotes = skip_process_quotes

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        """Expand ``word`` into one string (no word splitting)."""
        return _Scan(self, word, env).run()[0]

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        """Expand ``word`` and split the result into words."""
        return _Scan(self, word, env).run()[1]

    def unmatched(self, word: str, env: Mapping[str, str]) -> frozenset[str]:
        """Names ``word`` references that ``env`` does not define."""
        scan = _Scan(self, word, env)
        scan.run()
        return frozenset(scan.unmatched)


class _Scan:
    """One pass over one word; the state BuildKit keeps in ``shellWord``."""

    def __init__(self, lex: ShellLex, word: str, env: Mapping[str, str]) -> None:
        self.lex = lex
        self.src = word
        self.pos = 0
        self.env = env
        self.raw_escapes = lex.raw_escapes
        self.unmatched: set[str] = set()

    # -- the scanner --------------------------------------------------------
    def peek(self) -> str:
        return self.src[self.pos] if self.pos < len(self.src) else _EOF

    def next(self) -> str:
        ch = self.peek()
        if ch != _EOF:
            self.pos += 1
        return ch

    def run(self) -> tuple[str, list[str]]:
        try:
            return self.stop_on(_EOF, self.raw_escapes)
        except ShellWordError as e:
            raise ShellWordError(f"failed to process {_go_quote(self.src)}: {e.message}") from None

    # -- the grammar --------------------------------------------------------
    def stop_on(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        """Consume up to ``stop`` (or the end); return (text, words)."""
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._stop_on(stop)
        finally:
            self.raw_escapes = saved

    def _stop_on(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        esc = self.lex.escape_token
        quotes = not self.lex.skip_process_quotes
        while self.peek() != _EOF:
            ch = self.peek()
            if stop != _EOF and ch == stop:
                self.next()
                return "".join(result), words.get()
            if ch == "$":
                tmp = self.dollar()
                result.append(tmp)
                words.add_string(tmp)
            elif ch == "<":
                tmp = self.possible_heredoc()
                result.append(tmp)
                words.add_raw_string(tmp)
            elif quotes and ch in "'\"":
                tmp = self.single_quote() if ch == "'" else self.double_quote()
                result.append(tmp)
                words.add_raw_string(tmp)
            else:
                ch = self.next()
                if ch == esc:
                    if self.raw_escapes:
                        words.add_raw_char(ch)
                        result.append(ch)
                    ch = self.next()
                    if ch == _EOF:
                        break
                    words.add_raw_char(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
        if stop != _EOF:
            raise ShellWordError(
                f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.get()

    def single_quote(self) -> str:
        out = []
        ch = self.next()
        if self.lex.raw_quotes:
            out.append(ch)
        while True:
            ch = self.next()
            if ch == _EOF:
                raise ShellWordError(
                    "unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        out = []
        ch = self.next()
        if self.lex.raw_quotes:
            out.append(ch)
        esc = self.lex.escape_token
        while True:
            nxt = self.peek()
            if nxt == _EOF:
                raise ShellWordError(
                    "unexpected end of statement while looking for matching double-quote")
            if nxt == '"':
                ch = self.next()
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if nxt == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == esc:
                if self.raw_escapes:
                    out.append(ch)
                if self.peek() == _EOF:
                    continue
                if self.peek() in ('"', "$", esc):
                    ch = self.next()
            out.append(ch)

    def possible_heredoc(self) -> str:
        self.next()
        if self.peek() != "<":
            return "<"
        self.next()
        space = []
        while self.peek() in (" ", "\t"):
            space.append(self.next())
        return "<<" + "".join(space)

    def name(self) -> str:
        out: list[str] = []
        while self.peek() != _EOF:
            ch = self.peek()
            if not out and ch.isdigit():
                while self.peek() != _EOF and self.peek().isdigit():
                    out.append(self.next())
                return "".join(out)
            if not out and ch in _SPECIAL_PARAMS:
                return self.next()
            if not (ch.isalpha() or ch.isdigit() or ch == "_"):
                break
            out.append(self.next())
        return "".join(out)

    def getenv(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None:
            self.unmatched.add(name)
        return value

    def dollar(self) -> str:
        self.next()  # the '$'
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value = self.getenv(name)
            if value is None:
                return "$" + name if self.lex.skip_unset_env else ""
            return value
        self.next()  # the '{'
        if self.peek() == _EOF:
            raise ShellWordError("syntax error: missing '}'")
        if self.peek() in "{}:":
            raise ShellWordError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        if ch == "}":
            value = self.getenv(name)
            if value is None:
                return "${%s}" % name if self.lex.skip_unset_env else ""
            return value
        if ch == _EOF:  # docker prints a replacement character here; say what is wrong
            raise ShellWordError("syntax error: missing '}'")
        modifier = ch
        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            modifier += ch
        if ch not in ("+", "-", "?", "#", "%") or (null_is_unset and ch in "#%"):
            raise ShellWordError(f"unsupported modifier ({modifier}) in substitution")
        try:
            word, _ = self.stop_on("}", raw_escapes=ch in "#%")
        except ShellWordError:
            if self.peek() == _EOF:
                raise ShellWordError("syntax error: missing '}'") from None
            raise
        value = self.getenv(name)
        if value is None and self.lex.skip_unset_env:
            return "${%s%s%s}" % (name, modifier, word)
        empty = value is None or (null_is_unset and value == "")
        if ch == "-":
            return word if empty else value  # type: ignore[return-value]
        if ch == "+":
            return "" if empty else word
        if ch == "?":
            if value is None:
                raise ShellWordError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise ShellWordError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        greedy = word.startswith(ch)
        if greedy:
            word = word[1:]
        return _trim(value or "", word, suffix=ch == "%", greedy=greedy)


def _go_quote(s: str) -> str:
    """Go's ``%q`` for the strings we meet (docker quotes words that way)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _trim(value: str, pattern: str, *, suffix: bool, greedy: bool) -> str:
    """Strip the shortest (or, ``greedy``, longest) match of a shell pattern."""
    rx = re.compile(fnmatch.translate(pattern), re.DOTALL)
    cuts = range(len(value) + 1)
    order = cuts if greedy == suffix else reversed(cuts)
    for i in order:
        part = value[i:] if suffix else value[:i]
        if rx.match(part):
            return value[:i] if suffix else value[i:]
    return value
