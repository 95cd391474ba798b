"""Network namespaces kept as files, the way libnetwork keeps its sandboxes.

A container's network namespace is made before the container, by the daemon:
a new namespace is bind-mounted on a file (``/run/dockyard/netns/<id>``), its
devices are set up from the host (links.py), and the runtime then joins it by
path (OCI ``linux.namespaces: [{"type": "network", "path": ...}]``).  The file
keeps the namespace alive without any process in it; `delete` lets it go.

How the namespace is made, without disturbing the daemon
--------------------------------------------------------
A namespace belongs to a task, and on Linux every thread is a task: a thread
that calls ``unshare(CLONE_NEWNET)`` or ``setns`` moves itself and no other
thread.  So `create` starts a short-lived thread that unshares, bind-mounts
its own namespace (``/proc/self/task/<tid>/ns/net`` -- *not*
``/proc/self/ns/net``, which is the main thread's), brings ``lo`` up and ends.
A fork would do the same but copies the whole daemon (an asyncio process
with threads, where fork is best avoided) and costs more; the mount is made
in the mount namespace every thread shares, so a thread is enough.

The rule for every thread here: a thread that enters a namespace never comes
back to serve anyone else -- it ends (`run_in`), or it restores its namespace
before the caller sees it again (`entered`).

Who sees the file (mount propagation), as found on this kernel
---------------------------------------------------------------
The bind mount exists in the daemon's mount namespace.  A shim is forked from
the daemon's fork server, which shares that namespace; the shim then unshares
its own and makes every mount private (shim/shim.py).  Its copy is taken at
that moment, so:

* a namespace file bind-mounted *before* the shim is spawned is visible to the
  shim and to the container init it forks, and joining by path works;
* one bind-mounted *after* is not: the shim sees the bare, empty file, and
  ``setns`` on it fails with EINVAL.  Create the namespace (and attach its
  interfaces, which needs no mount at all) before spawning the shim;
* a shim's copy does not keep the namespace alive after `delete`: unlinking a
  file that is a mount point in *other* mount namespaces detaches those mounts
  too (Linux >= 3.18).  Only the daemon's own mount must be unmounted first
  (unlink of a local mount point fails with EBUSY), which `delete` does.

Making ``/run/dockyard/netns`` a shared mount, as ``ip netns`` does for
``/run/netns``, would not help: the shims make their copies private anyway.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

from .. import errors
from ..runtime import syscalls

T = TypeVar("T")

# ioctl_ns(2): _IO(0xb7, 0x3); answers the CLONE_NEW* type of a namespace file.
_NS_GET_NSTYPE = 0xB703


def create(path: str) -> None:
    """Make a new network namespace, bind-mounted on `path`, with ``lo`` up.

    The directory of `path` is created if needed.  Raises Conflict if `path`
    already holds a network namespace; a bare file left by a crash is reused.
    On failure nothing is left behind.
    """
    os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
    if exists(path):
        raise errors.Conflict(f"network namespace {path} already exists")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o444)
    except OSError as e:
        raise errors.SystemError(f"cannot create network namespace file {path}: {e.strerror}") from None
    os.close(fd)
    try:
        _in_new_thread(_unshare_and_mount, path)
    except BaseException:
        delete(path)
        raise


def delete(path: str) -> None:
    """Unmount and remove a namespace file; nothing to do if it is gone.

    The namespace itself ends when nothing else holds it (a process inside,
    an open descriptor, a socket created in it).
    """
    # Lazily, and until nothing is mounted there: a busy namespace must not
    # block removal, and a path mounted twice (by hand) would keep one layer.
    for _ in range(8):
        try:
            syscalls.umount2(path, syscalls.MNT_DETACH)
        except OSError as e:
            if e.errno in (errno.EINVAL, errno.ENOENT):
                break
            raise errors.SystemError(f"cannot unmount network namespace {path}: {e.strerror}") from None
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        raise errors.SystemError(f"cannot remove network namespace {path}: {e.strerror}") from None


def exists(path: str) -> bool:
    """Whether `path` is a mounted network namespace (not merely a file)."""
    try:
        os.close(open_namespace(path))
    except errors.NotFound:
        return False
    return True


def open_namespace(path: str) -> int:
    """A read-only descriptor of the network namespace at `path` (the caller
    closes it); NotFound if `path` is not one."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise errors.NotFound(f"no network namespace at {path}") from None
    except OSError as e:
        raise errors.SystemError(f"cannot open network namespace {path}: {e.strerror}") from None
    try:
        if fcntl.ioctl(fd, _NS_GET_NSTYPE) == syscalls.CLONE_NEWNET:
            return fd
    except OSError:
        pass  # ENOTTY: an ordinary file
    os.close(fd)
    raise errors.NotFound(f"no network namespace at {path}")


def run_in(path: str, fn: Callable[..., T], *args, **kwargs) -> T:
    """Call ``fn(*args, **kwargs)`` in a new thread inside the namespace at `path`.

    Blocks until it returns, then returns its result or raises its
    exception.  What `fn` creates there stays there: a socket opened in it
    keeps the namespace for its life wherever it is used afterwards (a name
    server's listening socket), a process forked in it starts in it, and
    ``/proc/sys/net`` opened in it shows the namespace's sysctls.
    Raises NotFound if `path` is not a network namespace.
    """
    def enter_then_call() -> T:
        _enter(path)
        return fn(*args, **kwargs)

    return _in_new_thread(enter_then_call)


@contextmanager
def entered(path: str) -> Iterator[None]:
    """Run the block with the *calling thread* inside the namespace at `path`.

    The thread comes back to its own namespace when the block ends.  Refused
    on a thread that runs an asyncio loop: an ``await`` in the block would let
    every other task run inside the container's namespace.  Prefer `run_in`
    where a function will do.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("netns.entered() on an event loop thread; use run_in() in a worker")
    home = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _enter(path)
        try:
            yield
        finally:
            try:
                syscalls.setns(home, syscalls.CLONE_NEWNET)
            except OSError as e:  # never seen; the thread would be stranded
                raise errors.SystemError(f"cannot return from network namespace {path}: {e.strerror}") from None
    finally:
        os.close(home)


def _unshare_and_mount(path: str) -> None:
    try:
        syscalls.unshare(syscalls.CLONE_NEWNET)
        syscalls.mount(f"/proc/self/task/{threading.get_native_id()}/ns/net", path, None, syscalls.MS_BIND)
    except OSError as e:
        raise errors.SystemError(f"cannot create network namespace {path}: {e.strerror}") from None
    _loopback_up()


def _loopback_up() -> None:
    from pyroute2 import IPRoute  # pyroute2 costs ~100 ms to import: only where networks are made

    # The thread is inside the new namespace, so the socket is too.
    with IPRoute(groups=0) as ipr:
        ipr.link("set", index=1, state="up")  # lo is always index 1 in a new namespace


def _enter(path: str) -> None:
    fd = open_namespace(path)
    try:
        syscalls.setns(fd, syscalls.CLONE_NEWNET)
    except OSError as e:
        raise errors.SystemError(f"cannot enter network namespace {path}: {e.strerror}") from None
    finally:
        os.close(fd)


def _in_new_thread(fn: Callable[..., T], *args) -> T:
    outcome: list = []

    def main() -> None:
        try:
            outcome.append((True, fn(*args)))
        except BaseException as e:  # handed to the caller's thread
            outcome.append((False, e))

    thread = threading.Thread(target=main, name="dockyard-netns", daemon=True)
    thread.start()
    thread.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    return value
