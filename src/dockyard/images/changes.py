"""`--change` instructions (docker import / commit): Dockerfile lines applied to a config.

Only the instructions that change configuration are allowed, as in docker
(CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER,
VOLUME, WORKDIR); anything else is "<X> is not a valid change command".
Variables ($VAR, ${VAR}, ${VAR:-default}, ${VAR:+alt}) are expanded from the
config's environment where the Dockerfile reference says they are.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import replace

from dockyard.errors import InvalidArgument
from dockyard.images.config import ContainerConfig

_VALID = {"cmd", "entrypoint", "env", "expose", "healthcheck", "label", "onbuild", "stopsignal", "user", "volume", "workdir"}
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}


def apply_changes(config: ContainerConfig, changes: list[str]) -> ContainerConfig:
    """Apply each change line in order; InvalidArgument with docker's messages."""
    state = _State(config)
    for change in changes:
        for line in change.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            state.dispatch(line)
    return state.config


class _State:
    def __init__(self, config: ContainerConfig):
        self.config = config
        self.cmd_set = False

    def dispatch(self, line: str) -> None:
        parts = line.split(None, 1)
        word = parts[0]
        args = parts[1].strip() if len(parts) > 1 else ""
        if word.lower() not in _VALID:
            raise InvalidArgument(f"{word} is not a valid change command")
        getattr(self, "_" + word.lower())(word.upper(), args)

    def _expand(self, text: str) -> str:
        env = self.config.env_dict()

        def sub(m: re.Match) -> str:
            name, op, word, bare = m.groups()
            value = env.get(name or bare)
            if op == "-":
                return value if value else word
            if op == "+":
                return word if value else ""
            return value or ""

        return _VAR.sub(sub, text)

    # -- instructions ------------------------------------------------------------

    def _cmd(self, name: str, args: str) -> None:
        self.config = replace(self.config, cmd=tuple(_command(args)))
        self.cmd_set = True

    def _entrypoint(self, name: str, args: str) -> None:
        entry = _command(args) if args else []
        # As in a Dockerfile, ENTRYPOINT resets a CMD not set alongside it.
        cmd = self.config.cmd if self.cmd_set else None
        self.config = replace(self.config, entrypoint=tuple(entry), cmd=cmd)

    def _env(self, name: str, args: str) -> None:
        for key, value in _key_values(name, args, self._expand):
            self.config = self.config.with_env(key, value)

    def _label(self, name: str, args: str) -> None:
        labels = dict(self.config.labels)
        for key, value in _key_values(name, args, self._expand):
            labels[key] = value
        self.config = replace(self.config, labels=labels)

    def _workdir(self, name: str, args: str) -> None:
        if not args:
            raise InvalidArgument("WORKDIR requires exactly one argument")
        path = self._expand(args)
        if not path.startswith("/"):
            path = posixpath.join("/", self.config.working_dir or "/", path)
        self.config = replace(self.config, working_dir=posixpath.normpath(path) if path != "/" else "/")

    def _user(self, name: str, args: str) -> None:
        if not args:
            raise InvalidArgument("USER requires exactly one argument")
        self.config = replace(self.config, user=self._expand(args))

    def _expose(self, name: str, args: str) -> None:
        if not args:
            raise InvalidArgument("EXPOSE requires at least one argument")
        ports = set(self.config.exposed_ports)
        for spec in self._expand(args).split():
            ports.update(_port_specs(spec))
        self.config = replace(self.config, exposed_ports=tuple(sorted(ports)))

    def _volume(self, name: str, args: str) -> None:
        if not args:
            raise InvalidArgument("VOLUME requires at least one argument")
        parsed = _json_list(args)
        paths = parsed if parsed is not None else self._expand(args).split()
        volumes = set(self.config.volumes)
        for path in paths:
            if not path.strip():
                raise InvalidArgument("VOLUME specified can not be an empty string")
            volumes.add(path)
        self.config = replace(self.config, volumes=tuple(sorted(volumes)))

    def _stopsignal(self, name: str, args: str) -> None:
        if not args:
            raise InvalidArgument("STOPSIGNAL requires exactly one argument")
        signal = self._expand(args)
        if not re.fullmatch(r"(SIG)?[A-Z0-9+-]+|\d+", signal.upper()):
            raise InvalidArgument(f"Invalid signal: {signal}")
        self.config = replace(self.config, stop_signal=signal)

    def _onbuild(self, name: str, args: str) -> None:
        if not args:
            raise InvalidArgument("ONBUILD requires at least one argument")
        trigger = args.split(None, 1)[0].upper()
        if trigger == "ONBUILD":
            raise InvalidArgument("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trigger in ("FROM", "MAINTAINER"):
            raise InvalidArgument(f"{trigger} isn't allowed as an ONBUILD trigger")
        self.config = replace(self.config, on_build=self.config.on_build + (args,))

    def _healthcheck(self, name: str, args: str) -> None:
        flags: dict[str, str] = {}
        rest = args
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            key, sep, value = flag[2:].partition("=")
            if not sep or key not in ("interval", "timeout", "start-period", "start-interval", "retries"):
                raise InvalidArgument(f"Unknown flag: {key}")
            flags[key] = value
            rest = rest.strip()
        kind, _, command = rest.partition(" ")
        kind = kind.upper()
        if kind == "NONE":
            if command.strip() or flags:
                raise InvalidArgument("HEALTHCHECK NONE takes no arguments")
            self.config = replace(self.config, healthcheck={"Test": ["NONE"]})
            return
        if kind != "CMD":
            raise InvalidArgument(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
        command = command.strip()
        parsed = _json_list(command)
        test = ["CMD"] + parsed if parsed is not None else ["CMD-SHELL", command]
        health: dict = {"Test": test}
        for flag, field_name in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"), ("start-interval", "StartInterval")):
            if flag in flags:
                health[field_name] = _duration(flag, flags[flag])
        if "retries" in flags:
            try:
                health["Retries"] = int(flags["retries"])
            except ValueError:
                raise InvalidArgument(f"invalid retries value: {flags['retries']}") from None
        self.config = replace(self.config, healthcheck=health)


def _json_list(text: str) -> list[str] | None:
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _command(args: str) -> list[str]:
    """Exec form (a JSON array) as is; shell form → ["/bin/sh", "-c", args]."""
    parsed = _json_list(args)
    if parsed is not None:
        return parsed
    return ["/bin/sh", "-c", args]


def _words(text: str) -> list[str]:
    """Split on unquoted whitespace, honouring quotes and backslashes (Dockerfile rules)."""
    words: list[str] = []
    current: list[str] = []
    in_word = False
    quote: str | None = None
    i = 0
    while i < len(text):
        c = text[i]
        if quote is None and c.isspace():
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
        elif quote is None and c in "\"'":
            quote, in_word = c, True
        elif c == quote:
            quote = None
        elif c == "\\" and quote != "'" and i + 1 < len(text):
            i += 1
            current.append(text[i])
            in_word = True
        else:
            current.append(c)
            in_word = True
        i += 1
    if quote is not None:
        raise InvalidArgument(f"unexpected end of statement while looking for matching {quote}")
    if in_word:
        words.append("".join(current))
    return words


def _key_values(name: str, args: str, expand) -> list[tuple[str, str]]:
    if not args:
        raise InvalidArgument(f"{name} requires at least one argument")
    first = args.split(None, 1)[0]
    if "=" not in first:
        # Legacy form "ENV key value with spaces".
        parts = args.split(None, 1)
        if len(parts) < 2:
            raise InvalidArgument(f"{name} must have two arguments")
        return [(parts[0], expand(parts[1]))]
    out = []
    for word in _words(args):
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"{name} names can not be blank" if not key else f"Syntax error - can't find = in \"{word}\". Must be of the form: name=value")
        out.append((key, expand(value)))
    return out


def _port_specs(spec: str) -> list[str]:
    port, _, proto = spec.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise InvalidArgument(f"invalid proto: {proto}")
    start, sep, end = port.partition("-")
    if not start.isdigit() or (sep and not end.isdigit()):
        raise InvalidArgument(f"invalid containerPort: {port}")
    lo, hi = int(start), int(end) if sep else int(start)
    if hi < lo or hi > 65535:
        raise InvalidArgument(f"invalid range specified for container port: {port}")
    return [f"{p}/{proto}" for p in range(lo, hi + 1)]


def _duration(flag: str, text: str) -> int:
    pos, total = 0, 0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += int(float(m.group(1)) * _DURATION_NS[m.group(2)])
        pos = m.end()
    if pos != len(text) or not text:
        raise InvalidArgument(f"time: invalid duration \"{text}\"")
    if total and total < 1_000_000:
        raise InvalidArgument(f"Interval \"{flag}\" cannot be less than 1ms")
    return total
