"""``exec``: run a new process in a running container.

The flow is docker's:

1. ``GET /containers/{id}/json``, so that "No such container" wins over
   any other complaint, then the TTY check (before an exec exists on the
   daemon, which could not be cleaned up);
2. ``POST /containers/{id}/exec`` with the ExecConfig (``exec_config``);
3. ``-d``: ``POST /exec/{id}/start`` with ``{"Detach": true, …}``, done;
   otherwise hijack the same endpoint with ``{"Detach": false, …}``, size
   the TTY (``POST /exec/{id}/resize``) now and on every SIGWINCH, and
   pump I/O until the stream ends;
4. ``GET /exec/{id}/json`` and exit with its ``ExitCode``.
"""

from __future__ import annotations

import os

from dockyard.cli.flags import FlagSet
from dockyard.cli.runconfig import parse_env_file, validate_env
from dockyard.cli.session import Session, StatusError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.flags import Options

# What docker prints when the detach keys end an exec or attach session.
DETACHED_MESSAGE = "read escape sequence"


def exec_flags() -> FlagSet:
    flags = FlagSet("exec", "[OPTIONS] CONTAINER COMMAND [ARG...]",
                    "Execute a command in a running container", min_args=2,
                    interspersed=False, aliases=["container exec", "exec"])
    flags.bool("detach", "d", "Detached mode: run command in the background")
    flags.string("detach-keys", None, "Override the key sequence for detaching a container")
    flags.list("env", "e", "Set environment variables", convert=validate_env)
    flags.list("env-file", None, "Read in a file of environment variables")
    flags.bool("interactive", "i", "Keep STDIN open even if not attached")
    flags.bool("privileged", None, "Give extended privileges to the command")
    flags.bool("tty", "t", "Allocate a pseudo-TTY")
    flags.string("user", "u", 'Username or UID (format: "<name|uid>[:<group|gid>]")')
    flags.string("workdir", "w", "Working directory inside the container")
    return flags


def exec_config(opts: Options, command: list[str],
                console_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """The body of ``POST /containers/{id}/exec``, as docker's parseExec
    builds it: without ``-d`` stdout and stderr are attached, and stdin too
    with ``-i``; ``--env-file`` entries come before ``-e`` ones."""
    env: list[str] = []
    for path in opts.env_file:
        env += parse_env_file(path)
    env += opts.env
    attach = not opts.detach
    config: dict[str, Any] = {
        "User": opts.user or "",
        "Privileged": opts.privileged,
        "Tty": opts.tty,
        "AttachStdin": attach and opts.interactive,
        "AttachStdout": attach,
        "AttachStderr": attach,
        "DetachKeys": opts.detach_keys or "",
        "Env": env,
        "WorkingDir": opts.workdir or "",
        "Cmd": command,
    }
    if opts.tty:
        config["ConsoleSize"] = list(console_size or (0, 0))
    return config


def cmd_exec(session: Session, argv: list[str]) -> int:
    from dockyard.cli import terminal

    opts, args = exec_flags().parse(argv)
    name, command = args[0], args[1:]
    if opts.detach_keys:
        try:
            terminal.parse_detach_keys(opts.detach_keys)
        except ValueError as exc:
            raise StatusError(str(exc), 1) from None
    try:
        config = exec_config(opts, command,
                             terminal.window_size(1) if opts.tty else None)
    except ValueError as exc:
        raise StatusError(str(exc), 125) from None
    except OSError as exc:
        raise StatusError(f"open {exc.filename}: {(exc.strerror or str(exc)).lower()}",
                          125) from None
    client = session.client
    client.get(f"/containers/{name}/json")
    if not opts.detach and config["Tty"] and config["AttachStdin"] and not os.isatty(0):
        raise StatusError("the input device is not a TTY", 1)
    created = client.post(f"/containers/{name}/exec", None, config) or {}
    exec_id = created.get("Id")
    if not exec_id:
        raise StatusError("exec ID empty", 1)
    start = {"Detach": opts.detach, "Tty": config["Tty"]}
    if "ConsoleSize" in config:
        start["ConsoleSize"] = config["ConsoleSize"]
    if opts.detach:
        client.post(f"/exec/{exec_id}/start", None, start)
        return 0
    ended = _interactive(session, exec_id, start, stdin=config["AttachStdin"],
                         tty=config["Tty"], detach_keys=opts.detach_keys)
    if ended == terminal.DETACHED:
        raise StatusError(DETACHED_MESSAGE, 1)
    result = client.get(f"/exec/{exec_id}/json") or {}
    return int(result.get("ExitCode") or 0)


def _interactive(session: Session, exec_id: str, start: dict[str, Any], *, stdin: bool,
                 tty: bool, detach_keys: str | None) -> str:
    """Hijack ``/exec/{id}/start`` and pump I/O; returns how it ended."""
    from dockyard.cli import terminal
    from dockyard.cli.run import _chain, _on_winch

    client = session.client
    keys = terminal.parse_detach_keys(detach_keys or terminal.DEFAULT_DETACH_KEYS)
    hijacked = client.hijack(f"/exec/{exec_id}/start", None, start)
    restore = None
    raw = None
    try:
        if tty and os.isatty(0):
            _resize(client, exec_id)
            restore = _chain(restore, _on_winch(lambda: _resize(client, exec_id)))
        if tty and stdin and os.isatty(0):
            raw = terminal.RawMode(0).__enter__()
        return terminal.pump(hijacked.sock, hijacked.buffered,
                             stdin=0 if stdin else None, tty=tty,
                             detach_keys=keys if tty and stdin else b"",
                             close_write=hijacked.close_write)
    finally:
        if raw is not None:
            raw.__exit__(None, None, None)
        if restore is not None:
            restore()
        hijacked.close()


def _resize(client: Any, exec_id: str) -> None:
    from dockyard import errors
    from dockyard.cli.terminal import window_size

    size = window_size(1)
    if size:
        try:
            client.post(f"/exec/{exec_id}/resize", {"h": size[0], "w": size[1]})
        except (errors.DockyardError, OSError):
            pass  # best effort, as in docker
