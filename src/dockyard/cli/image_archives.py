"""``save`` / ``image save`` and ``load`` / ``image load``.

The daemon makes and reads the archives (``GET /images/get``, ``POST
/images/load``); the CLI moves the bytes, as docker's does, and adds OCI
image-layout directories on both sides:

    dockyard save -o busybox.tar busybox            docker's format (also an OCI layout)
    dockyard save --format oci -o busybox.tar ...   the OCI layout alone, as a tar
    dockyard save --format oci-dir -o DIR ...       the OCI layout unpacked into DIR
    dockyard load -i busybox.tar | -i DIR | < x.tar a tar (plain, gzip, bzip2, xz) or a layout directory

A file written with ``-o`` appears whole or not at all (a temporary file
beside it is renamed into place), as does an ``oci-dir`` directory.
"""

from __future__ import annotations

import os
import sys

from dockyard.cli import units
from dockyard.cli.flags import FlagSet
from dockyard.cli.session import Session, StatusError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

FORMATS = ("docker", "oci", "oci-dir")
_BLOCK = 1 << 16


def cmd_save(session: Session, argv: list[str], command: str = "save") -> int:
    flags = FlagSet(command, "[OPTIONS] IMAGE [IMAGE...]",
                    "Save one or more images to a tar archive (streamed to STDOUT by default)",
                    min_args=1, aliases=["image save", "save"])
    flags.string("format", None, "Archive format: \"docker\" (docker's, also an OCI image layout), "
                 "\"oci\" (the OCI image layout alone), or \"oci-dir\" (that layout written into the "
                 "directory -o names)", default="docker")
    flags.string("output", "o", "Write to a file, instead of STDOUT")
    flags.list("platform", None, "Save only the given platform (dockyard has linux/amd64 images only)",
               type_name="strings")
    opts, names = flags.parse(argv)
    if opts.format not in FORMATS:
        raise flags.flag_error(f'invalid argument "{opts.format}" for "--format" flag: '
                               f"use {', '.join(FORMATS[:-1])} or {FORMATS[-1]}")
    _check_platforms(opts.platform)
    if opts.format == "oci-dir":
        if not opts.output:
            raise StatusError("--format oci-dir needs -o DIR: the directory to write the image layout into", 1)
        target = _layout_target(opts.output)
    elif opts.output:
        _check_output_path(opts.output)
    elif os.isatty(1):
        raise StatusError("cowardly refusing to save to a terminal. Use the -o flag or redirect", 1)
    params = {"names": names, "format": "oci" if opts.format != "docker" else None}
    response = session.client.stream("GET", "/images/get", params)
    try:
        if opts.format == "oci-dir":
            _write_directory(target, response)
        elif opts.output:
            _write_file(opts.output, response)
        else:
            out = sys.stdout.buffer
            while block := response.read1(_BLOCK):
                out.write(block)
            out.flush()
    finally:
        response.close()
    return 0


def cmd_image_save(session: Session, argv: list[str]) -> int:
    return cmd_save(session, argv, "image save")


def cmd_load(session: Session, argv: list[str], command: str = "load") -> int:
    flags = FlagSet(command, "[OPTIONS]", "Load an image from a tar archive or STDIN",
                    max_args=0, aliases=["image load", "load"])
    flags.string("input", "i", "Read from tar archive file, or from a directory holding an OCI "
                 "image layout, instead of STDIN")
    flags.list("platform", None, "Load only the given platform (dockyard loads linux/amd64)",
               type_name="strings")
    flags.bool("quiet", "q", "Suppress the load output")
    opts, _ = flags.parse(argv)
    _check_platforms(opts.platform)
    body: Any
    if opts.input:
        body = _open_input(opts.input)
    elif os.isatty(0):
        raise StatusError("requested load from stdin, but stdin is empty", 1)
    else:
        body = sys.stdin.buffer
    # docker's rule: progress only for a terminal.
    quiet = opts.quiet or not os.isatty(1)
    try:
        messages = session.client.stream_json("POST", "/images/load", {"quiet": "1" if quiet else "0"},
                                              body, {"Content-Type": "application/x-tar"})
        _print_messages(session, messages)
    finally:
        if body is not sys.stdin.buffer:
            body.close()
    return 0


def cmd_image_load(session: Session, argv: list[str]) -> int:
    return cmd_load(session, argv, "image load")


# -- save's outputs -------------------------------------------------------------------

