"""Commands on a container's file system: ``cp``, ``diff``, ``export`` and
``commit``.  The copy rules themselves are in ``archive``."""

from __future__ import annotations

import os
import sys

from dockyard import errors
from dockyard.cli import units
from dockyard.cli.flags import FlagSet
from dockyard.cli.session import Session, StatusError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.archive import CopyInfo

# Go's os.FileMode type bits, as the path-stat header carries them.
MODE_DIR = 1 << 31
MODE_SYMLINK = 1 << 27
MODE_DEVICE = 1 << 26
MODE_IRREGULAR = 1 << 19
STAT_HEADER = "x-docker-container-path-stat"
CHANGE_KINDS = {0: "C", 1: "A", 2: "D"}


def decode_path_stat(headers: dict[str, str]) -> dict[str, Any]:
    """The ``X-Docker-Container-Path-Stat`` header: base64 of
    ``{"name", "size", "mode", "mtime", "linkTarget"}``."""
    import base64
    import json

    try:
        return json.loads(base64.b64decode(headers.get(STAT_HEADER, "")))
    except ValueError as exc:
        raise StatusError(f"unable to decode container path stat header: {exc}", 1) from None


class _Counting:
    """A readable that counts the bytes read through it."""

    def __init__(self, raw: Any):
        self.raw = raw
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(None if size is None or size < 0 else size)
        self.count += len(data)
        return data


def _copied(session: Session, quiet: bool, size: int, where: str) -> None:
    if not quiet:
        session.err(f"Successfully copied {units.human_size(size, 3)} to {where}")


def _os_error(exc: OSError) -> StatusError:
    reason = (exc.strerror or str(exc)).lower()
    return StatusError(f"lstat {exc.filename}: {reason}" if exc.filename else reason, 1)


def cmd_cp(session: Session, argv: list[str]) -> int:
    from dockyard.cli.archive import CopyError, split_cp_arg

    flags = FlagSet("cp", "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tdockyard cp [OPTIONS] "
                    "SRC_PATH|- CONTAINER:DEST_PATH",
                    "Copy files/folders between a container and the local filesystem",
                    min_args=2, max_args=2, aliases=["container cp", "cp"])
    flags.bool("archive", "a", "Archive mode (copy all uid/gid information)")
    flags.bool("follow-link", "L", "Always follow symlinks in SRC_PATH")
    flags.bool("quiet", "q", "Suppress progress output during copy. Progress output is "
               "automatically suppressed if no terminal is attached")
    opts, (source, dest) = flags.parse(argv)
    if not source:
        raise StatusError("source can not be empty", 1)
    if not dest:
        raise StatusError("destination can not be empty", 1)
    quiet = opts.quiet if "quiet" in opts.changed else not os.isatty(1)
    src_container, src_path = split_cp_arg(source)
    dst_container, dst_path = split_cp_arg(dest)
    try:
        if src_container and dst_container:
            raise StatusError("copying between containers is not supported", 1)
        if src_container:
            return _copy_from(session, src_container, src_path, dst_path, opts.follow_link, quiet)
        if dst_container:
            return _copy_to(session, dst_container, src_path, dst_path, opts.follow_link,
                            opts.archive, quiet)
    except CopyError as exc:
        raise StatusError(str(exc), 1) from None
    except OSError as exc:
        raise _os_error(exc) from None
    raise StatusError("must specify at least one container source", 1)


def validate_output_path(path: str) -> None:
    """docker's ValidateOutputPath for a local destination."""
    import stat

    parent = os.path.dirname(os.path.normpath(path))
    if parent not in ("", ".") and not os.path.exists(parent):
        raise StatusError(f'invalid output path: directory "{parent}" does not exist', 1)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        what = "got a device" if stat.S_ISBLK(mode) or stat.S_ISCHR(mode) else \
            "got an irregular file"
        raise StatusError(f'invalid output path: "{path}" must be a directory or a regular '
                          f"file: {what}", 1)


