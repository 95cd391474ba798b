"""A subset of Go's text/template, enough for docker's ``--format``.

Pipeline: format text → ``_lex`` (text and action tokens, with ``{{-``/``-}}``
trimming) → ``_Parser`` (a tree of Text / Action / If / Range / With nodes)
→ ``Template.render(data)``.

Supported: ``{{.}}``, ``{{.A.B}}``, variables (``$``, ``$x := …``,
``{{range $i, $v := .X}}``), pipelines (``{{.X | json}}``), parenthesised
sub-pipelines, ``if``/``else if``/``else``/``end``, ``range`` (lists, and
maps in sorted key order), ``with``, comments, and the functions docker's
templates add (json, join, split, lower, upper, title, pad, truncate,
println) plus Go's builtins (index, len, printf, print, println, and, or,
not, eq, ne, lt, le, gt, ge, slice).

Values print as Go's ``%v`` would: lists ``[a b]``, maps ``map[k:v]`` with
sorted keys, booleans ``true``, a missing map key ``<no value>``, null
``<nil>``.  Objects other than dicts expose fields as attributes; a
callable attribute is a method and receives the command's arguments
(``{{.Label "com.example"}}``).  An object with a ``__json__`` method is
encoded by ``json`` through it.
"""

from __future__ import annotations

import json
import re

