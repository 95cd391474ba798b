"""The build context: the files a build may COPY, travelling as one tar stream.

    CLI                                                     daemon
    PATH ──prepare_context()──▶ BuildContext ──POST /build──▶ extract_context()
    -f FILE | -f -                (tar stream,                (safe extraction
    - (tar or Dockerfile on stdin) Dockerfile name)            into a directory)

The client side follows docker's CLI (``cli/command/image/build``):

* A directory context is walked once, in lexical order, leaving out what
  its ``.dockerignore`` excludes (skipping excluded directories whole when
  no exception reaches into them), and every file is checked readable
  before a byte is sent: docker's "checking context" pass.  The Dockerfile
  and ``.dockerignore`` are sent even when excluded: the daemon needs them
  (and drops them from the context if they are excluded).
* Entries are written as moby's archive package writes them, owned by 0:0
  (docker's ChownOpts), with their modes and mtimes; symlinks stay
  symlinks, a second name of an inode becomes a hard link.  The stream is
  produced as it is read, file by file, so a large context is never held in
  memory.
* ``-f`` names a path relative to the current directory.  Inside the
  context, its relative path is the ``dockerfile`` query value.  Outside
  it, or ``-f -`` (stdin), its bytes are added to the tar under a random
  name ``.dockerfile.<20 hex>`` that is also appended to the context's
  ``.dockerignore`` (one is created if missing), so that COPY cannot see
  it: docker's AddDockerfileToBuildContext.
* ``-`` as the context reads stdin: a tar (plain or compressed) is passed on
  as it is; anything else is taken as a Dockerfile and sent as a one-file
  context.

Errors carry docker's words ("unable to prepare context: path "x" not
found") in dockyard's kinds.

The daemon side, `extract_context`, unpacks a (possibly compressed) context
tar with the same safe extractor as ``docker cp`` (`archive.copy_in`): no
entry is written outside the destination (names are rooted there, ``..``
that climbs out is refused, symlinks in parent paths resolve as if the
destination were ``/``), hard links must name an earlier entry, owners,
modes and mtimes come from the tar; device nodes and fifos are recreated, as
moby's extraction does.  An empty body is an empty context, as in moby; a
body that is not a tar is InvalidArgument.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
import time
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator, cast

from dockyard.archive.tarstream import TarWriter
from dockyard.build.dockerignore import PatternMatcher, parse_dockerignore
from dockyard.errors import DockyardError, Forbidden, InvalidArgument, NotFound

# dockyard.snapshots.apply (compression, the daemon's extraction) is imported
# where it is used: loading the snapshots package would double the time
# `dockyard build` takes to start.

DEFAULT_DOCKERFILE = "Dockerfile"
DOCKERIGNORE = ".dockerignore"
STDIN = "-"
# docker's CLI looks at this much of stdin to tell a tar from a Dockerfile.
_SNIFF_SIZE = 1024
_READ_SIZE = 1 << 16
_REMOTE_PREFIXES = ("http://", "https://", "git://", "git@", "github.com/")


@dataclass(frozen=True, slots=True)
class BuildContext:
    """What the CLI sends: a readable tar stream and the Dockerfile's name in it.

    `dockerfile` is "" when the daemon's default ("Dockerfile") applies.
    `stream` is read once, front to back; `close` releases what it holds.
    """

    stream: BinaryIO
    dockerfile: str = ""

    def close(self) -> None:
        self.stream.close()


def prepare_context(path: str, dockerfile: str = "", stdin: BinaryIO | None = None) -> BuildContext:
    """Resolve ``docker build [-f DOCKERFILE] PATH|-`` into the context to send."""
    if path == STDIN:
        if dockerfile == STDIN:
            raise InvalidArgument(
                "invalid argument: can't use stdin for both build context and dockerfile")
        return context_from_reader(_require(stdin), dockerfile)
    try:
        os.stat(path)
    except OSError:
        if path.startswith(_REMOTE_PREFIXES):
            raise InvalidArgument("unable to prepare context: remote build contexts (URLs and git "
                                  "repositories) are not supported") from None
        raise NotFound(f'unable to prepare context: path "{path}" not found') from None
    try:
        context_dir = _resolve_context_dir(path)
        if dockerfile and dockerfile != STDIN:
            dockerfile = os.path.abspath(dockerfile)
        rel = _dockerfile_rel_path(context_dir, dockerfile)
    except DockyardError as exc:
        raise type(exc)(f"unable to prepare context: {exc.message}") from None
    if dockerfile == STDIN:
        return context_from_directory(context_dir, rel, _require(stdin).read())
    if rel.startswith("../"):
        outside = os.path.normpath(os.path.join(context_dir, rel))
        return context_from_directory(context_dir, rel, _read_dockerfile(outside))
    return context_from_directory(context_dir, rel)


def _require(stdin: BinaryIO | None) -> BinaryIO:
    if stdin is None:
        raise InvalidArgument("no standard input to read the build context from")
    return stdin


def _read_dockerfile(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise InvalidArgument(f"unable to open Dockerfile: {_go_error('open', path, exc)}") from None


# -- the context directory and the Dockerfile in it ------------------------------

def _resolve_context_dir(path: str) -> str:
    """The context's absolute, symlink-free path; it must be a directory."""
    try:
        resolved = os.path.realpath(os.path.abspath(path), strict=True)
    except OSError as exc:
        raise NotFound("unable to evaluate symlinks in context path: "
                       f"{_go_error('lstat', exc.filename or path, exc)}") from None
    if not os.path.isdir(resolved):
        raise InvalidArgument(f"context must be a directory: {resolved}")
    return resolved