def _stat(session: Session, container: str, path: str) -> dict[str, Any]:
    """``HEAD /containers/{id}/archive?path=``: the path's stat."""
    return decode_path_stat(session.client.head(f"/containers/{container}/archive",
                                                {"path": path}))


def _copy_from(session: Session, container: str, src_path: str, dst_path: str,
               follow_link: bool, quiet: bool) -> int:
    from dockyard.cli import archive

    if dst_path != "-":
        dst_path = archive.resolve_local(dst_path)
        validate_output_path(dst_path)
    rebase = ""
    if follow_link:
        try:
            stat = _stat(session, container, src_path)
        except errors.DockyardError:
            stat = {}
        if int(stat.get("mode") or 0) & MODE_SYMLINK:
            target = stat.get("linkTarget") or ""
            if not target.startswith("/"):
                target = os.path.join(archive.split_dir_entry(src_path)[0], target)
            src_path, rebase = archive.rebase_name(src_path, target)
    response = session.client.stream("GET", f"/containers/{container}/archive",
                                     {"path": src_path})
    try:
        if dst_path == "-":
            out = sys.stdout.buffer
            while block := response.read1(1 << 16):
                out.write(block)
            out.flush()
            return 0
        stat = decode_path_stat(response.headers)
        src = archive.CopyInfo(src_path, True, bool(int(stat.get("mode") or 0) & MODE_DIR),
                               rebase)
        pre = (archive.split_dir_entry(src.path)[1], rebase) if rebase else None
        dst_dir, change = archive.prepare_copy(src, archive.destination_info(dst_path))
        counted = _Counting(response)
        archive.extract(counted, dst_dir, pre, change)
        while counted.read(1 << 16):
            pass  # the trailing blocks count too, as in docker
    finally:
        response.close()
    _copied(session, quiet, counted.count, dst_path)
    return 0


def _destination(session: Session, container: str, path: str) -> CopyInfo:
    """What the container's ``path`` is: a directory, a file, or nothing."""
    from dockyard.cli import archive

    info = archive.CopyInfo(path)
    try:
        stat = _stat(session, container, path)
        if int(stat.get("mode") or 0) & MODE_SYMLINK:
            target = stat.get("linkTarget") or ""
            if not target.startswith("/"):
                target = os.path.join(archive.split_dir_entry(path)[0], target)
            info.path = target
            stat = _stat(session, container, target)
    except errors.DockyardError:
        return info  # the parent may exist: let the extraction decide
    mode = int(stat.get("mode") or 0)
    if mode & (MODE_DEVICE | MODE_IRREGULAR):
        what = "got a device" if mode & MODE_DEVICE else "got an irregular file"
        raise StatusError(f'destination "{container}:{path}" must be a directory or a '
                          f"regular file: {what}", 1)
    info.exists, info.is_dir = True, bool(mode & MODE_DIR)
    return info


def _copy_to(session: Session, container: str, src_path: str, dst_path: str,
             follow_link: bool, copy_uid_gid: bool, quiet: bool) -> int:
    import tempfile

    from dockyard.cli import archive

    dst = _destination(session, container, dst_path)
    params = {"noOverwriteDirNonDir": "true", "copyUIDGID": "true" if copy_uid_gid else None}
    headers = {"Content-Type": "application/x-tar"}
    if src_path == "-":
        if not dst.is_dir:
            raise StatusError(f'destination "{container}:{dst_path}" must be a directory', 1)
        body = _Counting(sys.stdin.buffer)
        session.client.stream("PUT", f"/containers/{container}/archive",
                              {"path": dst.path, **params}, body, headers).close()
        _copied(session, quiet, body.count, f"{container}:{dst.path}")
        return 0
    src = archive.source_info(archive.resolve_local(src_path), follow_link)
    dst_dir, change = archive.prepare_copy(src, dst)
    with tempfile.TemporaryFile() as tar:
        archive.write_tar(src, tar, change)
        size = tar.tell()
        tar.seek(0)
        session.client.stream("PUT", f"/containers/{container}/archive",
                              {"path": dst_dir, **params}, tar, headers).close()
    _copied(session, quiet, size, f"{container}:{dst.path}")
    return 0


