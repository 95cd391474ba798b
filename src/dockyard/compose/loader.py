"""Reading compose files and ``.env`` files from disk.

Only this module touches the filesystem for the model's input; every later
step works on the plain dicts it returns.
"""

from __future__ import annotations

import os
from typing import Any

import yaml

from dockyard.errors import InvalidArgument, NotFound


def load_file(path: str) -> dict[str, Any]:
    """Parse one compose file into a dict.

    Invalid YAML raises InvalidArgument as ``file:line: message`` so the user
    can jump to the spot; an empty file is an empty project.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file") from None
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise InvalidArgument(f"{path}:{line}: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise InvalidArgument(f"{path}: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidArgument(f"{path}:1: top-level object must be a mapping")
    return data


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


def load_dotenv(project_dir: str) -> dict[str, str]:
    """The project directory's ``.env``, or nothing when there is none."""
    path = os.path.join(project_dir, ".env")
    try:
        with open(path, encoding="utf-8") as f:
            return parse_env_file(f.read(), path)
    except FileNotFoundError:
        return {}