def _dockerfile_rel_path(context_dir: str, given: str) -> str:
    """The Dockerfile's path relative to the context ("../x" when outside it).

    With no ``-f``, ``Dockerfile`` is used, or ``dockerfile`` when only
    that exists.  ``-f -`` is "-": the Dockerfile comes from stdin.
    """
    if given == STDIN:
        return STDIN
    if not given:
        given = os.path.join(context_dir, DEFAULT_DOCKERFILE)
        lowercase = os.path.join(context_dir, DEFAULT_DOCKERFILE.lower())
        if not os.path.lexists(given) and os.path.lexists(lowercase):
            given = lowercase
    absolute = os.path.join(context_dir, given)
    try:
        absolute = os.path.realpath(absolute, strict=True)
    except OSError as exc:
        raise NotFound("unable to evaluate symlinks in Dockerfile path: "
                       f"{_go_error('lstat', exc.filename or absolute, exc)}") from None
    return os.path.relpath(absolute, context_dir)


def _go_error(op: str, path: str, exc: OSError) -> str:
    """An OSError as Go words it: "lstat /x: no such file or directory"."""
    return f"{op} {path}: {(exc.strerror or str(exc)).lower()}"


# -- a directory, as a tar stream -------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Entry:
    name: str          # relative to the context, "/"-separated
    host_path: str
    st: os.stat_result


@dataclass(frozen=True, slots=True)
class _ContextPlan:
    """Everything decided before the first byte is sent."""

    entries: list[_Entry]
    # -f outside the context or from stdin: (random name, Dockerfile bytes)
    added_dockerfile: tuple[str, bytes] | None = None
    # the .dockerignore text to send in place of the file's (or as a new file)
    dockerignore: bytes | None = None
    now: int = field(default_factory=lambda: int(time.time()))


def context_from_directory(context_dir: str, dockerfile: str = DEFAULT_DOCKERFILE,
                           dockerfile_source: bytes | None = None) -> BuildContext:
    """The context tar of `context_dir` (absolute, resolved).

    `dockerfile` is the Dockerfile's path relative to the directory; with
    `dockerfile_source` (a Dockerfile from stdin or from outside the
    context) those bytes are sent under a random name instead, and that
    name is the returned `dockerfile`.
    """
    ignore_text = _read_dockerignore(context_dir)
    try:
        matcher = PatternMatcher.compile(parse_dockerignore(ignore_text or b""))
        if matcher.matches(DOCKERIGNORE):
            matcher = matcher.keeping(DOCKERIGNORE)
        if dockerfile_source is None and matcher.matches(dockerfile):
            matcher = matcher.keeping(dockerfile)
    except InvalidArgument as exc:
        raise InvalidArgument(f"checking context: {exc.message}") from None
    entries = list(_walk(context_dir, matcher))
    if dockerfile_source is None:
        plan = _ContextPlan(entries)
    else:
        dockerfile = ".dockerfile." + os.urandom(10).hex()
        # docker appends the name to .dockerignore, or writes one that
        # ignores itself too, so that COPY never sees the Dockerfile.
        base = ignore_text if ignore_text is not None else DOCKERIGNORE.encode()
        plan = _ContextPlan(entries, (dockerfile, dockerfile_source),
                            base + b"\n" + dockerfile.encode() + b"\n")
    return BuildContext(ChunkReader(_tar_stream(plan)), dockerfile)


def _read_dockerignore(context_dir: str) -> bytes | None:
    """The ``.dockerignore`` file's bytes; None when there is none."""
    path = os.path.join(context_dir, DOCKERIGNORE)
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InvalidArgument(f"error reading .dockerignore: {_go_error('open', path, exc)}") from None


