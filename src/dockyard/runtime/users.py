"""Resolve docker's ``--user`` (``name``, ``uid``, ``name:group``, ``uid:gid``).

Names are looked up in the container image's /etc/passwd and /etc/group, the
way runc's libcontainer/user does: a numeric id that is not in the file is
still valid; a name that is not there is an error.  Supplementary groups are
the groups whose member list names the user.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class ExecUser:
    uid: int
    gid: int
    additional_gids: tuple
    home: str


def _parse(content: bytes | None, min_fields: int) -> list[list[str]]:
    rows = []
    for line in (content or b"").decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(":")
        if len(fields) >= min_fields:
            rows.append(fields)
    return rows


def resolve(spec: str, passwd: bytes | None, group: bytes | None) -> ExecUser:
    user_part, _, group_part = (spec or "").partition(":")
    users = _parse(passwd, 7)
    groups = _parse(group, 4)
    uid, gid, home, name = 0, 0, "/", "root"
    if user_part:
        match = next((u for u in users if u[0] == user_part), None)
        if match is None and user_part.isdigit():
            match = next((u for u in users if u[2] == user_part), None)
            uid, gid, home, name = int(user_part), 0, "/", ""
            if match is not None:
                uid, gid, home, name = int(match[2]), int(match[3]), match[5], match[0]
        elif match is None:
            raise InvalidArgument(f"unable to find user {user_part}: no matching entries in passwd file")
        else:
            uid, gid, home, name = int(match[2]), int(match[3]), match[5], match[0]
    else:
        match = next((u for u in users if u[2] == "0"), None)
        if match is not None:
            gid, home, name = int(match[3]), match[5], match[0]
    if group_part:
        g = next((g for g in groups if g[0] == group_part), None)
        if g is not None:
            gid = int(g[2])
        elif group_part.isdigit():
            gid = int(group_part)
        else:
            raise InvalidArgument(f"unable to find group {group_part}: no matching entries in group file")
    extra = []
    if name and not group_part:
        for g in groups:
            if name in g[3].split(",") and int(g[2]) != gid:
                extra.append(int(g[2]))
    if uid > 0xFFFFFFFE or gid > 0xFFFFFFFE:
        raise InvalidArgument(f"uids and gids must be in range 0-{0xFFFFFFFE}")
    return ExecUser(uid, gid, tuple(extra), home or "/")