def cmd_diff(session: Session, argv: list[str]) -> int:
    flags = FlagSet("diff", "CONTAINER",
                    "Inspect changes to files or directories on a container's filesystem",
                    min_args=1, max_args=1, aliases=["container diff", "diff"])
    _, (name,) = flags.parse(argv)
    for change in session.client.get(f"/containers/{name}/changes") or []:
        session.out(f"{CHANGE_KINDS.get(change.get('Kind'), '?')} {change.get('Path', '')}")
    return 0


def cmd_export(session: Session, argv: list[str]) -> int:
    flags = FlagSet("export", "[OPTIONS] CONTAINER",
                    "Export a container's filesystem as a tar archive", min_args=1, max_args=1,
                    aliases=["container export", "export"])
    flags.string("output", "o", "Write to a file, instead of STDOUT")
    opts, (name,) = flags.parse(argv)
    if not opts.output and os.isatty(1):
        raise StatusError("cowardly refusing to save to a terminal. Use the -o flag or "
                          "redirect", 1)
    response = session.client.stream("GET", f"/containers/{name}/export")
    try:
        if not opts.output:
            out = sys.stdout.buffer
            while block := response.read1(1 << 16):
                out.write(block)
            out.flush()
            return 0
        save_atomically(opts.output, response, "failed to export container")
    finally:
        response.close()
    return 0


def save_atomically(path: str, response: Any, failure: str) -> None:
    """Write a response body to a temporary file beside ``path`` and rename
    it into place, so a failure leaves no half-written file (mode 0600, as
    docker); *failure* begins the message when the file cannot be made."""
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.")
    except OSError as exc:
        raise StatusError(f"{failure}: {exc.strerror or exc}", 1) from None
    try:
        with os.fdopen(fd, "wb") as out:
            while block := response.read1(1 << 16):
                out.write(block)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise


def normalized_repository(name: str) -> str:
    """docker's ParseNormalizedNamed(...).Name(): "busybox" →
    "docker.io/library/busybox", "me/app" → "docker.io/me/app"."""
    first, slash, _ = name.partition("/")
    if not slash:
        return f"docker.io/library/{name}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{name}"
    return name


def commit_params(container: str, reference: str, opts: Any) -> dict[str, Any]:
    """The query of ``POST /commit`` (the body is empty)."""
    from dockyard.cli.images import split_reference

    repo = tag = ""
    if reference:
        if "@" in reference:
            raise StatusError("refusing to create a tag with a digest reference", 1)
        name, tag = split_reference(reference)
        if name != name.lower():
            raise StatusError(f"invalid reference format: repository name ({name}) must be "
                              "lowercase", 1)
        repo, tag = normalized_repository(name), tag or "latest"
    params: dict[str, Any] = {"container": container, "repo": repo, "tag": tag,
                              "comment": opts.message or "", "author": opts.author or "",
                              "changes": list(opts.change)}
    if not opts.pause:
        params["pause"] = "0"
    return params


def cmd_commit(session: Session, argv: list[str]) -> int:
    flags = FlagSet("commit", "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
                    "Create a new image from a container's changes", min_args=1, max_args=2,
                    interspersed=False, aliases=["container commit", "commit"])
    flags.string("author", "a", 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
    flags.list("change", "c", "Apply Dockerfile instruction to the created image")
    flags.string("message", "m", "Commit message")
    flags.bool("pause", "p", "Pause container during commit", default=True)
    opts, args = flags.parse(argv)
    params = commit_params(args[0], args[1] if len(args) > 1 else "", opts)
    response = session.client.post("/commit", params) or {}
    session.out(response.get("Id", ""))
    return 0
