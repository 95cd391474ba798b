"""``run``, ``create``, ``start`` and ``attach``: the commands that connect a
terminal to a container.

The ``run`` flow is docker's, in this order, because each step must exist
before the next can race it:

1. ``POST /containers/create`` (on 404: "Unable to find image", pull, retry;
   ``--pull always`` pulls first, ``--pull never`` never does);
2. hijack ``POST /containers/{id}/attach?stream=1&stdout=1&stderr=1[&stdin=1]``
   so no early output is lost;
3. send ``POST /containers/{id}/wait?condition=next-exit`` (``removed`` with
   ``--rm``) and wait briefly for its response headers: the daemon writes
   them once the waiter is registered, so a fast exit cannot be missed;
4. ``POST /containers/{id}/start``; with ``-t``, send the window size;
5. pump I/O until the attach stream ends, then read the wait result and
   exit with the container's status.
"""

from __future__ import annotations

import os
import select

from dockyard import errors
from dockyard.cli.flags import FlagSet
from dockyard.cli.netconfig import localhost_dns_warning
from dockyard.cli.runconfig import add_container_flags, container_config
from dockyard.cli.session import Session, StatusError, describe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# How long to wait for /wait's response headers before starting anyway
# (a daemon that only answers at exit would otherwise block us forever).
WAIT_REGISTER_TIMEOUT = 0.25
PROXIED_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")


def start_status(message: str) -> int:
    """docker's exit status for a failed create/start: 127 not found, 126
    not executable, else 125."""
    if "executable file not found" in message or "no such file or directory" in message:
        return 127
    if "permission denied" in message or "cannot invoke" in message:
        return 126
    return 125


def run_error(err: BaseException | str, command: str = "run") -> StatusError:
    message = err if isinstance(err, str) else describe(err)
    return StatusError(f"dockyard: {message}\n\nRun 'dockyard {command} --help' for more "
                       "information", start_status(message))


def _familiar(image: str) -> str:
    """"busybox" → "busybox:latest", as docker names the image it looks for."""
    name = image
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in name:
        name += ":latest"
    return name


PULL_POLICIES = ("always", "missing", "never")


def add_pull_flags(flags: FlagSet) -> None:
    flags.string("pull", None, 'Pull image before running ("always", "missing", "never")',
                 default="missing")
    flags.bool("quiet", "q", "Suppress the pull output")


def pull(session: Session, image: str, quiet: bool = False) -> None:
    """Pull through the daemon (``POST /images/create``); progress on stderr."""
    from dockyard.cli.distribution import StreamError, pull_image
    from dockyard.images.reference import parse_reference

    try:
        pull_image(session, parse_reference(image), None if quiet else session.stderr)
    except StreamError as exc:
        err = errors.NotFound(exc.message)
        err.from_daemon = True  # type: ignore[attr-defined]
        raise err from None


def create_container(session: Session, body: dict[str, Any], name: str | None,
                     command: str, pull_policy: str = "missing", quiet: bool = False) -> str:
    """Create, pulling the image first (``always``), once when the daemon
    does not have it (``missing``), or never."""
    if pull_policy not in PULL_POLICIES:
        raise run_error(f"invalid pull option: '{pull_policy}': must be one of \"always\", "
                        "\"missing\" or \"never\"", command)
    params = {"name": name} if name else None
    try:
        if pull_policy == "always":
            pull(session, body["Image"], quiet)
        try:
            response = session.client.post("/containers/create", params, body)
        except errors.NotFound as missing:
            # docker's CLI pulls on any 404 and retries; a missing network
            # would then fail again after the pull, so go straight to it.
            if "No such image" not in missing.message or pull_policy != "missing":
                raise
            session.err(f"Unable to find image '{_familiar(body['Image'])}' locally")
            pull(session, body["Image"], quiet)
            response = session.client.post("/containers/create", params, body)
    except errors.DockyardError as exc:
        if not getattr(exc, "from_daemon", False):
            raise  # cannot reach the daemon: docker prints that plainly, exit 1
        raise run_error(exc, command) from None
    warnings = list(response.get("Warnings") or [])
    dns_warning = localhost_dns_warning(body.get("HostConfig", {}).get("Dns") or [])
    if dns_warning:
        warnings.append(dns_warning)
    for warning in warnings:
        session.err(f"WARNING: {warning}")
    return response["Id"]


def _parse_config(flags: FlagSet, argv: list[str], *, detach: bool = False,
                  auto_remove: bool = False, command: str = "run") -> tuple[Any, dict]:
    opts, args = flags.parse(argv)
    try:
        body = container_config(opts, args, detach=detach or getattr(opts, "detach", False),
                                auto_remove=auto_remove or getattr(opts, "rm", False))
    except ValueError as exc:
        raise run_error(str(exc), command) from None
    except OSError as exc:
        raise run_error(f"open {exc.filename}: {(exc.strerror or str(exc)).lower()}",
                        command) from None
    return opts, body


