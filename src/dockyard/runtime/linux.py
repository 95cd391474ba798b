"""dockyard's own OCI runtime: turn a forked child into the container process.

`init` runs in a child the shim has just forked.  The shim has already
unshared the PID namespace (so this child is PID 1 of a new one), mounted the
root filesystem at the bundle's ``root.path`` in its own mount namespace, and
put the container's stdio on fds 0-2.  `init` then performs, in order, the
steps a runtime such as runc performs from a config.json, blocks until the
shim says "go", and execs the process.

The order matters:

1. A new session, so the terminal made in step 8 can become the
   controlling one.
2. Join the cgroup, *then* unshare the cgroup namespace, so the container sees
   its own group as the root.
3. Unshare the remaining namespaces (mount, uts, ipc, network, cgroup).
4. Make every mount private before touching any, so nothing we mount leaks
   back into the shim's (or the host's) namespace.
5. Bind the rootfs onto itself: pivot_root needs a mount point.
6. The spec's mounts (proc, dev, devpts, shm, mqueue, sys, binds), each
   destination resolved inside the rootfs so symlinks cannot escape it; then
   device nodes and the /dev symlinks.
7. Hostname, loopback up.
8. pivot_root, and detach the old root.  With a terminal, the pty is opened
   now, from the container's own devpts, so that ``tty`` inside names a
   device the container can see; its master goes to the shim over the
   console socket (runc's --console-socket does the same).
9. Masked and read-only paths, the working directory (created if missing),
   then the read-only root: all need a writable tree until this point.
10. rlimits, no_new_privs, the capability bounding set, groups, gid, uid,
    then the capability sets (root only: a non-root uid has none left).
11. Wait for "go", then exec.  The error pipe is close-on-exec: the shim
    learns that exec succeeded when it reads EOF, and reads a JSON error when
    any step failed.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import resource
import socket
import struct
import termios

from ..mount import Mount
from . import capabilities, cgroups, syscalls
from .paths_in_root import secure_join
from .syscalls import MNT_DETACH, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, MS_SLAVE

_DEV_SYMLINKS = (
    ("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr"),
    ("pts/ptmx", "/dev/ptmx"),
)

RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}


class InitError(Exception):
    """A step of container setup failed; `code` is the exit status docker uses."""

    def __init__(self, message: str, code: int = 125):
        super().__init__(message)
        self.code = code


def init(spec: dict, bundle: str, go_fd: int, err_fd: int, console_fd: int = -1) -> None:
    """Never returns: execs the container process or exits with an error.

    `console_fd` (with ``process.terminal``) is a unix socket on which the
    pty master is sent to the shim.
    """
    try:
        _setup(spec, bundle, console_fd)
        _wait_for_go(go_fd)
        _exec(spec["process"])
    except InitError as e:
        _report(err_fd, str(e), e.code)
    except OSError as e:
        _report(err_fd, f"{e.strerror or e}" + (f": {e.filename}" if e.filename else ""), 125)
    except BaseException as e:  # noqa: BLE001 - the child must never return into the shim
        _report(err_fd, f"container init: {e!r}", 125)


# Joined in this order: every namespace whose file we open from the host's
# /proc first, the mount namespace last (after it, /proc is the container's).
_EXEC_NAMESPACES = ("ipc", "uts", "net", "cgroup", "mnt")


def enter(container_pid: int, process: dict, cgroups_path: str | None, err_fd: int, console_fd: int = -1) -> None:
    """Never returns: join a running container and exec `process` (docker exec).

    Runs in a child the shim forked; the shim's PID namespace for children is
    already the container's, so only the other namespaces are joined here.
    Joining the mount namespace also moves our root and working directory to
    the container's root.  Errors are reported on err_fd like `init`'s.
    """
    try:
        os.setsid()
        if cgroups_path:
            cgroups.Cgroup(cgroups_path).add(0)
        fds = []
        for ns in _EXEC_NAMESPACES:
            try:
                fds.append(os.open(f"/proc/{container_pid}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC))
            except FileNotFoundError:
                continue
        for fd in fds:
            syscalls.setns(fd, 0)
            os.close(fd)
        user = process.get("user", {})
        if console_fd >= 0:
            _open_console(console_fd, user.get("uid", 0), user.get("gid", 0), process.get("consoleSize"))
        for rl in process.get("rlimits", []):
            resource.setrlimit(RLIMITS[rl["type"]], (rl["soft"], rl["hard"]))
        if process.get("noNewPrivileges"):
            syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)
        cwd = process.get("cwd") or "/"
        try:
            os.chdir(cwd)
        except FileNotFoundError:
            raise InitError(f"chdir to cwd (\"{cwd}\") set in config.json failed: no such file or directory", 126) from None
        _apply_capabilities(process.get("capabilities", {}), user)
        _exec(process)
    except InitError as e:
        _report(err_fd, str(e), e.code)
    except OSError as e:
        _report(err_fd, f"{e.strerror or e}" + (f": {e.filename}" if e.filename else ""), 126)
    except BaseException as e:  # noqa: BLE001 - the child must never return into the shim
        _report(err_fd, f"exec: {e!r}", 126)


def _report(err_fd: int, message: str, code: int) -> None:
    try:
        os.write(err_fd, json.dumps({"message": message, "code": code}).encode())
    finally:
        os._exit(code)


def _wait_for_go(go_fd: int) -> None:
    if os.read(go_fd, 1) != b"g":
        os._exit(0)  # the shim went away or cancelled before start
    os.close(go_fd)


def _setup(spec: dict, bundle: str, console_fd: int) -> None:
    linux = spec.get("linux", {})
    process = spec["process"]
    os.setsid()

    if linux.get("cgroupsPath"):
        group = cgroups.Cgroup(linux["cgroupsPath"])
        group.create(linux.get("resources"))
        group.add(0)

    flags = 0
    for ns in linux.get("namespaces", []):
        if ns["type"] == "pid":
            continue  # the shim unshared it before forking us
        if ns.get("path"):
            fd = os.open(ns["path"], os.O_RDONLY)
            syscalls.setns(fd, syscalls.NAMESPACE_FLAGS[ns["type"]])
            os.close(fd)
        else:
            flags |= syscalls.NAMESPACE_FLAGS[ns["type"]]
    syscalls.unshare(flags)

    root = spec["root"]["path"]
    rootfs = root if os.path.isabs(root) else os.path.join(bundle, root)
    syscalls.mount(None, "/", None, MS_REC | (MS_SLAVE if linux.get("rootfsPropagation") == "rslave" else MS_PRIVATE))
    syscalls.mount(rootfs, rootfs, None, MS_BIND | MS_REC)

    for m in spec.get("mounts", []):
        _mount(rootfs, m)
    _make_devices(rootfs, linux.get("devices", []))

    if spec.get("hostname") and flags & syscalls.CLONE_NEWUTS:
        syscalls.sethostname(spec["hostname"])
    if flags & syscalls.CLONE_NEWNET:
        _loopback_up()

    os.chdir(rootfs)
    syscalls.pivot_root(".", ".")
    syscalls.umount2(".", MNT_DETACH)
    os.chdir("/")
    user = process.get("user", {})
    if console_fd >= 0:
        _open_console(console_fd, user.get("uid", 0), user.get("gid", 0), process.get("consoleSize"))

    for path in linux.get("maskedPaths", []):
        _mask(path)
    for path in linux.get("readonlyPaths", []):
        _readonly(path)

    cwd = process.get("cwd") or "/"
    if not os.path.isdir(cwd):
        os.makedirs(cwd, mode=0o755, exist_ok=True)
    if spec["root"].get("readonly"):
        syscalls.mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC)

    for rl in process.get("rlimits", []):
        resource.setrlimit(RLIMITS[rl["type"]], (rl["soft"], rl["hard"]))
    if process.get("noNewPrivileges"):
        syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)
    _apply_capabilities(process.get("capabilities", {}), user)
    os.chdir(cwd)


def _mount(rootfs: str, m: dict) -> None:
    dest = secure_join(rootfs, m["destination"])
    flags, data = Mount(m.get("type", ""), m.get("source", ""), tuple(m.get("options", []))).flags_and_data()
    mtype = m.get("type") or ("bind" if flags & MS_BIND else None)
    source = m.get("source")
    if mtype == "bind":
        flags |= MS_BIND
        if not os.path.isdir(source):
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if not os.path.exists(dest):
                open(dest, "a").close()
        else:
            os.makedirs(dest, exist_ok=True)
        syscalls.mount(source, dest, None, flags)
        if flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC):
            # a bind mount ignores these until it is remounted
            syscalls.mount(None, dest, None, flags | MS_REMOUNT)
        return
    if mtype == "cgroup":
        return  # not mounted yet: see the issue notes on cgroup v1 inside containers
    os.makedirs(dest, exist_ok=True)
    syscalls.mount(source, dest, mtype, flags, data or None)


def _make_devices(rootfs: str, devices: list[dict]) -> None:
    old = os.umask(0)
    try:
        for d in devices:
            path = secure_join(rootfs, d["path"])
            kind = {"c": 0o020000, "b": 0o060000, "p": 0o010000}[d["type"]]
            mode = d.get("fileMode", 0o666)
            try:
                os.mknod(path, kind | mode, os.makedev(d["major"], d["minor"]))
            except FileExistsError:
                pass
            os.chown(path, d.get("uid", 0), d.get("gid", 0))
    finally:
        os.umask(old)
    for target, link in _DEV_SYMLINKS:
        path = secure_join(rootfs, link)
        try:
            os.symlink(target, path)
        except FileExistsError:
            pass


def _open_console(console_fd: int, uid: int, gid: int, size: dict | None) -> None:
    master, slave = os.openpty()  # /dev/ptmx → the container's pts/ptmx now
    os.fchown(slave, uid, gid)
    if size:
        # The client's size before the process starts: a resize request can
        # only come after the start, too late for a program that asks first.
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size["height"], size["width"], 0, 0))
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for i in (0, 1, 2):
        os.dup2(slave, i)
    os.close(slave)
    socket.send_fds(socket.socket(fileno=console_fd), [b"pty"], [master])
    os.close(master)


def _loopback_up() -> None:
    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def _mask(path: str) -> None:
    if not os.path.lexists(path):
        return
    if os.path.isdir(path):
        syscalls.mount("tmpfs", path, "tmpfs", MS_RDONLY)
    else:
        syscalls.mount("/dev/null", path, None, MS_BIND)


def _readonly(path: str) -> None:
    if not os.path.lexists(path):
        return
    syscalls.mount(path, path, None, MS_BIND | MS_REC)
    syscalls.mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC)


def _apply_capabilities(caps: dict, user: dict) -> None:
    bounding = set(caps.get("bounding", []))
    for i in range(capabilities.last_cap() + 1):
        name = capabilities.CAPABILITIES[i] if i < len(capabilities.CAPABILITIES) else None
        if name not in bounding:
            syscalls.prctl(syscalls.PR_CAPBSET_DROP, i)
    try:
        syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError:
        pass
    os.setgroups(user.get("additionalGids", []))
    os.setgid(user.get("gid", 0))
    os.setuid(user.get("uid", 0))
    if user.get("uid", 0) == 0:
        syscalls.capset(
            capabilities.mask(caps.get("effective", [])),
            capabilities.mask(caps.get("permitted", [])),
            capabilities.mask(caps.get("inheritable", [])),
        )


def _default_signals() -> None:
    """Every signal back to its default action and none blocked, as a process
    started by runc finds them: ignored dispositions survive exec, and Python
    ignores SIGPIPE and SIGXFSZ (a shell that starts dockyardd in the
    background adds SIGINT and SIGQUIT), which would otherwise reach every
    container process."""
    for sig in range(1, signal.NSIG):
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            try:  # the C library's reserved real-time signals
                syscalls.default_signal_raw(sig)
            except OSError:
                pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _exec(process: dict) -> None:
    args = process["args"]
    env = dict(e.split("=", 1) if "=" in e else (e, "") for e in process.get("env", []))
    if not args or not args[0]:
        raise InitError("no command specified", 125)
    _default_signals()
    try:
        os.execvpe(args[0], args, env)
    except OSError as e:
        name = args[0]
        if e.errno == errno.ENOENT:
            if "/" in name:
                raise InitError(f'exec: "{name}": stat {name}: no such file or directory', 127)
            raise InitError(f'exec: "{name}": executable file not found in $PATH', 127)
        if e.errno in (errno.EACCES, errno.EPERM, errno.ENOEXEC, errno.EISDIR):
            raise InitError(f'exec: "{name}": permission denied', 126)
        raise InitError(f'exec: "{name}": {e.strerror}', 126)
