"""The local volume driver: a directory under the data root, or a device mounted there.

Layout (docker's, so tools that look inside /var/lib/docker/volumes feel at home):

    <data-root>/volumes/<name>/_data       the content; the Mountpoint
    <data-root>/volumes/<name>/opts.json   {"type": …, "device": …, "o": …}

Without options a volume is just `_data`.  With options it is a mount(2)
made on `_data` when the first container needs it and undone when the last
one lets go, the way ``mount -t <type> -o <o> <device> _data`` would:

    type=tmpfs,device=tmpfs,o=size=100m,uid=1000   a tmpfs per volume
    type=none,device=/host/dir,o=bind              a bind of a host directory
    type=nfs,device=:/export,o=addr=10.0.0.1,rw    an NFS export (any type the
                                                   kernel knows goes to mount(2))

Options are checked at create, as docker checks them; whether the device is
really mountable shows at first use, as in docker.
"""

from __future__ import annotations

import collections
import errno
import json
import os
import re
import secrets
import shutil
import socket
import threading
from dataclasses import dataclass
from typing import Mapping

from dockyard.errors import Conflict, DockyardError, InvalidArgument, NotFound, SystemError
from dockyard.mount import Mount, is_mountpoint, mount_all, unmount
from dockyard.paths import VolumePaths

NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
_NAME = re.compile(rf"^{NAME_CHARS}+$")

# docker's local driver: which keys exist, and which need which others.
_VALID_OPTIONS = ("type", "device", "o", "size")
_REQUIRES = {"device": ("type",), "type": ("device",), "o": ("device", "type")}


def validate_name(name: str) -> None:
    """docker's rule for local volume names; also keeps every name a single path component."""
    if len(name) == 1:
        raise InvalidArgument("volume name is too short, names should be at least two alphanumeric characters")
    if not _NAME.match(name):
        raise InvalidArgument(
            f'"{name}" includes invalid characters for a local volume name, only "{NAME_CHARS}" are allowed. '
            "If you intended to pass a host directory, use absolute path"
        )


@dataclass(frozen=True, slots=True)
class MountOptions:
    """A volume's `type`, `device` and `o`, validated; describes its mount."""

    type: str
    device: str
    o: str = ""

    @classmethod
    def parse(cls, options: Mapping[str, str]) -> "MountOptions | None":
        """Validate driver options; None when the volume is a plain directory."""
        for key, value in options.items():
            if key not in _VALID_OPTIONS:
                raise InvalidArgument(f'invalid option: "{key}"')
            if not isinstance(value, str):
                raise InvalidArgument(f'invalid option value for "{key}": expected a string')
        if options.get("size"):
            # docker enforces size with project quotas (xfs, ext4 prjquota); we have none.
            raise InvalidArgument("quota size requested but no quota support")
        for key, needs in _REQUIRES.items():
            if key in options:
                for need in needs:
                    if need not in options:
                        raise InvalidArgument(f'missing required option: "{need}"')
        if not options.get("type") and not options.get("device"):
            return None
        return cls(options.get("type", ""), options.get("device", ""), options.get("o", ""))

    def words(self) -> tuple[str, ...]:
        return tuple(w for w in self.o.split(",") if w)

    def describe(self) -> Mount:
        """The mount(2) to make on `_data`, in mount.py's vocabulary.

        `type=none,o=bind` becomes a bind (mount_all spots the flag word);
        everything else is a filesystem mount with `o` as flags and data.
        """
        return Mount(self.type or "none", self.device, self.words())


def resolve_addr(options: MountOptions, resolve=socket.gethostbyname) -> MountOptions:
    """For nfs/cifs, turn ``addr=<hostname>`` into an IP: the kernel does no DNS."""
    if options.type not in ("nfs", "nfs4", "cifs"):
        return options
    words = list(options.words())
    for i, word in enumerate(words):
        key, _, value = word.partition("=")
        if key == "addr" and value and not _is_ip(value):
            try:
                words[i] = f"addr={resolve(value)}"
            except OSError as e:
                raise SystemError(f"error resolving passed in network volume address: {e}") from None
    return MountOptions(options.type, options.device, ",".join(words))


def _is_ip(value: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, value)
            return True
        except OSError:
            pass
    return False


def _mask_password(message: str, options: MountOptions) -> str:
    for word in options.words():
        if word.startswith("password="):
            message = message.replace(word, "password=********")
    return message