def run_flags() -> FlagSet:
    flags = FlagSet("run", "[OPTIONS] IMAGE [COMMAND] [ARG...]",
                    "Create and run a new container from an image", min_args=1,
                    interspersed=False, aliases=["container run", "run"])
    add_container_flags(flags)
    add_pull_flags(flags)
    flags.bool("detach", "d", "Run container in background and print container ID")
    flags.string("detach-keys", None, "Override the key sequence for detaching a container")
    flags.bool("rm", None, "Automatically remove the container and its associated anonymous "
               "volumes when it exits")
    flags.bool("sig-proxy", None, "Proxy received signals to the process", default=True)
    return flags


def cmd_run(session: Session, argv: list[str]) -> int:
    opts, body = _parse_config(run_flags(), argv)
    tty, stdin = body["Tty"], body["AttachStdin"]
    if not opts.detach and tty and stdin and not os.isatty(0):
        raise StatusError("the input device is not a TTY", 1)
    if tty and not opts.detach and os.isatty(1):
        # As docker does: the process starts at the terminal's size, instead
        # of at 0x0 until the first resize arrives.
        from .terminal import window_size

        size = window_size(1)
        if size:
            body.setdefault("HostConfig", {})["ConsoleSize"] = list(size)
    cid = create_container(session, body, opts.name, "run", opts.pull, opts.quiet)
    if opts.detach:
        try:
            session.client.post(f"/containers/{cid}/start")
        except errors.DockyardError as exc:
            raise run_error(exc) from None
        session.out(cid)
        return 0
    return attach_and_start(session, cid, tty=tty, stdin=stdin, auto_remove=opts.rm,
                            detach_keys=opts.detach_keys, sig_proxy=opts.sig_proxy and not tty,
                            command="run")


def attach_and_start(session: Session, cid: str, *, tty: bool, stdin: bool,
                     auto_remove: bool, detach_keys: str | None = None,
                     sig_proxy: bool = True, command: str = "run",
                     start: bool = True, report_detach: bool = False) -> int:
    """Steps 2–5 of the module docstring; returns the exit status.

    Typing the detach keys ends the session with status 0 (``run``,
    ``start``) or, with ``report_detach`` (``attach``), as docker's attach
    does: "read escape sequence" on stderr and status 1.
    """
    from dockyard.cli import terminal

    client = session.client
    params = {"stream": True, "stdin": stdin, "stdout": True, "stderr": True}
    keys = b""
    if stdin:
        try:
            keys = terminal.parse_detach_keys(detach_keys or terminal.DEFAULT_DETACH_KEYS)
        except ValueError as exc:
            raise StatusError(str(exc), 1) from None
        if detach_keys:
            params["detachKeys"] = detach_keys
    hijacked = client.hijack(f"/containers/{cid}/attach", params)
    condition = "removed" if auto_remove else "next-exit"
    waiter = client.open("POST", f"/containers/{cid}/wait", {"condition": condition})
    select.select([waiter.sock], [], [], WAIT_REGISTER_TIMEOUT)
    if start:
        try:
            client.post(f"/containers/{cid}/start")
        except errors.DockyardError as exc:
            hijacked.close()
            if auto_remove:
                _exit_status(session, client, waiter)
            raise run_error(exc, command) from None
    restore_signals = _forward_signals(session, cid) if sig_proxy else None
    raw = None
    try:
        if tty and os.isatty(1):
            if not start:
                # docker's attach: a size one larger first, so a program that
                # is already running redraws even if the size did not change.
                _resize(client, cid, grow=1)
            _resize(client, cid)
            restore_signals = _chain(restore_signals, _on_winch(lambda: _resize(client, cid)))
        if tty and stdin and os.isatty(0):
            raw = terminal.RawMode(0).__enter__()
        ended = terminal.pump(hijacked.sock, hijacked.buffered,
                              stdin=0 if stdin else None, tty=tty,
                              detach_keys=keys if tty else b"",
                              close_write=hijacked.close_write)
    finally:
        if raw is not None:
            raw.__exit__(None, None, None)
        if restore_signals:
            restore_signals()
        hijacked.close()
    if ended == terminal.DETACHED:
        waiter.close()
        if report_detach:
            from dockyard.cli.execs import DETACHED_MESSAGE

            raise StatusError(DETACHED_MESSAGE, 1)
        return 0
    return _exit_status(session, client, waiter)


def _exit_status(session: Session, client: Any, waiter: Any) -> int:
    import json

    try:
        result = json.loads(client.response(waiter).read() or b"{}")
    except (errors.DockyardError, OSError, ValueError) as exc:
        session.err(f"error waiting for container: {describe(exc)}")
        return 125
    finally:
        waiter.close()
    error = result.get("Error") or {}
    if error.get("Message"):
        session.err(f"Error waiting for container: {error['Message']}")
        return 125
    return int(result.get("StatusCode", 0))


