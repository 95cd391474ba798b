"""The images a project runs: which exist, building and pulling the rest.

A service with ``build`` is built with the classic ``POST /build`` and
tagged with its image name (``image:``, else ``<project>-<service>``); a
service with only ``image`` is pulled when the daemon lacks it.  ``up``
builds only what is missing unless asked (``--build``); ``build`` always
builds.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, TextIO

from dockyard import errors
from dockyard.cli.flags import key_value_map
from dockyard.compose import convert


def image_id(client: Any, ref: str) -> str | None:
    """The local image's id, None when the daemon has no such image."""
    try:
        return client.get(f"/images/{ref}/json")["Id"]
    except errors.NotFound:
        return None


def build_params(image: str, spec: Mapping[str, Any], dockerfile: str, environ: Mapping[str, str], *,
                 no_cache: bool = False, pull: bool = False, extra_args: Mapping[str, str] | None = None,
                 quiet: bool = False) -> dict[str, Any]:
    """The ``POST /build`` query for a service's ``build`` section."""
    args = {k: (environ.get(k) if v is None else str(v)) for k, v in (spec.get("args") or {}).items()}
    args.update({k: v for k, v in (extra_args or {}).items() if v is not None})
    args = {k: v for k, v in args.items() if v is not None}
    labels = spec.get("labels") or {}
    if isinstance(labels, list):
        labels = key_value_map(labels)
    tags = [image, *[str(t) for t in spec.get("tags") or []]]
    return {
        "t": tags,
        "dockerfile": dockerfile or None,
        "buildargs": json.dumps(args, separators=(",", ":"), sort_keys=True) if args else None,
        "labels": json.dumps(labels, separators=(",", ":"), sort_keys=True) if labels else None,
        "target": spec.get("target") or None,
        "nocache": no_cache or bool(spec.get("no_cache")),
        "pull": pull or bool(spec.get("pull")),
        "networkmode": spec.get("network") or None,
        "shmsize": _bytes(spec["shm_size"]) if spec.get("shm_size") else None,
        "q": quiet,
        "version": "1",
    }


def _bytes(value: Any) -> int:
    from dockyard.cli import units

    return value if isinstance(value, int) else units.ram_in_bytes(str(value))


def build(client: Any, project: str, service_name: str, service: Mapping[str, Any], out: TextIO | None, *,
          environ: Mapping[str, str] | None = None, no_cache: bool = False, pull: bool = False,
          extra_args: Mapping[str, str] | None = None) -> str:
    """Build the service's image; returns its id.  Output (docker's classic
    build stream) goes to *out*, or is kept and shown only on failure."""
    from dockyard.build.context import prepare_context
    from dockyard.cli.build_display import BuildFailed, PlainDisplay, QuietDisplay, follow

    spec = service["build"]
    context_dir = spec["context"]
    if "://" in context_dir:
        raise errors.InvalidArgument(f"service {service_name!r}: remote build contexts are not supported")
    dockerfile = spec.get("dockerfile") or "Dockerfile"
    if spec.get("dockerfile_inline"):
        raise errors.InvalidArgument(f"service {service_name!r}: dockerfile_inline is not supported")
    if not os.path.isabs(dockerfile):
        dockerfile = os.path.join(context_dir, dockerfile)
    image = convert.image_name(project, service_name, service)
    context = prepare_context(context_dir, dockerfile)
    params = build_params(image, spec, context.dockerfile, os.environ if environ is None else environ,
                          no_cache=no_cache, pull=pull, extra_args=extra_args)
    display: Any = PlainDisplay(out) if out is not None else QuietDisplay()
    try:
        image_ref = follow(client.stream_json("POST", "/build", params, context.stream,
                                              {"Content-Type": "application/x-tar"}), display)
    except BuildFailed as exc:
        if isinstance(display, QuietDisplay):
            if out is None:
                raise errors.InvalidArgument(
                    f"failed to build service {service_name!r}:\n{display.output}{exc.message}") from None
        raise errors.InvalidArgument(f"failed to build service {service_name!r}: {exc.message}") from None
    finally:
        context.close()
    return image_id(client, image) or image_ref


def pull(client: Any, ref: str, out: TextIO | None) -> None:
    """Pull *ref* through the daemon, progress (docker's lines) on *out*."""
    from dockyard.cli.distribution import StreamError, Discard, auth_header, display_messages
    from dockyard.images.reference import parse_reference

    parsed = parse_reference(ref)
    params = {"fromImage": parsed.name, "tag": parsed.digest or parsed.tag}
    messages = client.stream_json("POST", "/images/create", params, headers=auth_header(parsed.domain))
    try:
        display_messages(messages, out or Discard(), terminal=False)
    except StreamError as exc:  # the daemon's error, mid-stream
        raise errors.NotFound(exc.message) from None


def push(client: Any, ref: str, out: TextIO | None) -> None:
    from dockyard.cli.distribution import StreamError, Discard, auth_header, display_messages
    from dockyard.images.reference import parse_reference

    parsed = parse_reference(ref)
    messages = client.stream_json("POST", f"/images/{parsed.name}/push", {"tag": parsed.tag},
                                  headers=auth_header(parsed.domain))
    try:
        display_messages(messages, out or Discard(), terminal=False)
    except StreamError as exc:
        raise errors.SystemError(exc.message) from None
