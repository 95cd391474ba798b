"""Linux capabilities: names, docker's default set, and --cap-add/--cap-drop.

Names are written as the OCI spec writes them (``CAP_NET_ADMIN``); the CLI
and API accept them with or without the ``CAP_`` prefix and in any case, as
docker does.  ``ALL`` stands for every capability the kernel knows.
"""

from __future__ import annotations

from ..errors import InvalidArgument

CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
CAP_NUMBER = {name: i for i, name in enumerate(CAPABILITIES)}

# moby's oci/caps/defaults.go: the set every container gets unless told otherwise.
DEFAULT_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(CAPABILITIES) - 1


def host_bounding_set() -> int:
    """The capabilities this process may hand on (its bounding set).

    Not every host grants them all (this machine withholds CAP_SYS_RESOURCE),
    and asking a kernel for a capability outside it fails with EPERM; so
    "every capability" (--privileged, --cap-add ALL) means every one we hold.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapBnd:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return (1 << (last_cap() + 1)) - 1


def normalize(name: str) -> str:
    """``net_admin`` / ``CAP_NET_ADMIN`` / ``ALL`` → canonical form."""
    upper = name.strip().upper()
    if upper == "ALL":
        return "ALL"
    if not upper.startswith("CAP_"):
        upper = "CAP_" + upper
    if upper not in CAP_NUMBER:
        raise InvalidArgument(f"invalid capability: {name!r}" if name else "invalid capability: ''")
    return upper


def effective_set(cap_add: list[str], cap_drop: list[str], privileged: bool) -> list[str]:
    """The capabilities a container's process gets, computed as docker does.

    Privileged containers get everything.  Otherwise start from the default
    set; ``ALL`` in cap_add adds everything, ``ALL`` in cap_drop drops
    everything first; then explicit adds win over explicit drops.
    """
    held = host_bounding_set()
    known = [c for c in CAPABILITIES if CAP_NUMBER[c] <= last_cap() and held >> CAP_NUMBER[c] & 1]
    if privileged:
        return known
    adds = [normalize(c) for c in cap_add or []]
    drops = [normalize(c) for c in cap_drop or []]
    caps = list(DEFAULT_CAPABILITIES)
    if "ALL" in drops:
        caps = []
    else:
        caps = [c for c in caps if c not in drops]
    if "ALL" in adds:
        return known
    for c in adds:
        if c not in caps:
            caps.append(c)
    return [c for c in known if c in caps]


def mask(names: list[str]) -> int:
    bits = 0
    for n in names:
        bits |= 1 << CAP_NUMBER[n]
    return bits
