"""What each instruction does to a stage's state — the pure part of a build.

A stage's state is the image it has reached, the config that image carries,
and the build arguments declared in the stage.  Metadata instructions (ENV,
LABEL, CMD, …) only change the config; :func:`apply_metadata` computes the
new config and the history line docker writes for it (``/bin/sh -c #(nop)
ENV A=b``), which is also what the step's cache key is made of.  RUN, COPY,
ADD and WORKDIR touch the filesystem and are the executor's; their pure
parts (the command line, the environment, the history text) are here.

Build arguments follow docker's rules:

* ARGs before the first FROM (*meta args*) are visible only in FROM lines,
  unless a stage re-declares them (``ARG NAME`` without a value takes the
  meta value).
* A stage's ``ARG NAME[=default]`` takes ``--build-arg NAME=…`` when given,
  else its default; it is in scope from there to the end of the stage.
* ENV wins over ARG of the same name, in expansion and in RUN's environment.
* The proxy variables (HTTP_PROXY, …) may be given without being declared;
  they reach RUN but never the history.
* Build args reach RUN's environment but never the image's config.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Mapping

from dockyard.build.instructions import (Arg, Cmd, Entrypoint, Env, Expose, Healthcheck, Instruction,
                                         Label, Maintainer, Onbuild, Run, Shell, Stopsignal, User,
                                         Volume)
from dockyard.build.parser import parse_heredoc
from dockyard.errors import InvalidArgument
from dockyard.images.config import ContainerConfig

DEFAULT_SHELL = ("/bin/sh", "-c")

#: Build args every Dockerfile may use without an ARG line (moby's builtinAllowedBuildArgs).
PREDEFINED_ARGS = frozenset({
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
    "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
})

#: The platform args BuildKit defines for every build; the classic builder
#: lacks them, but Dockerfiles written today declare ``ARG TARGETARCH``.
PLATFORM_ARGS = {
    "TARGETPLATFORM": "linux/amd64", "TARGETOS": "linux", "TARGETARCH": "amd64", "TARGETVARIANT": "",
    "BUILDPLATFORM": "linux/amd64", "BUILDOS": "linux", "BUILDARCH": "amd64", "BUILDVARIANT": "",
}


@dataclass
class BuildArgs:
    """The ``--build-arg`` values of one build and which of them were used."""

    given: dict[str, str | None]
    meta: dict[str, str | None] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)

    def declare_meta(self, name: str, default: str | None) -> None:
        value = self.given.get(name)
        if value is None:  # not given, or given without a value (unset in the client's env)
            value = default
        if value is None and name in PLATFORM_ARGS:
            value = PLATFORM_ARGS[name]
        self.meta[name] = value
        self.used.add(name)

    def meta_values(self) -> dict[str, str]:
        return {k: v for k, v in self.meta.items() if v is not None}

    def value_for(self, name: str, default: str | None) -> str | None:
        """The value a stage's ``ARG name[=default]`` takes."""
        self.used.add(name)
        if name in self.given and self.given[name] is not None:
            return self.given[name]
        if default is not None:
            return default
        if name in self.meta:
            return self.meta[name]
        return PLATFORM_ARGS.get(name)

    def unused(self) -> list[str]:
        return sorted(k for k in self.given if k not in self.used and k not in PREDEFINED_ARGS)

    def proxies(self) -> dict[str, str]:
        return {k: v for k, v in self.given.items() if k in PREDEFINED_ARGS and v is not None}


@dataclass
class StageState:
    """Where a stage has got to: its image (``""`` before any layer of a
    ``FROM scratch`` stage), that image's config, and its declared args."""

    image_id: str
    config: ContainerConfig
    author: str = ""
    args: dict[str, str | None] = field(default_factory=dict)
    cmd_set: bool = False
    index: int = 0  # the stage's position in the Dockerfile

    @property
    def shell(self) -> tuple[str, ...]:
        return self.config.shell or DEFAULT_SHELL

    def expansion_env(self) -> dict[str, str]:
        """Variables for ``$VAR`` in instructions: declared args, then ENV over them."""
        env = {k: v for k, v in self.args.items() if v is not None}
        env.update(self.config.env_dict())
        return env

    def arg_env(self) -> dict[str, str]:
        """Declared args with a value that ENV does not override, sorted by name."""
        env_keys = self.config.env_dict()
        return {k: v for k, v in sorted(self.args.items()) if v is not None and k not in env_keys}


# ---------------------------------------------------------------------------
# history text, as the classic builder writes it

def nop(shell: tuple[str, ...], text: str) -> str:
    """A metadata step's created_by: ``/bin/sh -c #(nop)  ENV A=b``."""
    return " ".join(shell) + " #(nop)  " + text