class LocalDriver:
    """Volumes as directories under `root` (DataRoot.volumes); see the module docstring."""

    name = "local"

    def __init__(self, root: str):
        self.paths = VolumePaths(root)
        os.makedirs(self.paths.tmp, mode=0o700, exist_ok=True)
        self._lock = threading.Lock()
        # name → refs holding a mount (a ref may hold several); in memory only.
        self._refs: dict[str, collections.Counter[str]] = {}
        # names whose device we mounted (or adopted after a restart).
        self._mounted: set[str] = set()
        self._clean_tmp()

    def _clean_tmp(self) -> None:
        """Half-made and half-removed volumes from before a crash."""
        for entry in os.listdir(self.paths.tmp):
            path = os.path.join(self.paths.tmp, entry)
            if not is_mountpoint(VolumePaths.data_in(path)):
                shutil.rmtree(path, ignore_errors=True)

    # -- records -------------------------------------------------------------------

    def validate(self, name: str, options: Mapping[str, str]) -> None:
        validate_name(name)
        MountOptions.parse(options)

    def create(self, name: str, options: Mapping[str, str]) -> str:
        self.validate(name, options)
        final = self.paths.volume(name)
        if os.path.isdir(VolumePaths.data_in(final)):
            return self.paths.data(name)
        # Build the whole volume aside, then rename: a crash leaves it whole or absent.
        work = os.path.join(self.paths.tmp, secrets.token_hex(8))
        try:
            os.mkdir(work, 0o701)
            os.mkdir(VolumePaths.data_in(work), 0o755)
            if options:
                _write_json(VolumePaths.options_in(work), dict(options))
            try:
                os.rename(work, final)
            except OSError as e:
                # Someone else created it first: theirs wins, like docker's create.
                if e.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not os.path.isdir(VolumePaths.data_in(final)):
                    raise
        except OSError as e:
            raise SystemError(f"error while creating volume path '{final}': {os.strerror(e.errno or 0)}") from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
        _fsync_dir(self.paths.root)
        return self.paths.data(name)

    def path(self, name: str) -> str:
        self._check(name)
        return self.paths.data(name)

    def options(self, name: str) -> dict[str, str]:
        self._check(name)
        try:
            with open(self.paths.options(name)) as f:
                return dict(json.load(f))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise SystemError(f"error while reading volume options for volume {name}: {e}") from None

    def list(self) -> list[str]:
        try:
            entries = os.listdir(self.paths.root)
        except FileNotFoundError:
            return []
        return sorted(e for e in entries if _NAME.match(e) and os.path.isdir(self.paths.data(e)))

    def remove(self, name: str) -> None:
        with self._lock:
            self._check(name)
            if self._refs.get(name):
                raise Conflict(f"remove {name}: volume has active mounts")
            data = self.paths.data(name)
            # Never let the delete below walk into a host directory or device.
            if is_mountpoint(data):
                unmount(data, detach=True)
                if is_mountpoint(data):
                    raise SystemError(f"remove {name}: {data} is still mounted")
            self._mounted.discard(name)
            # Rename out first: the name is free at once, and a crash mid-delete
            # leaves only scratch in .tmp for the next start to finish.
            doomed = os.path.join(self.paths.tmp, f"rm-{secrets.token_hex(8)}")
            try:
                os.rename(self.paths.volume(name), doomed)
            except OSError as e:
                raise SystemError(f"error removing volume path '{self.paths.volume(name)}': {os.strerror(e.errno or 0)}") from None
        shutil.rmtree(doomed, ignore_errors=True)

    # -- mounts --------------------------------------------------------------------

    def mount(self, name: str, ref: str) -> str:
        with self._lock:
            self._check(name)
            data = self.paths.data(name)
            options = MountOptions.parse(self.options(name))
            if options is not None and name not in self._mounted:
                # After a daemon restart the count is zero but the device may still
                # be mounted for running containers: adopt it instead of stacking.
                if not is_mountpoint(data):
                    described = resolve_addr(options).describe()
                    try:
                        mount_all([described], data)
                    except DockyardError as e:
                        raise SystemError(
                            f"failed to mount local volume: {_mask_password(e.message, options)}"
                        ) from None
                self._mounted.add(name)
            self._refs.setdefault(name, collections.Counter())[ref] += 1
            return data

    def unmount(self, name: str, ref: str) -> None:
        with self._lock:
            refs = self._refs.get(name)
            if not refs or refs[ref] <= 0:
                return  # not ours to release (a restart reset the counts)
            # Release first, even if unmounting fails below: a count that never
            # reaches zero would make the volume impossible to remove.
            refs[ref] -= 1
            if refs[ref] == 0:
                del refs[ref]
            if refs:
                return
            del self._refs[name]
            if name in self._mounted:
                self._mounted.discard(name)
                unmount(self.paths.data(name), detach=True)

    def active(self, name: str) -> int:
        """How many mounts are held on the volume (0 after a restart)."""
        with self._lock:
            return sum(self._refs.get(name, {}).values())

    def usage(self, name: str) -> int:
        """docker's measure: apparent file sizes, hard links counted once, one filesystem."""
        data = self.paths.data(name)
        try:
            top = os.lstat(data)
        except OSError:
            return -1
        seen: set[int] = set()
        total = 0
        for dirpath, dirnames, filenames in os.walk(data):
            for entry in dirnames + filenames:
                try:
                    st = os.lstat(os.path.join(dirpath, entry))
                except OSError:
                    continue  # gone while walking
                if st.st_dev != top.st_dev:
                    dirnames[:] = [d for d in dirnames if d != entry]  # a mount inside: not ours
                    continue
                if st.st_nlink > 1:
                    if st.st_ino in seen:
                        continue
                    seen.add(st.st_ino)
                total += st.st_size
        return total

    # -- helpers -------------------------------------------------------------------

    def _check(self, name: str) -> None:
        if not _NAME.match(name) or not os.path.isdir(self.paths.volume(name)):
            raise NotFound(f"get {name}: no such volume")


def _write_json(path: str, obj: object) -> None:
    with open(path, "w") as f:
        json.dump(obj, f)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