def _walk(context_dir: str, matcher: PatternMatcher, rel_dir: str = "") -> Iterator[_Entry]:
    """The entries to send below `rel_dir`, depth first in lexical order (Go's Walk).

    A directory that is excluded is not sent, but its contents still are
    when an exception may re-include some of them.
    """
    host_dir = os.path.join(context_dir, rel_dir)
    try:
        names = sorted(os.listdir(host_dir))
    except PermissionError:
        raise Forbidden(f"checking context: can't stat '{host_dir}'") from None
    except (FileNotFoundError, NotADirectoryError):
        return  # replaced while we walk
    for name in names:
        rel = f"{rel_dir}{name}"
        host = os.path.join(host_dir, name)
        try:
            st = os.lstat(host)
        except FileNotFoundError:
            continue  # removed while we walk: as if never there
        excluded = matcher.matches(rel)
        if not excluded:
            _check_readable(host, st)
            yield _Entry(rel, host, st)
        if stat.S_ISDIR(st.st_mode) and not (excluded and matcher.can_skip_dir(rel)):
            yield from _walk(context_dir, matcher, rel + "/")


def _check_readable(host: str, st: os.stat_result) -> None:
    """docker refuses to start sending a context with a file it cannot read."""
    if stat.S_ISREG(st.st_mode) and not os.access(host, os.R_OK):
        raise Forbidden(f"checking context: no permission to read from '{host}'")


def _tar_stream(plan: _ContextPlan) -> Iterator[bytes]:
    writer = TarWriter()
    ignore_written = False
    for entry in plan.entries:
        owned = cast(os.stat_result, _OwnedByRoot(entry.st))
        if entry.name == DOCKERIGNORE and plan.dockerignore is not None and stat.S_ISREG(entry.st.st_mode):
            yield _file_member(DOCKERIGNORE, plan.dockerignore, stat.S_IMODE(entry.st.st_mode),
                               int(entry.st.st_mtime))
            ignore_written = True
        else:
            ignore_written = ignore_written or entry.name == DOCKERIGNORE
            yield from writer.add(entry.host_path, entry.name, owned)
    if plan.dockerignore is not None and not ignore_written:
        yield _file_member(DOCKERIGNORE, plan.dockerignore, 0o600, plan.now)
    if plan.added_dockerfile is not None:
        name, data = plan.added_dockerfile
        yield _file_member(name, data, 0o600, plan.now)
    yield TarWriter.end()


class _OwnedByRoot:
    """An lstat result that says uid 0, gid 0: the owner docker's CLI puts on
    every context entry (ChownOpts 0:0), whoever owns the files locally."""

    __slots__ = ("_st",)
    st_uid = 0
    st_gid = 0

    def __init__(self, st: os.stat_result):
        self._st = st

    def __getattr__(self, name: str) -> object:
        return getattr(self._st, name)


