"""``extends``: a service built on another service's definition.

``extends: base`` names a service in the same file; ``extends: {service:
base, file: common.yaml}`` one in another file, relative to the file that
extends.  The base is resolved first (it may extend in turn), then the
extending service is merged on top with the usual merge rules (merge.py):
mappings key by key, sequences combined base first, scalars from the
extending service.  Resources the base refers to (networks, volumes) are not
imported: the extending file must declare them.  A cycle is an error.

Runs per file on normalized services, before files are merged.  Reading
another file is the caller's job (``load_services``), so this stays pure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from dockyard.compose.merge import merge_files
from dockyard.errors import InvalidArgument, NotFound

ServicesLoader = Callable[[str], Mapping[str, Mapping[str, Any]]]


def resolve_extends(services: Mapping[str, Mapping[str, Any]], path: str,
                    load_services: ServicesLoader) -> dict[str, dict[str, Any]]:
    """*services* (from the file *path*) with every ``extends`` resolved."""
    resolved: dict[tuple[str, str], dict[str, Any]] = {}

    def resolve(file: str, name: str, chain: list[tuple[str, str]]) -> dict[str, Any]:
        key = (file, name)
        if key in chain:
            names = " -> ".join(n for _, n in chain[chain.index(key):] + [key])
            raise InvalidArgument(f"service {chain[0][1]!r} key 'extends': circular reference {names}")
        if key in resolved:
            return resolved[key]
        available = services if file == path else load_services(file)
        if name not in available:
            where = f"service {chain[-1][1]!r} key 'extends'" if chain else f"service {name!r}"
            raise NotFound(f"{where}: no service {name!r} in {file}")
        svc = dict(available[name])
        ref = svc.pop("extends", None)
        if ref is not None:
            ref = {"service": ref} if isinstance(ref, str) else ref
            base_file = file
            if "file" in ref:
                base_file = os.path.normpath(os.path.join(os.path.dirname(file), ref["file"]))
            base = resolve(base_file, ref["service"], chain + [key])
            svc = merge_files({"services": {name: base}}, {"services": {name: svc}})["services"][name]
        resolved[key] = svc
        return svc

    return {name: resolve(path, name, []) for name in services}