def nop_single(shell: tuple[str, ...], text: str) -> str:
    """WORKDIR/COPY/ADD's created_by: one space after ``#(nop)``."""
    return " ".join(shell) + " #(nop) " + text


def go_list(words: tuple[str, ...] | list[str]) -> str:
    """Go's ``%q`` of a string slice: ``["sh" "-c" "echo hi"]``."""
    return "[" + " ".join(json.dumps(w, ensure_ascii=False) for w in words) + "]"


# ---------------------------------------------------------------------------
# metadata instructions

METADATA = (Env, Label, Cmd, Entrypoint, Expose, User, Volume, Stopsignal, Arg, Onbuild,
            Healthcheck, Maintainer, Shell)


def command_form(args: tuple[str, ...], json_form: bool, shell: tuple[str, ...]) -> tuple[str, ...]:
    """CMD/ENTRYPOINT/RUN's argv: a JSON array as written, a shell form
    prefixed with the stage's SHELL."""
    if json_form:
        return tuple(args)
    return tuple(shell) + tuple(args)


def expose_ports(ports: tuple[str, ...]) -> list[str]:
    """EXPOSE's words → ``5000/tcp``; ranges ``8000-8002/udp`` expand as docker does."""
    out: list[str] = []
    for raw in ports:
        spec, _, proto = raw.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise InvalidArgument(f"invalid proto: {proto}")
        if ":" in spec:
            raise InvalidArgument(f"invalid containerPort: {spec}")
        low, sep, high = spec.partition("-")
        try:
            start = int(low)
            end = int(high) if sep else start
        except ValueError:
            raise InvalidArgument(f"invalid containerPort: {spec}") from None
        if not (0 < start <= end <= 65535):
            raise InvalidArgument(f"invalid range: {spec}")
        out.extend(f"{p}/{proto}" for p in range(start, end + 1))
    return out


def healthcheck_config(hc: Healthcheck) -> dict:
    """HEALTHCHECK → the image config's Healthcheck.  It replaces the base
    image's check whole, as docker does: options not given are the runtime's
    defaults, not the base's."""
    if hc.test == ("NONE",):
        return {"Test": ["NONE"]}
    out: dict = {"Test": list(hc.test)}
    for key, value in (("Interval", hc.interval), ("Timeout", hc.timeout),
                       ("StartPeriod", hc.start_period), ("StartInterval", hc.start_interval),
                       ("Retries", hc.retries)):
        if value:
            out[key] = value
    return out


def _duration_text(ns: int) -> str:
    if not ns:
        return "0s"
    seconds = ns / 1e9
    return f"{seconds:g}s"


def apply_metadata(state: StageState, instr: Instruction) -> tuple[ContainerConfig, str, str]:
    """(new config, created_by, author) after a metadata instruction whose
    words are already expanded.  Raises InvalidArgument for bad values."""
    cfg = state.config
    shell = state.shell
    author = state.author
    if isinstance(instr, Env):
        for key, value in instr.pairs:
            cfg = cfg.with_env(key, value)
        return cfg, nop(shell, "ENV " + " ".join(f"{k}={v}" for k, v in instr.pairs)), author
    if isinstance(instr, Label):
        labels = dict(cfg.labels)
        labels.update(dict(instr.pairs))
        text = "LABEL " + " ".join(f"{k}={v}" for k, v in instr.pairs)
        return replace(cfg, labels=labels), nop(shell, text), author
    if isinstance(instr, Cmd):
        cmd = command_form(instr.args, instr.json, shell)
        return replace(cfg, cmd=cmd), nop(shell, "CMD " + go_list(cmd)), author
    if isinstance(instr, Entrypoint):
        entrypoint = command_form(instr.args, instr.json, shell)
        # An ENTRYPOINT drops a CMD inherited from the base (not one set in this stage).
        cmd = cfg.cmd if state.cmd_set else None
        return (replace(cfg, entrypoint=entrypoint, cmd=cmd),
                nop(shell, "ENTRYPOINT " + go_list(entrypoint)), author)
    if isinstance(instr, Expose):
        ports = expose_ports(instr.ports)
        merged = tuple(sorted(set(cfg.exposed_ports) | set(ports)))
        return replace(cfg, exposed_ports=merged), nop(shell, "EXPOSE " + " ".join(instr.ports)), author
    if isinstance(instr, User):
        return replace(cfg, user=instr.user), nop(shell, "USER " + instr.user), author
    if isinstance(instr, Volume):
        volumes = tuple(sorted(set(cfg.volumes) | set(instr.paths)))
        return replace(cfg, volumes=volumes), nop(shell, "VOLUME [" + " ".join(instr.paths) + "]"), author
    if isinstance(instr, Stopsignal):
        from dockyard.services.container_config import parse_signal

        parse_signal(instr.signal)
        return replace(cfg, stop_signal=instr.signal), nop(shell, "STOPSIGNAL " + instr.signal), author
    if isinstance(instr, Arg):
        text = "ARG " + instr.name + ("" if instr.default is None else "=" + instr.default)
        return cfg, nop(shell, text), author
    if isinstance(instr, Onbuild):
        return (replace(cfg, on_build=cfg.on_build + (instr.expression,)),
                nop(shell, "ONBUILD " + instr.expression), author)
    if isinstance(instr, Healthcheck):
        hc = healthcheck_config(instr)
        opts = " ".join(f"--{k.lower()}={_duration_text(v) if k != 'Retries' else v}"
                        for k, v in hc.items() if k != "Test")
        text = "HEALTHCHECK " + (opts + " " if opts else "") + go_list(hc["Test"])
        return replace(cfg, healthcheck=hc), nop(shell, text), author
    if isinstance(instr, Maintainer):
        return cfg, nop(shell, "MAINTAINER " + instr.name), instr.name
    if isinstance(instr, Shell):
        new_shell = tuple(instr.args)
        return replace(cfg, shell=new_shell), nop(new_shell, "SHELL [" + " ".join(new_shell) + "]"), author
    raise TypeError(f"not a metadata instruction: {type(instr).__name__}")


