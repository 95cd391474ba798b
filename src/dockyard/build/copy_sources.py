"""What a COPY or ADD reads: its sources, resolved on the host.

Vocabulary.  A *source root* is a host directory standing for ``/`` of
where the files come from: the extracted build context, or the mounted root
filesystem of another stage or image (``COPY --from``).  A *pattern* is a
source as written in the Dockerfile, after variable expansion.  A
:class:`Source` is one thing to copy: a path under a source root, a heredoc
(``COPY <<EOF``) or a downloaded URL (``ADD https://…``).

Resolution follows docker's classic builder (``copier.calcCopyInfo``):

- A leading ``/`` or ``./`` is dropped and the path is cleaned, so
  ``/app/``, ``./app`` and ``app`` name the same thing.  A path whose
  ``..`` climbs above the root is refused: ``forbidden path outside the
  build context: ../x ()``.
- Symlinks are followed *inside* the root, the way the kernel would after
  chroot (``secure_join``): ``/usr/bin/vi -> /etc/alternatives/vi`` in a
  stage resolves to that stage's ``/etc/alternatives/vi``, and
  ``link -> ../../..`` stops at the root.  Nothing outside the root is ever
  read.  The named source is followed, but its *name* stays the link's (a
  file ``link`` copied into ``/app/`` is ``/app/link``).
- Wildcards (``*``, ``?``, ``[…]``, ``\\`` escapes: Go's ``filepath.Match``)
  match one path component each, so ``*/x.txt`` matches ``a/x.txt`` but
  ``*`` never crosses a ``/``.  Matches come in lexical order; a directory
  is descended only when it is a real directory, as Go's walk does.
  Patterns that match nothing are dropped; when nothing at all is left the
  error is ``no source files were specified``.
- A missing source is ``NotFound``: ``file not found in build context or
  excluded by .dockerignore: stat x: file does not exist`` (for a stage,
  just ``stat x: file does not exist``).

Inside a directory source nothing is followed: :func:`walk_source` yields
symlinks as symlinks.
"""

from __future__ import annotations

import enum
import hashlib
import os
import posixpath
import re
import stat
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value, parsedate_to_datetime
from typing import Callable, Iterable, Iterator

from dockyard.build.instructions import InlineFile
from dockyard.content.digest import Digest
from dockyard.errors import InvalidArgument, NotFound, Unavailable
from dockyard.runtime.paths_in_root import secure_join

UNNAMED = "__unnamed__"  # docker's name for a download whose URL names no file
INLINE_MODE = 0o644
URL_MODE = 0o600

# A predicate on a path relative to a directory source ("sub/file"): True
# leaves the entry (and, for a directory, all below it) out.
Exclude = Callable[[str], bool]


class Origin(enum.Enum):
    """Where a source comes from; it decides ownership and error wording."""

    CONTEXT = "context"  # the build context: files land owned by 0:0
    STAGE = "stage"      # another stage or an image (--from): ownership is kept
    INLINE = "inline"    # a heredoc: 0644, owned by 0:0
    URL = "url"          # a download: 0600, owned by 0:0, never unpacked by default


@dataclass(frozen=True, slots=True)
class Source:
    """One thing to copy.

    ``name`` is how docker names it: the cleaned path relative to the source
    root (``"sub/app.py"``, ``"."`` for the root itself), the heredoc's name,
    or the download's file name; its last component is the file name a copy
    into a directory gets.  ``path`` is the host path with every symlink
    resolved inside the root (``""`` for a heredoc); ``data`` a heredoc's
    bytes.
    """

    name: str
    origin: Origin
    path: str = ""
    data: bytes | None = None
    is_dir: bool = False

    def __post_init__(self) -> None:
        if (self.origin is Origin.INLINE) != (self.data is not None):
            raise ValueError("a heredoc source carries data, and only a heredoc does")
        if self.origin is not Origin.INLINE and not self.path:
            raise ValueError(f"source {self.name!r} needs a host path")

    @property
    def base(self) -> str:
        """The file name a copy into a directory gets."""
        return posixpath.basename(self.name.rstrip("/")) or self.name

    @classmethod
    def inline(cls, name: str, data: bytes | str) -> "Source":
        """A heredoc source; ``data`` is the text after variable expansion."""
        return cls(name, Origin.INLINE, data=data.encode() if isinstance(data, str) else data)



def inline_source(doc: InlineFile, text: str | None = None) -> Source:
    """A ``COPY <<EOF`` source; ``text`` replaces ``doc.data`` once the
    executor has expanded variables in it (when ``doc.expand``)."""
    return Source.inline(doc.name, doc.data if text is None else text)


# ---------------------------------------------------------------------------
# local sources

