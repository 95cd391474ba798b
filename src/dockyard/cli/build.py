"""``build`` (also ``image build`` and ``builder build``): docker's classic builder client.

    flags ──build_params()──▶ the POST /build query        (pure)
    PATH | - ──prepare_context()──▶ the body: a tar made while it is sent
    the response ──follow()──▶ a display (plain, tty, quiet) ──▶ the image ID

The request is the docker CLI's (28.x), parameter for parameter, and like
it sends only what differs from the daemon's defaults: ``t`` repeated,
``dockerfile``, ``buildargs`` and ``labels`` as JSON objects when not
empty (a ``--build-arg K`` whose K is not in the environment is ``null``,
which lets the Dockerfile's default apply), ``rm=0`` only for
``--rm=false``, ``networkmode`` unless ``default``, always ``version=1``
(the classic builder).  The body is ``application/x-tar``, sent chunked.

Outcome, as docker's CLI: errors before the build starts are HTTP errors
("Error response from daemon: …", exit 1); a build that fails prints the
daemon's message on stderr and exits with its code (a RUN that exits 3
makes ``build`` exit 3), 1 when there is none.  ``-q`` prints only the
image ID, or, on failure, everything the build printed.
"""

from __future__ import annotations

import os
import sys

from dockyard.cli.flags import FlagSet, key_value_map
from dockyard.cli.session import Session, StatusError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Callable, Iterator, Mapping

    from dockyard.cli.build_display import Display
    from dockyard.cli.flags import Options

PROGRESS_MODES = ("auto", "plain", "tty")
_UPLOAD_BLOCK = 1 << 16


def build_flags(command: str = "build") -> FlagSet:
    flags = FlagSet(command, "[OPTIONS] PATH | -", "Build an image from a Dockerfile",
                    min_args=1, max_args=1,
                    aliases=["image build", "build", "builder build"])
    flags.list("tag", "t", 'Name and optionally a tag in the "name:tag" format',
               convert=_valid_tag)
    flags.string("file", "f", 'Name of the Dockerfile (Default is "PATH/Dockerfile")')
    flags.list("build-arg", None, "Set build-time variables", convert=_valid_build_arg)
    flags.string("target", None, "Set the target build stage to build.")
    flags.bool("no-cache", None, "Do not use cache when building the image")
    flags.bool("pull", None, "Always attempt to pull a newer version of the image")
    flags.list("label", None, "Set metadata for an image", convert=_valid_label)
    flags.bool("quiet", "q", "Suppress the build output and print image ID on success")
    flags.string("iidfile", None, "Write the image ID to the file")
    flags.string("progress", None, "Set type of progress output (auto, plain, tty)",
                 default="auto", convert=_valid_progress)
    flags.string("network", None, "Set the networking mode for the RUN instructions "
                 "during build", default="default")
    flags.string("platform", None, "Set platform if server is multi-platform capable",
                 default=os.environ.get("DOCKER_DEFAULT_PLATFORM", ""))
    flags.bool("rm", None, "Remove intermediate containers after a successful build",
               default=True)
    flags.bool("force-rm", None, "Always remove intermediate containers")
    flags.bool("compress", None, "Compress the build context using gzip")
    flags.string("memory", "m", "Memory limit", type_name="bytes", convert=_bytes)
    flags.string("memory-swap", None, "Swap limit equal to memory plus swap: -1 to enable "
                 "unlimited swap", type_name="bytes", convert=_swap_bytes)
    flags.string("shm-size", None, 'Size of "/dev/shm"', type_name="bytes", convert=_bytes)
    flags.int("cpu-shares", "c", "CPU shares (relative weight)")
    flags.int("cpu-period", None, "Limit the CPU CFS (Completely Fair Scheduler) period")
    flags.int("cpu-quota", None, "Limit the CPU CFS (Completely Fair Scheduler) quota")
    flags.string("cpuset-cpus", None, "CPUs in which to allow execution (0-3, 0,1)")
    flags.bool("disable-content-trust", None, "Skip image verification (deprecated)",
               default=True, hidden=True)
    return flags


# -- flag values, validated as docker's opts validate them -----------------------------

def _valid_tag(text: str) -> str:
    from dockyard.errors import InvalidArgument
    from dockyard.images.reference import parse_reference

    try:
        parse_reference(text)
    except InvalidArgument as exc:
        raise ValueError(exc.message) from None
    return text


def _valid_build_arg(text: str) -> str:
    if not text.partition("=")[0]:
        raise ValueError(f"invalid environment variable: {text}")
    return text


def _valid_label(text: str) -> str:
    key = text.partition("=")[0].strip()
    if not key:
        raise ValueError(f"invalid label '{text}': empty name")
    if any(c in key for c in " \t"):
        raise ValueError(f"label '{key}' contains whitespaces")
    return text


def _valid_progress(text: str) -> str:
    if text not in PROGRESS_MODES:
        raise ValueError(f"must be one of {', '.join(PROGRESS_MODES)}")
    return text


def _bytes(text: str) -> int:
    from dockyard.cli.units import ram_in_bytes

    return ram_in_bytes(text)


def _swap_bytes(text: str) -> int:
    from dockyard.cli.units import mem_swap_bytes

    return mem_swap_bytes(text)


# -- the request --------------------------------------------------------------------