# ---------------------------------------------------------------------------
# RUN

def run_argv(state: StageState, run: Run) -> tuple[str, ...]:
    """The process RUN starts.  A heredoc that is the whole command becomes
    the shell's script; heredocs after other words are left for the shell,
    which reads ``<<EOF`` itself."""
    if run.json:
        return tuple(run.args)
    line = run.args[0] if run.args else ""
    if run.heredocs:
        if len(run.heredocs) == 1 and parse_heredoc(line.strip()) is not None:
            data = run.heredocs[0].data
            if data.startswith("#!"):
                return tuple(state.shell) + (_script_file(data),)
            return tuple(state.shell) + (data,)
        script = line + "".join("\n" + d.data + d.name for d in run.heredocs)
        return tuple(state.shell) + (script,)
    return tuple(state.shell) + (line,)


_SCRIPT_END = "DOCKYARD_HEREDOC_SCRIPT_END"


def _script_file(data: str) -> str:
    """A shell line that runs a ``#!`` heredoc as the program it names (as
    BuildKit does): written to a temporary file, executed, removed."""
    body = data if data.endswith("\n") else data + "\n"
    return (f'f=$(mktemp) && cat > "$f" <<\'{_SCRIPT_END}\'\n{body}{_SCRIPT_END}\n'
            'chmod +x "$f" && "$f"; rc=$?; rm -f "$f"; exit $rc')


def run_created_by(state: StageState, argv: tuple[str, ...]) -> str:
    """``|2 A=1 B=2 /bin/sh -c make``: the declared args in scope, then the command."""
    args = state.arg_env()
    prefix = f"|{len(args)} " + " ".join(f"{k}={v}" for k, v in args.items()) + " " if args else ""
    return prefix + " ".join(argv)


def run_env(state: StageState, build_args: BuildArgs) -> list[str]:
    """RUN's environment: the image's ENV, then the args in scope it does not
    override, then the proxy variables given for the build."""
    env = list(state.config.env)
    have = set(state.config.env_dict())
    for k, v in {**build_args.proxies(), **state.arg_env()}.items():
        if k not in have:
            env.append(f"{k}={v}")
            have.add(k)
    return env


def declare_arg(state: StageState, arg: Arg, build_args: BuildArgs) -> None:
    state.args[arg.name] = build_args.value_for(arg.name, arg.default)


def workdir_path(current: str, path: str) -> str:
    """WORKDIR's new directory: absolute as given, else joined to the current one."""
    import posixpath

    if not path.startswith("/"):
        path = posixpath.join(current or "/", path)
    clean = posixpath.normpath(path)
    return "/" if clean in ("/", "//") else clean


def dataclass_dict(instr: Instruction) -> dict:
    """A JSON-ready description of an instruction for cache keys."""
    from dockyard.build.instructions import to_dict

    doc = to_dict(instr)
    doc.pop("line", None)
    return doc


__all__ = ["BuildArgs", "StageState", "apply_metadata", "run_argv", "run_created_by", "run_env",
           "declare_arg", "workdir_path", "nop", "nop_single", "go_list", "METADATA"]