def _check_platforms(platforms: list[str]) -> None:
    for platform in platforms:
        if platform not in ("linux/amd64", "linux", "amd64"):
            raise StatusError(f"platform {platform} is not supported: dockyard images are linux/amd64", 1)


def _check_output_path(path: str) -> None:
    """docker's ValidateOutputPath, before anything is asked of the daemon."""
    directory = os.path.dirname(os.path.normpath(path))
    if directory and not os.path.exists(directory):
        raise StatusError(f'failed to save image: invalid output path: directory "{directory}" does not exist', 1)
    if os.path.exists(path) and not (os.path.isfile(path) or os.path.isdir(path)):
        raise StatusError(f'failed to save image: invalid output path: "{path}" must be a directory '
                          "or a regular file", 1)


def _write_file(path: str, response: Any) -> None:
    from dockyard.cli.filesystem import save_atomically

    if os.path.isdir(path):
        raise StatusError(f"failed to save image: open {path}: is a directory", 1)
    save_atomically(path, response, "failed to save image")


def _layout_target(path: str) -> str:
    """The directory to write a layout into: absent, or empty."""
    path = os.path.abspath(path)
    if os.path.lexists(path) and (not os.path.isdir(path) or os.path.islink(path) or os.listdir(path)):
        raise StatusError(f"failed to save image: {path} must be an empty directory or not exist", 1)
    if not os.path.isdir(os.path.dirname(path)):
        raise StatusError(f'failed to save image: invalid output path: directory "{os.path.dirname(path)}" '
                          "does not exist", 1)
    return path


def _write_directory(target: str, response: Any) -> None:
    """Unpack the daemon's tar into a new directory beside `target`, then rename it into place.

    The archive is the daemon's own (directories and regular files only), but
    it is still read as untrusted: any other entry, or a name that climbs
    out, stops the save; nothing is followed, nothing is overwritten.
    """
    import shutil
    import tarfile
    import tempfile

    temp = tempfile.mkdtemp(dir=os.path.dirname(target), prefix=f".{os.path.basename(target)}.")
    try:
        with tarfile.open(fileobj=response, mode="r|") as tar:
            for member in tar:
                _extract_layout_member(tar, member, temp)
        os.chmod(temp, 0o755)
        os.rename(temp, target)  # replaces an empty directory, on Linux
    except (tarfile.TarError, OSError) as exc:
        shutil.rmtree(temp, ignore_errors=True)
        raise StatusError(f"failed to save image: {exc}", 1) from None
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def _extract_layout_member(tar: Any, member: Any, root: str) -> None:
    import posixpath

    name = posixpath.normpath(member.name)
    if name.startswith(("/", "../")) or name in ("..", "."):
        raise OSError(f"unexpected entry {member.name!r} in the image archive")
    host = os.path.join(root, *name.split("/"))
    if member.isdir():
        os.makedirs(host, 0o755, exist_ok=True)
        return
    if not member.isreg():
        raise OSError(f"unexpected entry {member.name!r} in the image archive")
    os.makedirs(os.path.dirname(host), 0o755, exist_ok=True)
    fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "wb") as out:
        source = tar.extractfile(member)
        while block := source.read(_BLOCK):
            out.write(block)


# -- load's input and output ----------------------------------------------------------------

def _open_input(path: str) -> BinaryIO:
    """The file to send, or a tar made of the layout directory as it is sent."""
    if os.path.isdir(path):
        from dockyard.archive.copy_out import tar_tree
        from dockyard.build.context import ChunkReader

        return ChunkReader(tar_tree(path))  # type: ignore[return-value]
    try:
        return open(path, "rb")
    except OSError as exc:
        raise StatusError(f"open {path}: {(exc.strerror or str(exc)).lower()}", 1) from None


def _print_messages(session: Session, messages: Any) -> None:
    """docker's rendering of load's JSON messages: stream text as is, a line per loaded layer."""
    for message in messages:
        if message.get("errorDetail") or message.get("error"):
            detail = message.get("errorDetail") or {}
            raise StatusError(detail.get("message") or message.get("error"), 1)
        if "stream" in message:
            session.stdout.write(message["stream"])
            continue
        detail = message.get("progressDetail") or {}
        total = detail.get("total") or 0
        if message.get("status") and total and detail.get("current") == total:
            size = units.human_size(total)
            session.out(f"{message.get('id', '')}: {message['status']} [{'=' * 50}>]  {size}/{size}")
        elif message.get("status") and not detail:
            session.out(message["status"])
    session.stdout.flush()