def resolve_sources(src_root: str, patterns: Iterable[str], *, origin: Origin = Origin.CONTEXT,
                    kind: str = "COPY", allow_wildcards: bool = True) -> list[Source]:
    """Resolve every pattern under ``src_root``, wildcards expanded, in order.

    ``origin`` is CONTEXT, or STAGE for ``--from``.  Raises
    ``InvalidArgument`` for a path leaving the root, for a URL (``source
    can't be a URL for COPY``; ADD's go to :func:`fetch_url`) or when nothing
    matched, ``NotFound`` for a missing source.  An empty ``patterns`` gives
    ``[]`` (a COPY of heredocs only).
    """
    if origin not in (Origin.CONTEXT, Origin.STAGE):
        raise ValueError(f"{origin} sources are not resolved from a root")
    root = os.path.abspath(src_root)
    patterns = list(patterns)
    out: list[Source] = []
    for pattern in patterns:
        if is_url(pattern):
            if kind == "COPY":
                raise InvalidArgument("source can't be a URL for COPY")
            raise ValueError(f"{pattern}: download URLs with fetch_url")
        rel = _relative(pattern)
        if allow_wildcards and has_wildcards(rel):
            out.extend(_resolve(root, match, origin) for match in _expand(root, rel))
        else:
            out.append(_resolve(root, rel, origin))
    if patterns and not out:
        raise InvalidArgument("no source files were specified")
    return out


def _relative(pattern: str) -> str:
    """The pattern as a clean path relative to the root; an escape is refused."""
    # docker trims one leading "/" and one "./", then lets Join clean the rest
    trimmed = pattern[1:] if pattern.startswith("/") else pattern
    trimmed = trimmed[2:] if trimmed.startswith("./") else trimmed
    clean = posixpath.normpath(trimmed or ".").lstrip("/") or "."
    if clean == ".." or clean.startswith("../"):
        raise InvalidArgument(f"forbidden path outside the build context: {trimmed} ()")
    return clean


def _resolve(root: str, rel: str, origin: Origin) -> Source:
    if origin is Origin.CONTEXT:
        link = leaving_link(root, rel)
        if link is not None:
            raise InvalidArgument(f"forbidden path outside the build context: {rel} "
                                  f"(symlink {link[0]} -> {link[1]})")
    try:
        host = secure_join(root, rel)
        st = os.stat(host)
    except OSError:  # missing, a file on the way, a symlink loop
        missing = f"stat {rel}: file does not exist"
        if origin is Origin.CONTEXT:
            raise NotFound(f"file not found in build context or excluded by .dockerignore: {missing}") from None
        raise NotFound(missing) from None
    return Source(rel, origin, host, is_dir=stat.S_ISDIR(st.st_mode))