def build_args(values: list[str], environ: Mapping[str, str]) -> dict[str, str | None]:
    """``--build-arg`` values → docker's map: ``K=V``; ``K`` takes K's value
    from the environment, or is null when K is not set there."""
    args: dict[str, str | None] = {}
    for value in values:
        key, eq, val = value.partition("=")
        args[key] = val if eq else environ.get(key)
    return args


def build_params(opts: Options, dockerfile: str = "",
                 environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``POST /build`` query for these flags (encode_query drops None and False)."""
    import json

    def as_json(value: dict[str, Any]) -> str:
        return json.dumps(value, separators=(",", ":"), sort_keys=True)  # Go's json.Marshal

    args = build_args(opts.build_arg, os.environ if environ is None else environ)
    return {
        "t": list(opts.tag),
        "dockerfile": dockerfile or None,
        "buildargs": as_json(args) if args else None,
        "labels": as_json(key_value_map(opts.label)) if opts.label else None,
        "target": opts.target or None,
        "nocache": opts.no_cache,
        "pull": opts.pull,
        "q": opts.quiet,
        "rm": None if opts.rm else "0",
        "forcerm": opts.force_rm,
        "networkmode": opts.network if opts.network != "default" else None,
        "platform": opts.platform.lower() or None,
        "memory": opts.memory or None,
        "memswap": opts.memory_swap or None,
        "shmsize": opts.shm_size or None,
        "cpushares": opts.cpu_shares or None,
        "cpuperiod": opts.cpu_period or None,
        "cpuquota": opts.cpu_quota or None,
        "cpusetcpus": opts.cpuset_cpus or None,
        "version": "1",
    }


# -- the command ----------------------------------------------------------------------

def cmd_build(session: Session, argv: list[str], command: str = "build") -> int:
    from dockyard import errors
    from dockyard.build.context import prepare_context
    from dockyard.cli.build_display import BuildFailed, QuietDisplay, follow

    opts, (path,) = build_flags(command).parse(argv)
    params = build_params(opts)
    _remove_stale(opts.iidfile)
    context = prepare_context(path, opts.file or "", sys.stdin.buffer)
    params["dockerfile"] = context.dockerfile or None
    display = make_display(session, "quiet" if opts.quiet else opts.progress)
    body = UploadMeter(_gzipped(context.stream) if opts.compress else context.stream,
                       display.context_sent)
    try:
        image_id = follow(session.client.stream_json(
            "POST", "/build", params, body, {"Content-Type": "application/x-tar"}), display)
    except BuildFailed as exc:
        if isinstance(display, QuietDisplay):
            session.stderr.write(display.progress + display.output)
        raise StatusError(exc.message, exc.code) from None
    except errors.DockyardError:
        if isinstance(display, QuietDisplay):
            session.stderr.write(display.progress)
        raise
    finally:
        context.close()
    if isinstance(display, QuietDisplay):
        session.out(image_id or display.output.strip())
    if opts.iidfile:
        _write_iidfile(opts.iidfile, image_id)
    return 0


def cmd_image_build(session: Session, argv: list[str]) -> int:
    return cmd_build(session, argv, "image build")


def cmd_builder_build(session: Session, argv: list[str]) -> int:
    return cmd_build(session, argv, "builder build")


def make_display(session: Session, mode: str) -> Display:
    """quiet, plain, tty, or auto: tty when stdout is a terminal."""
    from dockyard.cli.build_display import PlainDisplay, QuietDisplay, TtyDisplay

    out = session.stdout
    if mode == "quiet":
        return QuietDisplay()
    if mode == "auto":
        mode = "tty" if getattr(out, "isatty", lambda: False)() else "plain"
    if mode == "plain":
        return PlainDisplay(out)
    try:
        width = os.get_terminal_size(out.fileno()).columns
    except (AttributeError, OSError, ValueError):
        width = 0  # TtyDisplay's default
    return TtyDisplay(out, width, color=not os.environ.get("NO_COLOR"))


class UploadMeter:
    """The request body: passes the context through, telling how much has gone.

    `report(size, done)` is called after every read; `done` on the empty
    read that ends the body.  (No ``fileno``: the client sends it chunked.)
    """

    def __init__(self, stream: BinaryIO, report: Callable[[int, bool], None]):
        self._stream = stream
        self._report = report
        self.size = 0

    def read(self, n: int = _UPLOAD_BLOCK) -> bytes:
        data = self._stream.read(n)
        self.size += len(data)
        self._report(self.size, not data)
        return data


def _gzipped(stream: BinaryIO) -> BinaryIO:
    """``--compress``: the context gzipped as it is read."""
    import zlib

    from dockyard.build.context import ChunkReader

    def chunks() -> Iterator[bytes]:
        compressor = zlib.compressobj(wbits=31)  # 31: the gzip container
        while data := stream.read(_UPLOAD_BLOCK):
            if out := compressor.compress(data):
                yield out
        yield compressor.flush()

    return ChunkReader(chunks())  # type: ignore[return-value]


def _remove_stale(iidfile: str) -> None:
    """docker removes an old --iidfile first, so a failed build leaves none."""
    if not iidfile:
        return
    try:
        os.remove(iidfile)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise StatusError(f"removing image ID file: {exc.strerror or exc}", 1) from None


def _write_iidfile(iidfile: str, image_id: str) -> None:
    if not image_id:
        raise StatusError(f"server did not provide an image ID. Cannot write {iidfile}", 1)
    try:
        with open(iidfile, "w") as f:
            f.write(image_id)
    except OSError as exc:
        raise StatusError(f"open {iidfile}: {(exc.strerror or str(exc)).lower()}", 1) from None
