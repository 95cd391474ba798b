"""COPY and ADD's ``--chown`` and ``--chmod``, parsed as BuildKit parses them.

``--chown=user[:group]``: each part is a name or a numeric id (``root`` is
0 without a lookup).  Names are looked up in the *destination* stage's
``/etc/passwd`` and ``/etc/group`` (read inside its root, symlinks scoped);
a missing file or name is an error in runc's words (``unable to find user
app: no matching entries in passwd file``).  Without a group, a named user
gets its primary group and a numeric uid the gid of the same number.

``--chmod``: an octal mode up to 07777 (``755``, ``0644``) replaces the
permission bits of every copied file and directory; anything that does not
start with a digit is chmod(1)'s symbolic form (``u=rwX,go=rX``, ``+x``,
``g=u``), applied to each entry's own mode, where ``X`` means "x if a
directory or already executable by someone".
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass

from dockyard.errors import InvalidArgument
from dockyard.runtime import users
from dockyard.runtime.paths_in_root import secure_join

_ID = re.compile(r"[0-9]+")
_MAX_ID = 0xFFFFFFFE
_MAX_USER_FILE = 10 << 20  # BuildKit's limit on /etc/passwd and /etc/group


def parse_chown(spec: str, dest_root: str) -> tuple[int, int]:
    """``--chown`` → (uid, gid), names resolved in ``dest_root``."""
    if spec.count(":") > 1:
        raise InvalidArgument(f"invalid chown string format: {spec}")
    user, _, group = spec.partition(":")
    user = "0" if user in ("", "root") else user
    group = "0" if group == "root" else group
    if not group and _ID.fullmatch(user):
        uid = int(user)
        if uid > _MAX_ID:
            raise InvalidArgument(f"uids and gids must be in range 0-{_MAX_ID}")
        return uid, uid
    passwd = _read_in_root(dest_root, "/etc/passwd") if not _ID.fullmatch(user) else None
    groups = _read_in_root(dest_root, "/etc/group") if group and not _ID.fullmatch(group) else None
    resolved = users.resolve(f"{user}:{group}" if group else user, passwd, groups)
    return resolved.uid, resolved.gid


def _read_in_root(root: str, path: str) -> bytes | None:
    """A regular file of the image, or None; never follows a link out of it, never blocks on a fifo."""
    try:
        fd = os.open(secure_join(root, path), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        data = f.read(_MAX_USER_FILE + 1)
    if len(data) > _MAX_USER_FILE:
        raise InvalidArgument(f"{path} exceeds {_MAX_USER_FILE} bytes")
    return data


# ---------------------------------------------------------------------------
# --chmod

_WHO_BITS = {"u": 0o4700, "g": 0o2070, "o": 0o0007}
_SHIFT = {"u": 6, "g": 3, "o": 0}
_CLAUSE = re.compile(r"([ugoa]*)((?:[-+=](?:[ugo]|[rwxXst]*))+)")
_ACTION = re.compile(r"([-+=])([ugo]|[rwxXst]*)")


@dataclass(frozen=True, slots=True)
class Chmod:
    """A parsed ``--chmod``: ``octal`` is set for the octal form, else
    ``clauses`` holds (who, ((op, perms), …)) per comma-separated clause."""

    text: str
    octal: int | None = None
    clauses: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()

    def apply(self, st_mode: int) -> int:
        """The permission bits (0o7777) an entry of mode ``st_mode`` gets."""
        if self.octal is not None:
            return self.octal
        original = stat.S_IMODE(st_mode)
        mode = original
        executable = stat.S_ISDIR(st_mode) or bool(original & 0o111)
        for who, actions in self.clauses:
            for op, perms in actions:
                mode = _apply_action(mode, executable, who, op, perms)
        return mode


def parse_chmod(text: str) -> Chmod:
    """``--chmod`` → :class:`Chmod`, with BuildKit's error for a bad octal value."""
    if text[:1].isdigit():
        if not re.fullmatch(r"[0-7]+", text) or int(text, 8) > 0o7777:
            raise InvalidArgument(f"invalid chmod parameter: '{text}'. it should be octal string "
                                  "and between 0 and 07777")
        return Chmod(text, octal=int(text, 8))
    clauses = []
    for clause in text.split(","):
        match = _CLAUSE.fullmatch(clause)
        if match is None:
            raise InvalidArgument(f"invalid chmod parameter: '{text}': invalid syntax")
        actions = tuple((m.group(1), m.group(2)) for m in _ACTION.finditer(match.group(2)))
        clauses.append((match.group(1), actions))
    return Chmod(text, clauses=tuple(clauses))


def _apply_action(mode: int, executable: bool, who: str, op: str, perms: str) -> int:
    """One ``op perms`` of a clause, as BSD's setmode (umask 0) does it."""
    if who and "a" not in who:
        mask = sum(_WHO_BITS[w] for w in set(who))
    else:
        mask = 0o6777
    if "t" in perms and (not who or set(who) & set("uga")):
        mask |= 0o1000
    if perms in _SHIFT:  # copy another class's bits: g=u
        v = (mode >> _SHIFT[perms]) & 0o7
        bits = (v << 6 | v << 3 | v) & mask
    else:
        bits = 0
        for p in perms:
            bits |= {"r": 0o444, "w": 0o222, "x": 0o111, "s": 0o6000, "t": 0o1000,
                     "X": 0o111 if executable or op == "-" else 0}[p]
        bits &= mask
    if op == "+":
        return mode | bits
    if op == "-":
        return mode & ~bits
    return (mode & ~mask) | bits
