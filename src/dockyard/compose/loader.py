"""Reading compose files and ``.env`` files from disk.

Only this module touches the filesystem for the model's input; every later
step works on the plain dicts it returns.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from dockyard.errors import InvalidArgument, NotFound


@dataclass(frozen=True, slots=True)
class Document:
    """One compose file as loaded.

    ``resets`` and ``overrides`` are the key paths (``("services", "web",
    "ports")``) tagged ``!reset`` and ``!override``; the merge step applies
    them.  Reset keys are removed from ``data``; override keys keep their
    value there.
    """

    path: str
    data: dict[str, Any]
    resets: frozenset[tuple[str, ...]] = frozenset()
    overrides: frozenset[tuple[str, ...]] = frozenset()
    lines: Mapping[tuple[str, ...], int] = field(default_factory=dict)  # key path → 1-based line


def load_file(path: str) -> dict[str, Any]:
    """Parse one compose file into a dict (see :func:`load_document`)."""
    return load_document(path).data


def load_document(path: str) -> Document:
    """Parse one compose file.

    Invalid YAML — including a key given twice in one mapping — raises
    InvalidArgument as ``file:line: message`` so the user can jump to the
    spot; an empty file is an empty project.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file") from None
    try:
        data = yaml.load(text, Loader=_ComposeLoader)  # noqa: S506 - a SafeLoader subclass
        lines: dict[tuple[str, ...], int] = {}
        _key_lines(yaml.compose(text, Loader=yaml.SafeLoader), (), lines)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise InvalidArgument(f"{path}:{line}: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise InvalidArgument(f"{path}: {e}") from None
    if data is None:
        return Document(path, {})
    if not isinstance(data, dict):
        raise InvalidArgument(f"{path}:1: top-level object must be a mapping")
    resets: set[tuple[str, ...]] = set()
    overrides: set[tuple[str, ...]] = set()
    data = _strip_tags(data, (), resets, overrides)
    return Document(path, data, frozenset(resets), frozenset(overrides), lines)


def _key_lines(node: Any, path: tuple[str, ...], out: dict[tuple[str, ...], int]) -> None:
    """Record the line of every mapping key, by key path, for error messages."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                here = path + (key_node.value,)
                out.setdefault(here, key_node.start_mark.line + 1)
                _key_lines(value_node, here, out)


class _Tagged:
    __slots__ = ("kind", "value")

    def __init__(self, kind: str, value: Any):
        self.kind, self.value = kind, value


class _ComposeLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys and understands !reset / !override."""

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {seen[key].line + 1})",
                    key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _construct_tagged(kind: str):  # type: ignore[no-untyped-def]
    def construct(loader: _ComposeLoader, node: yaml.Node) -> _Tagged:
        if isinstance(node, yaml.MappingNode):
            value: Any = loader.construct_mapping(node, deep=True)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            tag = loader.resolve(yaml.ScalarNode, node.value, (True, False))
            value = loader.construct_object(yaml.ScalarNode(tag, node.value, node.start_mark, node.end_mark))
        return _Tagged(kind, value)
    return construct


_ComposeLoader.add_constructor("!reset", _construct_tagged("reset"))
_ComposeLoader.add_constructor("!override", _construct_tagged("override"))


def _strip_tags(value: Any, path: tuple[str, ...], resets: set, overrides: set) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            here = path + (str(k),)
            if isinstance(v, _Tagged):
                if v.kind == "reset":
                    resets.add(here)
                    continue
                overrides.add(here)
                v = v.value
            out[k] = _strip_tags(v, here, resets, overrides)
        return out
    if isinstance(value, list):
        return [_strip_tags(v.value if isinstance(v, _Tagged) else v, path, resets, overrides) for v in value]
    return value


def parse_env_file(text: str, source: str = ".env") -> dict[str, str]:
    """Parse ``KEY=VALUE`` lines as docker compose reads ``.env`` and env_file.

    Blank lines and ``#`` comments are skipped, ``export`` prefixes allowed,
    matching single or double quotes around the value removed.
    """
    result: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not key or any(c.isspace() for c in key):
            raise InvalidArgument(f"{source}:{number}: invalid variable name {key!r}")
        if not sep:
            # A bare name in an env file means "take it from the environment".
            env_value = os.environ.get(key)
            if env_value is not None:
                result[key] = env_value
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        result[key] = value
    return result


def load_env_file(path: str) -> dict[str, str]:
    """An ``--env-file``; NotFound when it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            return parse_env_file(f.read(), path)
    except OSError as exc:
        raise NotFound(f"couldn't read env file {path}: {exc.strerror}") from None


def load_dotenv(project_dir: str) -> dict[str, str]:
    """The project directory's ``.env``, or nothing when there is none."""
    path = os.path.join(project_dir, ".env")
    try:
        with open(path, encoding="utf-8") as f:
            return parse_env_file(f.read(), path)
    except FileNotFoundError:
        return {}