from dockyard.cli.template_functions import (
    FUNCTIONS,
    MISSING,
    TemplateError,
    go_string,
    truth,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable


# -- lexing -------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\]|\\.)+')
  | (?P<number>[-+]?(?:0x[0-9a-fA-F]+|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+))
  | (?P<declare>:=)
  | (?P<assign>=)
  | (?P<variable>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
  | (?P<field>(?:\.[A-Za-z0-9_]+)+|\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[|(),])
""", re.VERBOSE)


def _lex(source: str) -> list[tuple[str, Any]]:
    """Split into ("text", str) and ("action", [tokens]) items."""
    items: list[tuple[str, Any]] = []
    pos = 0
    trim_next = False
    while pos < len(source):
        start = source.find("{{", pos)
        if start < 0:
            text = source[pos:]
            items.append(("text", text.lstrip() if trim_next else text))
            break
        text = source[pos:start]
        if trim_next:
            text = text.lstrip()
        inner_start = start + 2
        if source.startswith("- ", inner_start) or source.startswith("-\t", inner_start) \
                or source.startswith("-\n", inner_start):
            text = text.rstrip()
            inner_start += 1
        items.append(("text", text))
        end = _find_close(source, inner_start)
        inner = source[inner_start:end]
        trim_next = False
        if inner.endswith(" -") or inner.endswith("\t-") or inner.endswith("\n-"):
            inner = inner[:-1]
            trim_next = True
        pos = end + 2
        stripped = inner.strip()
        if stripped.startswith("/*"):
            if not stripped.endswith("*/"):
                raise TemplateError("unclosed comment")
            continue
        items.append(("action", _tokens(inner)))
    return [item for item in items if item != ("text", "")]


def _find_close(source: str, pos: int) -> int:
    # Skip over quoted strings so "}}" inside them does not end the action.
    quote = None
    i = pos
    while i < len(source):
        ch = source[i]
        if quote:
            if ch == "\\" and quote != "`":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"`'":
            quote = ch
        elif source.startswith("}}", i):
            return i
        i += 1
    raise TemplateError("unclosed action")


def _tokens(inner: str) -> list[tuple[str, str]]:
    tokens = []
    pos = 0
    while pos < len(inner):
        match = _TOKEN.match(inner, pos)
        if not match:
            raise TemplateError(f"unexpected {inner[pos]!r} in command")
        kind = match.lastgroup or ""
        text = match.group()
        pos = match.end()
        if kind == "space":
            continue
        tokens.append((kind, text))
    return tokens


# -- parsing ------------------------------------------------------------------

class _Node:
    __slots__ = ()


class _Text(_Node):
    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


class _Pipeline(_Node):
    __slots__ = ("decl", "commands", "assign")

    def __init__(self, decl: list[str], commands: list[list[tuple[str, Any]]], assign: bool):
        self.decl = decl
        self.commands = commands
        self.assign = assign


class _Action(_Node):
    __slots__ = ("pipe",)

    def __init__(self, pipe: _Pipeline):
        self.pipe = pipe


class _Branch(_Node):
    """``if``, ``with`` and ``range``: a pipeline, a body and an else body."""

    __slots__ = ("kind", "pipe", "body", "otherwise")

    def __init__(self, kind: str, pipe: _Pipeline, body: list[_Node], otherwise: list[_Node]):
        self.kind = kind
        self.pipe = pipe
        self.body = body
        self.otherwise = otherwise


class _Parser:
    def __init__(self, items: list[tuple[str, Any]]):
        self.items = items
        self.pos = 0

    def parse(self) -> list[_Node]:
        nodes, end = self._list()
        if end is not None:
            raise TemplateError(f"unexpected {{{{{end}}}}}")
        return nodes

    def _list(self) -> tuple[list[_Node], str | None]:
        """Parse nodes until ``end``/``else``; return them and the stopper."""
        nodes: list[_Node] = []
        while self.pos < len(self.items):
            kind, value = self.items[self.pos]
            self.pos += 1
            if kind == "text":
                nodes.append(_Text(value))
                continue
            tokens = value
            if not tokens:
                raise TemplateError("missing value for command")
            head = tokens[0]
            if head == ("ident", "end"):
                return nodes, "end"
            if head == ("ident", "else"):
                self._else_tokens = tokens[1:]
                return nodes, "else"
            if head[0] == "ident" and head[1] in ("if", "range", "with"):
                nodes.append(self._branch(head[1], tokens[1:]))
                continue
            if head[0] == "ident" and head[1] in ("define", "template", "block", "break",
                                                   "continue"):
                raise TemplateError(f"{{{{{head[1]}}}}} is not supported")
            nodes.append(_Action(_parse_pipeline(tokens)))
        return nodes, None

    def _branch(self, kind: str, tokens: list[tuple[str, str]]) -> _Branch:
        pipe = _parse_pipeline(tokens, allow_two=(kind == "range"))
        body, stop = self._list()
        otherwise: list[_Node] = []
        if stop == "else":
            rest = self._else_tokens
            if rest and rest[0] == ("ident", "if") and kind == "if":
                # {{else if x}} is an if nested in the else branch sharing its {{end}}.
                otherwise = [self._branch("if", rest[1:])]
                return _Branch(kind, pipe, body, otherwise)
            otherwise, stop = self._list()
        if stop != "end":
            raise TemplateError(f"unexpected EOF: missing {{{{end}}}} for {{{{{kind}}}}}")
        return _Branch(kind, pipe, body, otherwise)


def _parse_pipeline(tokens: list[tuple[str, str]], allow_two: bool = False) -> _Pipeline:
    decl: list[str] = []
    assign = False
    # "$x :=" or "$i, $v :=" declarations come first.
    for i, token in enumerate(tokens):
        if token[0] in ("declare", "assign"):
            names = [t[1] for t in tokens[:i] if t[0] == "variable"]
            if names and len(names) <= (2 if allow_two else 1):
                decl = names
                assign = token[0] == "assign"
                tokens = tokens[i + 1:]
            break
    commands: list[list[tuple[str, Any]]] = []
    current: list[tuple[str, Any]] = []
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "punct" and text == "|":
            if not current:
                raise TemplateError("missing command in pipeline")
            commands.append(current)
            current = []
        elif kind == "punct" and text == "(":
            depth, j = 1, i + 1
            while j < len(tokens) and depth:
                if tokens[j] == ("punct", "("):
                    depth += 1
                elif tokens[j] == ("punct", ")"):
                    depth -= 1
                j += 1
            if depth:
                raise TemplateError("unclosed left paren")
            sub = _parse_pipeline(tokens[i + 1:j - 1])
            chain = ""
            if j < len(tokens) and tokens[j][0] == "field" and tokens[j][1] != ".":
                chain = tokens[j][1]
                j += 1
            current.append(("pipe", (sub, chain)))
            i = j
            continue
        elif kind == "punct":
            raise TemplateError(f"unexpected {text!r} in command")
        else:
            current.append((kind, text))
        i += 1
    if not current:
        raise TemplateError("missing value for command")
    commands.append(current)
    return _Pipeline(decl, commands, assign)


# -- execution ----------------------------------------------------------------

class Template:
    """A parsed format; ``render(data)`` executes it against one value."""

    def __init__(self, source: str, functions: dict[str, Callable[..., Any]] | None = None):
        self.source = source
        self.functions = FUNCTIONS if functions is None else functions
        try:
            self.nodes = _Parser(_lex(source)).parse()
        except TemplateError as exc:
            raise TemplateError(f"template parsing error: template: :1: {exc}") from None
        self._check_functions(self.nodes)

    def _check_functions(self, nodes: list[_Node]) -> None:
        for node in nodes:
            pipes = []
            if isinstance(node, _Action):
                pipes.append(node.pipe)
            elif isinstance(node, _Branch):
                pipes.append(node.pipe)
                self._check_functions(node.body)
                self._check_functions(node.otherwise)
            while pipes:
                pipe = pipes.pop()
                for command in pipe.commands:
                    for kind, value in command:
                        if kind == "ident" and value not in self.functions and \
                                value not in ("true", "false", "nil"):
                            raise TemplateError(f'template parsing error: template: :1: '
                                                f'function "{value}" not defined')
                        if kind == "pipe":
                            pipes.append(value[0])

    def render(self, data: Any, functions: dict[str, Callable[..., Any]] | None = None) -> str:
        out: list[str] = []
        state = _State(data, functions or self.functions)
        try:
            state.walk(self.nodes, data, out)
        except TemplateError:
            raise
        except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
            raise TemplateError(f"template: :1: executing \"\" at <{self.source}>: {exc}") from None
        return "".join(out)


class _State:
    def __init__(self, root: Any, functions: dict[str, Callable[..., Any]]):
        self.vars: list[tuple[str, Any]] = [("$", root)]
        self.functions = functions

    def walk(self, nodes: list[_Node], dot: Any, out: list[str]) -> None:
        mark = len(self.vars)
        for node in nodes:
            if isinstance(node, _Text):
                out.append(node.text)
            elif isinstance(node, _Action):
                value = self.pipeline(node.pipe, dot)
                if not node.pipe.decl:
                    out.append(go_string(value))
            elif isinstance(node, _Branch):
                self.branch(node, dot, out)
        del self.vars[mark:]

    def branch(self, node: _Branch, dot: Any, out: list[str]) -> None:
        mark = len(self.vars)
        if node.kind == "range":
            value = self.pipeline(node.pipe, dot, declare=False)
            if isinstance(value, dict):
                pairs = [(k, value[k]) for k in sorted(value)]
            elif isinstance(value, (list, tuple, str)):
                pairs = list(enumerate(value))
            elif isinstance(value, int) and not isinstance(value, bool):
                pairs = [(i, i) for i in range(value)]
            elif value is None or value is MISSING:
                pairs = []
            else:
                raise TemplateError(f"range can't iterate over {go_string(value)}")
            if not pairs:
                self.walk(node.otherwise, dot, out)
            for key, elem in pairs:
                names = node.pipe.decl
                if len(names) == 1:
                    self.vars.append((names[0], elem))
                elif len(names) == 2:
                    self.vars.append((names[0], key))
                    self.vars.append((names[1], elem))
                self.walk(node.body, elem, out)
                del self.vars[mark:]
            return
        value = self.pipeline(node.pipe, dot)
        if truth(value):
            self.walk(node.body, value if node.kind == "with" else dot, out)
        else:
            self.walk(node.otherwise, dot, out)
        del self.vars[mark:]

    def pipeline(self, pipe: _Pipeline, dot: Any, declare: bool = True) -> Any:
        value: Any = _NO_ARG
        for command in pipe.commands:
            value = self.command(command, dot, value)
        if declare and pipe.decl:
            name = pipe.decl[0]
            if pipe.assign:
                for i in range(len(self.vars) - 1, -1, -1):
                    if self.vars[i][0] == name:
                        self.vars[i] = (name, value)
                        break
                else:
                    raise TemplateError(f"undefined variable: {name}")
            else:
                self.vars.append((name, value))
        return value

    def command(self, command: list[tuple[str, Any]], dot: Any, piped: Any) -> Any:
        kind, text = command[0]
        if kind == "ident" and text not in ("true", "false", "nil"):
            args = [self.operand(tok, dot) for tok in command[1:]]
            if piped is not _NO_ARG:
                args.append(piped)
            return self.functions[text](*args)
        if kind in ("field", "variable") and (len(command) > 1 or piped is not _NO_ARG):
            # A method call: ".Label "x"" (with any piped value as last argument).
            args = [self.operand(tok, dot) for tok in command[1:]]
            if piped is not _NO_ARG:
                args.append(piped)
            return self.operand((kind, text), dot, args)
        if len(command) > 1 or piped is not _NO_ARG:
            raise TemplateError(f"can't give argument to non-function {text}")
        return self.operand(command[0], dot)

    def operand(self, token: tuple[str, Any], dot: Any, args: list[Any] | None = None) -> Any:
        kind, text = token
        if kind == "field":
            return dot if text == "." else _chain(dot, text[1:].split("."), args)
        if kind == "variable":
            name, _, rest = text.partition(".")
            for var, value in reversed(self.vars):
                if var == name:
                    return _chain(value, rest.split("."), args) if rest else value
            raise TemplateError(f"undefined variable: {name}")
        if kind == "string":
            return json.loads(text)
        if kind == "raw":
            return text[1:-1]
        if kind == "char":
            return ord(json.loads('"' + text[1:-1] + '"'))
        if kind == "number":
            return int(text, 0) if re.fullmatch(r"[-+]?(0x[0-9a-fA-F]+|\d+)", text) else float(text)
        if kind == "ident":
            if text in ("true", "false"):
                return text == "true"
            if text == "nil":
                return None
            return self.functions[text]()
        if kind == "pipe":
            sub, chain = text
            value = self.pipeline(sub, dot)
            return _chain(value, chain[1:].split("."), args) if chain else value
        raise TemplateError(f"unexpected {text}")


_NO_ARG = object()


def _chain(value: Any, names: list[str], args: list[Any] | None = None) -> Any:
    """Follow ``.A.B``; the last name gets the method arguments, if any."""
    for i, name in enumerate(names):
        last = i == len(names) - 1
        if isinstance(value, dict):
            value = value.get(name, MISSING)
        elif value is MISSING or value is None:
            return MISSING
        elif isinstance(value, (str, int, float, list, tuple)):
            raise TemplateError(f"can't evaluate field {name} in type {_go_type(value)}")
        else:
            attr = getattr(value, name, MISSING)
            if attr is MISSING or name.startswith("_"):
                raise TemplateError(f"can't evaluate field {name} in type {type(value).__name__}")
            value = attr(*(args or [])) if callable(attr) else attr
            if last:
                return value
            continue
        if last and args:
            raise TemplateError(f"{name} is not a method but has arguments")
    return value


def _go_type(value: Any) -> str:
    return {str: "string", int: "int", float: "float64", list: "[]interface {}",
            tuple: "[]interface {}"}.get(type(value), "interface {}")


def render(source: str, data: Any) -> str:
    """Parse and execute in one go (handy for ``inspect --format``)."""
    return Template(source).render(data)
