"""The project: the one value the compose commands work from.

:func:`load_project` runs the whole pipeline (see the package docstring) and
:func:`to_config_yaml` prints the result as ``docker compose config`` does.

Why plain dicts inside a frozen dataclass: the compose model is an open tree
(extension keys, driver options, deploy sections nobody here interprets yet)
and ``config`` must print it back faithfully, so services, networks and
volumes stay the normalized dicts the pipeline produces.  The dataclass fixes
the four things every command needs by name — project name, directory,
services, resources — and is frozen so no command rebinds them; treat the
dicts as read-only too.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from dockyard.compose.interpolation import interpolate
from dockyard.compose.extends import resolve_extends
from dockyard.compose.loader import Document, load_document, load_dotenv, load_env_file
from dockyard.compose.merge import merge_files
from dockyard.compose.normalize import normalize_file
from dockyard.compose.profiles import active_profiles, select_services
from dockyard.compose.validation import validate_references, validate_shape
from dockyard.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class Project:
    """A loaded, merged, normalized compose project."""

    name: str
    working_dir: str
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # secrets, configs, x-…
    warnings: tuple[str, ...] = ()  # for the CLI to print; not part of config
    disabled_services: tuple[str, ...] = ()  # left out by profiles: not orphans

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "services": self.services, **self.extra}
        if self.networks:
            out["networks"] = self.networks
        if self.volumes:
            out["volumes"] = self.volumes
        return out


def load_project(files: list[str], env: Mapping[str, str], project_name: str | None = None,
                 profiles: Iterable[str] | None = None, *, working_dir: str | None = None,
                 env_files: Iterable[str] | None = None) -> Project:
    """Load *files* (``-f`` order; later ones override) into a :class:`Project`.

    *env* is the caller's environment; the project directory's ``.env`` — or
    instead *env_files*, later ones winning — fills in what it lacks.  The
    project directory is *working_dir*, else the first file's directory.
    The name comes from *project_name*, else ``COMPOSE_PROJECT_NAME``, else
    the files' ``name:`` (the last one), else the directory name.  *profiles* (else
    ``COMPOSE_PROFILES``) enables services that declare profiles.
    Raises InvalidArgument (bad YAML, keys, types, references) or NotFound.
    """
    if not files:
        raise InvalidArgument("no compose file given")
    working_dir = os.path.abspath(working_dir or os.path.dirname(os.path.abspath(files[0])))
    if env_files is None:
        dotenv = load_dotenv(working_dir)
    else:
        dotenv = {}
        for path in env_files:
            dotenv.update(load_env_file(path))
    full_env = {**dotenv, **env}

    model: dict[str, Any] = {}
    unset: set[str] = set()

    def read(path: str, base_dir: str) -> tuple[dict[str, Any], Document]:
        doc = load_document(path)
        substituted = interpolate(doc.data, full_env, unset=unset)
        validate_shape(substituted, path, doc.lines)
        return normalize_file(substituted, base_dir, full_env), doc

    def services_of(path: str) -> dict[str, Any]:
        # A file named by extends: its paths are relative to itself.
        return read(path, os.path.dirname(path))[0]["services"]

    for path in files:
        normalized, doc = read(path, working_dir)
        normalized["services"] = resolve_extends(normalized["services"], os.path.abspath(path), services_of)
        model = merge_files(model, normalized, doc.resets, doc.overrides)

    name = _project_name(project_name, model.get("name"), full_env, working_dir)
    declared = list(model.get("services") or {})
    model = select_services(model, active_profiles(profiles, full_env))
    disabled = tuple(n for n in declared if n not in (model.get("services") or {}))
    project = finalize(model, name, working_dir)
    validate_references(project.to_dict())
    warnings = tuple(f"The {var!r} variable is not set. Defaulting to a blank string." for var in sorted(unset))
    return dataclasses.replace(project, warnings=warnings, disabled_services=disabled)


def finalize(model: Mapping[str, Any], name: str, working_dir: str) -> Project:
    """Fill in what docker compose fills in after merging.

    depends_on entries get ``condition: service_started`` and
    ``restart: false`` unless they say otherwise.

    A service naming no network (and no network_mode) joins ``default``,
    which is then declared; networks and volumes get their engine names
    ``<project>_<key>`` unless they are external or name themselves.
    """
    services = {}
    for svc_name, svc in (model.get("services") or {}).items():
        svc = dict(svc)
        if "networks" not in svc and "network_mode" not in svc:
            svc["networks"] = {"default": None}
        if "depends_on" in svc:
            svc["depends_on"] = {dep: {"condition": "service_started", "restart": False, **opts}
                                 for dep, opts in svc["depends_on"].items()}
        services[svc_name] = svc
    networks = {k: dict(v or {}) for k, v in (model.get("networks") or {}).items()}
    if any("default" in s.get("networks", {}) for s in services.values()):
        networks.setdefault("default", {})
    volumes = {k: dict(v or {}) for k, v in (model.get("volumes") or {}).items()}
    for resources in (networks, volumes):
        for key, options in resources.items():
            if "name" not in options:
                external = options.get("external")
                options["name"] = key if external else f"{name}_{key}"
    extra = {k: v for k, v in model.items() if k not in ("name", "services", "networks", "volumes")}
    return Project(name=name, working_dir=working_dir, services=services,
                   networks=networks, volumes=volumes, extra=extra)


def _project_name(explicit: str | None, from_file: Any, env: Mapping[str, str], working_dir: str) -> str:
    # docker compose's order: -p, then the environment, then the files.
    for candidate, source in ((explicit, "-p"), (env.get("COMPOSE_PROJECT_NAME"), "COMPOSE_PROJECT_NAME"),
                              (from_file, "name:")):
        if candidate:
            if not _VALID_NAME.fullmatch(candidate):
                raise InvalidArgument(
                    f"invalid project name {candidate!r} (from {source}): use lowercase letters, "
                    "digits, '-' and '_', starting with a letter or digit")
            return candidate
    name = normalize_project_name(os.path.basename(working_dir))
    if not name:
        raise InvalidArgument(f"cannot derive a project name from {working_dir!r}: pass -p")
    return name


_VALID_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


def normalize_project_name(name: str) -> str:
    """Lower-case *name*, drop characters a project name cannot hold."""
    cleaned = re.sub(r"[^a-z0-9_-]", "", name.lower())
    return cleaned.lstrip("_-")


def to_config_yaml(project: Project) -> str:
    """The project as ``docker compose config`` prints it: normalized, keys sorted."""
    return yaml.safe_dump(project.to_dict(), sort_keys=True, default_flow_style=False,
                          allow_unicode=True)
