"""Thin ctypes wrappers for the Linux system calls the runtime needs.

Each raises OSError with errno set, like the os module does, so callers can
treat them as if they were in the standard library.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

NAMESPACE_FLAGS = {
    "mount": CLONE_NEWNS,
    "cgroup": CLONE_NEWCGROUP,
    "uts": CLONE_NEWUTS,
    "ipc": CLONE_NEWIPC,
    "user": CLONE_NEWUSER,
    "pid": CLONE_NEWPID,
    "network": CLONE_NEWNET,
}

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24

MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4


def _check(result: int, what: str, path: str | None = None) -> int:
    if result < 0:
        err = ctypes.get_errno()
        if path is not None:
            raise OSError(err, f"{what}: {os.strerror(err)}", path)
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    _check(
        _libc.mount(
            source.encode() if source is not None else None,
            target.encode(),
            fstype.encode() if fstype is not None else None,
            ctypes.c_ulong(flags),
            data.encode() if data is not None else None,
        ),
        f"mount {source or fstype} on {target}",
        target,
    )


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(target.encode(), ctypes.c_int(flags)), f"umount {target}", target)


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(ctypes.c_long(155), new_root.encode(), put_old.encode()), "pivot_root", new_root)


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, ctypes.c_size_t(len(raw))), "sethostname")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(
        _libc.prctl(
            ctypes.c_int(option),
            ctypes.c_ulong(arg2),
            ctypes.c_ulong(arg3),
            ctypes.c_ulong(arg4),
            ctypes.c_ulong(arg5),
        ),
        "prctl",
    )


def set_process_name(name: str, cmdline: str | None = None) -> None:
    """Set the name ps shows (comm) and, if given, rewrite /proc/self/cmdline.

    A forked shim would otherwise show the daemon's command line, and
    ``pkill -f dockyardd`` would kill every container's supervisor with the
    daemon.  The command line is rewritten in place, in the memory that held
    the original argv (what setproctitle does): it can get shorter, never longer.
    """
    buf = ctypes.create_string_buffer(name.encode()[:15])
    _libc.prctl(PR_SET_NAME, buf, 0, 0, 0)
    if cmdline is None:
        return
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # fields[45], [46] are arg_start and arg_end (proc(5), counting from field 3)
        start, end = int(fields[45]), int(fields[46])
    except (OSError, IndexError, ValueError):
        return
    size = end - start
    if size <= 1:
        return
    data = cmdline.encode()[: size - 1]
    ctypes.memmove(start, data + b"\0" * (size - len(data)), size)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def capset(effective: int, permitted: int, inheritable: int) -> None:
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i, shift in enumerate((0, 32)):
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    _check(_libc.capset(ctypes.byref(header), data), "capset")


_SYS_RT_SIGACTION = 13  # x86_64


class _KernelSigaction(ctypes.Structure):
    _fields_ = [("handler", ctypes.c_ulong), ("flags", ctypes.c_ulong),
                ("restorer", ctypes.c_ulong), ("mask", ctypes.c_ulong)]


def default_signal_raw(sig: int) -> None:
    """SIG_DFL for ``sig`` through the raw rt_sigaction system call: the C
    library refuses to touch the signals it reserves for itself (32 and 33),
    yet an ignored disposition of them is inherited across exec like any other."""
    act = _KernelSigaction(0, 0, 0, 0)
    if _libc.syscall(_SYS_RT_SIGACTION, sig, ctypes.byref(act), None, 8) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