def leaving_link(root: str, rel: str) -> tuple[str, str] | None:
    """The symlink (path, target) on the way to ``rel`` that points out of
    ``root``, if any.  A build context is the user's directory: a link in it
    to ``/etc`` or ``../..`` means a file outside, and sending the build
    elsewhere (docker clamps it into the context) would hide the mistake,
    so the context refuses it.  Images (``--from``) are full of absolute
    links meant for their own root and are resolved inside it instead."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    current: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if not current:
                return posixpath.join(*rel.split("/")), ".."
            current.pop()
            continue
        candidate = os.path.join(root, *current, part)
        if not os.path.islink(candidate):
            current.append(part)
            continue
        hops += 1
        if hops > 40:
            return None  # a loop: stat reports it as missing
        target = os.readlink(candidate)
        shown = "/".join(current + [part])
        if target.startswith("/"):
            return shown, target
        resolved = posixpath.normpath(posixpath.join(*current, target) if current else target)
        if resolved == ".." or resolved.startswith("../"):
            return shown, target
        parts = [p for p in resolved.split("/") if p not in ("", ".")] + parts
        current = []
    return None


def has_wildcards(pattern: str) -> bool:
    """Whether ``pattern`` uses ``*``, ``?`` or ``[`` unescaped (docker's containsWildcards)."""
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] in "*?[":
            return True
        i += 1
    return False


def _expand(root: str, rel: str) -> list[str]:
    """The paths under ``root`` that ``rel`` matches, one component at a time."""
    parts = rel.split("/")
    first = next(i for i, part in enumerate(parts) if has_wildcards(part))
    prefix, rest = parts[:first], [_compile(part) for part in parts[first:]]
    matches: list[str] = []

    def descend(host_dir: str, names: list[str], depth: int) -> None:
        try:
            entries = sorted(os.listdir(host_dir))
        except OSError:
            return
        for entry in entries:
            if not rest[depth].fullmatch(entry):
                continue
            if depth == len(rest) - 1:
                matches.append("/".join(prefix + names + [entry]))
            else:
                child = os.path.join(host_dir, entry)
                if stat.S_ISDIR(os.lstat(child).st_mode):
                    descend(child, names + [entry], depth + 1)

    # the literal prefix is followed like any named path, symlinks included
    try:
        base = secure_join(root, "/".join(prefix))
    except OSError:
        return []
    descend(base, [], 0)
    return matches


_NEVER = re.compile(r"(?!)")


def _compile(pattern: str) -> re.Pattern[str]:
    """Go's ``filepath.Match`` syntax for one component, as a regex.

    A malformed pattern (an unclosed ``[``, a trailing ``\\``, ``[]``)
    matches nothing, as docker ignores Match's ErrBadPattern.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    try:
        while i < n:
            c = pattern[i]
            if c == "*":
                out.append("[^/]*")
            elif c == "?":
                out.append("[^/]")
            elif c == "\\":
                i += 1
                out.append(re.escape(pattern[i]))
            elif c == "[":
                i, cls = _char_class(pattern, i + 1)
                out.append(cls)
                continue
            else:
                out.append(re.escape(c))
            i += 1
    except IndexError:
        return _NEVER
    return re.compile("".join(out), re.DOTALL)


def _char_class(pattern: str, i: int) -> tuple[int, str]:
    """Parse ``[^a-z\\]]`` from just after its ``[``; (index after ``]``, regex)."""
    negate = pattern[i] == "^"
    i += negate
    ranges: list[str] = []
    first = True
    while pattern[i] != "]" or first:
        first = False
        lo, i = _class_char(pattern, i)
        hi = lo
        if pattern[i] == "-":
            hi, i = _class_char(pattern, i + 1)
        if lo <= hi:
            ranges.append(f"{re.escape(lo)}-{re.escape(hi)}")
    body = "".join(ranges)
    if negate:
        return i + 1, f"[^{body}]" if body else "."
    return i + 1, f"[{body}]" if body else "(?!)"


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    c = pattern[i]
    if c in "-]":
        raise IndexError("bad pattern")
    if c == "\\":
        return pattern[i + 1], i + 2
    return c, i + 1


def walk_source(top: str, exclude: Exclude | None = None) -> Iterator[tuple[str, str, os.stat_result]]:
    """Every entry below the directory ``top``: (relative name, host path, lstat).

    Pre-order, each directory's entries sorted by name; symlinks are not
    followed; an excluded directory is not entered.
    """
    yield from _walk(_entries(top), "", exclude)


def _walk(entries: list[os.DirEntry], prefix: str, exclude: Exclude | None) -> Iterator[tuple[str, str, os.stat_result]]:
    for entry in entries:
        rel = prefix + entry.name
        if exclude is not None and exclude(rel):
            continue
        st = entry.stat(follow_symlinks=False)
        yield rel, entry.path, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(_entries(entry.path), rel + "/", exclude)


def _entries(directory: str) -> list[os.DirEntry]:
    try:
        return sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        raise InvalidArgument(f"failed to read {directory}: {exc.strerror}") from None


# ---------------------------------------------------------------------------
# remote sources

def is_url(source: str) -> bool:
    """Whether an ADD source is a download rather than a local path."""
    return source.startswith(("http://", "https://"))


def fetch_url(url: str, tmp_dir: str, checksum: str | None = None, *, timeout: float = 60.0) -> Source:
    """Download ``url`` into a new directory under ``tmp_dir``; a URL source.

    The file is named after the URL path's last component, else the
    response's Content-Disposition file name, else ``__unnamed__``; it gets
    mode 0600 and the ``Last-Modified`` time (the epoch without one).
    ``checksum`` (``sha256:<hex>``, ADD --checksum) is checked before the
    download and against the bytes: ``digest mismatch for <url>: … (expected:
    …)``.  A status of 400 or more is ``invalid response status N``.  The
    caller removes ``tmp_dir`` when the build step is done.
    """
    if not is_url(url):
        raise InvalidArgument(f"unsupported URL scheme: {url}")
    expected = Digest.parse(checksum) if checksum else None
    request = urllib.request.Request(url, headers={"User-Agent": "dockyard"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise InvalidArgument(f"invalid response status {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unavailable(f"failed to download {url}: {reason}") from None
    with response:
        name = _download_name(url, response.headers)
        path = os.path.join(tempfile.mkdtemp(prefix="add-", dir=tmp_dir), name)
        hasher = hashlib.sha256()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, URL_MODE)
        with os.fdopen(fd, "wb") as out:
            try:
                while chunk := response.read(1 << 20):
                    hasher.update(chunk)
                    out.write(chunk)
            except OSError as exc:
                raise Unavailable(f"failed to download {url}: {exc}") from None
        mtime = _last_modified(response.headers.get("Last-Modified"))
    got = Digest.from_hasher(hasher)
    if expected is not None and got != expected:
        os.unlink(path)
        raise InvalidArgument(f"digest mismatch for {url}: {got} (expected: {expected})")
    os.chmod(path, URL_MODE)  # whatever the umask did
    os.utime(path, (mtime, mtime))
    return Source(name, Origin.URL, path)


def _download_name(url: str, headers: Message) -> str:
    base = posixpath.basename(urllib.parse.unquote(urllib.parse.urlsplit(url).path))
    if _usable_name(base):
        return base
    filename = headers.get_param("filename", header="Content-Disposition")
    if filename:
        filename = collapse_rfc2231_value(filename)
        if not filename.endswith("/") and _usable_name(posixpath.basename(filename)):
            return posixpath.basename(filename)
    return UNNAMED


def _usable_name(name: str) -> bool:
    return name not in ("", ".", "..") and "\0" not in name


def _last_modified(value: str | None) -> float:
    if not value:
        return 0.0
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return 0.0