def _file_member(name: str, data: bytes, mode: int, mtime: int) -> bytes:
    """A regular file member, owned by 0:0, with its body and padding."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, mtime
    info.uname = info.gname = ""
    padding = -len(data) % tarfile.BLOCKSIZE
    return TarWriter.header_bytes(info) + data + b"\0" * padding


class ChunkReader(io.RawIOBase):
    """A read-once binary file over an iterator of byte chunks.

    The HTTP client sends any object with ``read``; this one pulls the next
    chunk only when the last is used up, so the tar is made as it is sent.
    """

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()  # a generator: finishes its open files now
        super().close()


# -- stdin ------------------------------------------------------------------------

def context_from_reader(reader: BinaryIO, dockerfile: str = "") -> BuildContext:
    """``docker build -``: a tar on `reader` is sent as is; a Dockerfile is wrapped.

    A tar is recognised by a compression magic or a valid first tar header
    in the first 1024 bytes, as docker's CLI does.
    """
    head = _read_up_to(reader, _SNIFF_SIZE)
    if _is_archive(head):
        rest = iter(lambda: reader.read(_READ_SIZE), b"")
        return BuildContext(ChunkReader(_prepend(head, rest)), dockerfile)
    if dockerfile == STDIN:
        raise InvalidArgument("unable to prepare context from STDIN: build context is not an archive")
    if dockerfile:
        raise InvalidArgument("unable to prepare context from STDIN: ambiguous Dockerfile source: "
                              "both stdin and flag correspond to Dockerfiles")
    data = head + reader.read()
    member = _file_member(DEFAULT_DOCKERFILE, data, 0o644, int(time.time()))
    return BuildContext(io.BytesIO(member + TarWriter.end()), DEFAULT_DOCKERFILE)


def _read_up_to(reader: BinaryIO, size: int) -> bytes:
    parts, got = [], 0
    while got < size:
        data = reader.read(size - got)
        if not data:
            break
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def _prepend(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if head:
        yield head
    yield from rest


def _is_archive(head: bytes) -> bool:
    from dockyard.snapshots.apply import Compression, detect_compression

    if detect_compression(head) is not Compression.NONE:
        return True
    try:
        tarfile.TarInfo.frombuf(head[:tarfile.BLOCKSIZE], "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


# -- the daemon side ----------------------------------------------------------------

def extract_context(stream: BinaryIO, dest_dir: str) -> None:
    """Unpack the context tar read from `stream` into the existing directory `dest_dir`.

    Plain, gzip, bzip2 and xz tars are accepted.  An empty body is an empty
    context (moby accepts it too; the missing Dockerfile is reported
    next).  A tar that stops right after its last member's data, as
    docker's CLI sends with ``-f`` outside the context, is accepted as
    Go's tar reader accepts it (see `_CompletedTar`).  Anything
    that is not a tar, or a tar that would write outside `dest_dir`, raises
    InvalidArgument ("invalid build context: …").
    """
    from dockyard.archive.copy_in import extract_into
    from dockyard.snapshots.apply import RawAdapter, decompressed

    buffered = stream if isinstance(stream, io.BufferedReader) else \
        io.BufferedReader(RawAdapter(stream), _READ_SIZE)
    if not buffered.peek(1):
        return
    try:
        plain, _ = decompressed(buffered)
        completed = io.BufferedReader(_CompletedTar(plain), _READ_SIZE)
        extract_into(dest_dir, "/", cast(BinaryIO, completed))
    except InvalidArgument as exc:
        raise InvalidArgument(f"invalid build context: {exc.message}") from None


# Entry types whose size field does not announce data (Go's isHeaderOnlyType).
_HEADER_ONLY = frozenset((tarfile.LNKTYPE, tarfile.SYMTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE,
                          tarfile.DIRTYPE, tarfile.FIFOTYPE))
_ZERO_BLOCK = bytes(tarfile.BLOCKSIZE)


class _CompletedTar(io.RawIOBase):
    """A tar stream whose missing ending is supplied, where Go's reader would not miss it.

    docker's CLI sends a context whose Dockerfile comes from outside it
    (``-f ../Dockerfile``, ``-f -``) without the last member's padding and
    without the two zero blocks that end an archive (its tar rewriting stops
    short).  Go's tar reader takes a stream that ends right after a member's
    data or at a header boundary as the archive's end; Python's tarfile
    calls it truncated.  So the stream's structure is followed as it passes
    (header, data, padding) and, at its end, the padding and end blocks are
    added only when it stopped at one of those two places.  A stream cut
    anywhere else (inside a header, the data or the padding) is passed on
    as it is, for tarfile to refuse.
    """

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self._header = bytearray()  # the header block being read
        self._data_left = 0         # of the current member
        self._pad_left = 0
        self._pad_whole = True      # no padding byte of the current member read yet
        self._settled = False       # an end block seen, or not a tar: nothing to add
        self._ending: memoryview | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self._ending is None:
            data = self._stream.read(len(buffer))
            if data:
                self._follow(memoryview(data))
                buffer[:len(data)] = data
                return len(data)
            self._ending = memoryview(self._missing_ending())
        n = min(len(buffer), len(self._ending))
        buffer[:n] = self._ending[:n]
        self._ending = self._ending[n:]
        return n

    def _follow(self, view: memoryview) -> None:
        while view and not self._settled:
            if self._data_left:
                n = min(self._data_left, len(view))
                self._data_left -= n
            elif self._pad_left:
                n = min(self._pad_left, len(view))
                self._pad_left -= n
                self._pad_whole = False
            else:
                n = min(tarfile.BLOCKSIZE - len(self._header), len(view))
                self._header += view[:n]
                if len(self._header) == tarfile.BLOCKSIZE:
                    self._member(bytes(self._header))
                    self._header.clear()
            view = view[n:]

    def _member(self, block: bytes) -> None:
        if block == _ZERO_BLOCK:
            self._settled = True  # the archive's end is there
            return
        try:
            info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        except tarfile.HeaderError:
            self._settled = True  # not ours to mend: tarfile will say what is wrong
            return
        size = 0 if info.type in _HEADER_ONLY else info.size
        self._data_left, self._pad_left = size, -size % tarfile.BLOCKSIZE
        self._pad_whole = True

    def _missing_ending(self) -> bytes:
        if self._settled or self._header or self._data_left or not self._pad_whole:
            return b""
        return bytes(self._pad_left + 2 * tarfile.BLOCKSIZE)