def _resize(client: Any, cid: str, grow: int = 0) -> None:
    from dockyard.cli.terminal import window_size

    size = window_size(1)
    if size:
        try:
            client.post(f"/containers/{cid}/resize", {"h": size[0] + grow, "w": size[1] + grow})
        except (errors.DockyardError, OSError):
            pass  # resizing is best effort, as in docker


def _on_winch(callback: Any) -> Any:
    import signal

    previous = signal.signal(signal.SIGWINCH, lambda *_: callback())
    return lambda: signal.signal(signal.SIGWINCH, previous)


def _forward_signals(session: Session, cid: str) -> Any:
    """Relay our signals to the container (docker's --sig-proxy, no TTY)."""
    import signal

    from dockyard.client.api import APIClient

    def relay(signum: int, _frame: Any) -> None:
        try:
            APIClient(session.client.host).post(
                f"/containers/{cid}/kill", {"signal": signal.Signals(signum).name})
        except (errors.DockyardError, OSError):
            pass

    previous = {}
    for name in PROXIED_SIGNALS:
        signum = getattr(signal, name)
        previous[signum] = signal.signal(signum, relay)
    return lambda: [signal.signal(s, h) for s, h in previous.items()]


def _chain(first: Any, second: Any) -> Any:
    if first is None:
        return second
    return lambda: (first(), second())


def cmd_create(session: Session, argv: list[str]) -> int:
    flags = FlagSet("create", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new container",
                    min_args=1, interspersed=False, aliases=["container create", "create"])
    add_container_flags(flags)
    add_pull_flags(flags)
    opts, body = _parse_config(flags, argv, command="create")
    session.out(create_container(session, body, opts.name, "create", opts.pull, opts.quiet))
    return 0


def cmd_start(session: Session, argv: list[str]) -> int:
    flags = FlagSet("start", "[OPTIONS] CONTAINER [CONTAINER...]",
                    "Start one or more stopped containers", min_args=1,
                    aliases=["container start", "start"])
    flags.bool("attach", "a", "Attach STDOUT/STDERR and forward signals")
    flags.string("detach-keys", None, "Override the key sequence for detaching a container")
    flags.bool("interactive", "i", "Attach container's STDIN")
    opts, names = flags.parse(argv)
    if opts.attach or opts.interactive:
        if len(names) > 1:
            raise StatusError("you cannot start and attach multiple containers at once", 1)
        info = session.client.get(f"/containers/{names[0]}/json")
        config = info.get("Config") or {}
        tty = bool(config.get("Tty"))
        stdin = bool(opts.interactive and config.get("OpenStdin"))
        return attach_and_start(session, info["Id"], tty=tty, stdin=stdin,
                                auto_remove=bool((info.get("HostConfig") or {}).get("AutoRemove")),
                                detach_keys=opts.detach_keys, sig_proxy=not tty,
                                command="start")
    failed = []
    for name in names:
        try:
            session.client.post(f"/containers/{name}/start")
        except errors.NotModified:
            session.out(name)  # already running: docker prints the name too
        except errors.DockyardError as exc:
            session.err(describe(exc))
            failed.append(name)
        else:
            session.out(name)
    if failed:
        raise StatusError(f"Error: failed to start containers: {', '.join(failed)}", 1)
    return 0


def cmd_attach(session: Session, argv: list[str]) -> int:
    flags = FlagSet("attach", "[OPTIONS] CONTAINER",
                    "Attach local standard input, output, and error streams to a running "
                    "container", min_args=1, max_args=1, aliases=["container attach", "attach"])
    flags.string("detach-keys", None, "Override the key sequence for detaching a container")
    flags.bool("no-stdin", None, "Do not attach STDIN")
    flags.bool("sig-proxy", None, "Proxy all received signals to the process", default=True)
    opts, (name,) = flags.parse(argv)
    info = session.client.get(f"/containers/{name}/json")
    state = info.get("State") or {}
    if not state.get("Running"):
        raise StatusError("You cannot attach to a stopped container, start it first", 1)
    if state.get("Paused"):
        raise StatusError("You cannot attach to a paused container, unpause it first", 1)
    if state.get("Restarting"):
        raise StatusError("You cannot attach to a restarting container, wait until it is "
                          "running", 1)
    config = info.get("Config") or {}
    tty = bool(config.get("Tty"))
    stdin = bool(config.get("OpenStdin")) and not opts.no_stdin
    if tty and not opts.no_stdin and not os.isatty(0):
        raise StatusError("the input device is not a TTY", 1)
    return attach_and_start(session, info["Id"], tty=tty, stdin=stdin, auto_remove=False,
                            detach_keys=opts.detach_keys, sig_proxy=opts.sig_proxy and not tty,
                            command="attach", start=False, report_detach=True)
