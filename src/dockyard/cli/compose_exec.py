"""``compose exec`` and ``compose run``: a command in a service's container,
or in a one-off container made from the service's configuration.

Both hand the terminal work to the plain commands (``dockyard exec``'s and
``dockyard run``'s attach), so streams, TTYs, detach keys and exit statuses
behave exactly as there.  A TTY is allocated when stdin is one, unless
``-T``, as docker compose does.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from dockyard.cli.compose import Compose, services_flags
from dockyard.cli.flags import key_value_map
from dockyard.cli.session import StatusError
from dockyard import errors
from dockyard.compose import convert
from dockyard.compose.containers import container_body


def cmd_exec(c: Compose, argv: list[str]) -> int:
    from dockyard.cli import execs

    flags = services_flags("exec", "[OPTIONS] SERVICE COMMAND [ARGS...]",
                           "Execute a command in a running container", min_args=2, interspersed=False)
    flags.bool("detach", "d", "Detached mode: Run command in the background")
    flags.list("env", "e", "Set environment variables")
    flags.int("index", None, "Index of the container if service has multiple replicas", default=1)
    flags.bool("no-TTY", "T", "Disable pseudo-TTY allocation. By default `compose exec` allocates a TTY.")
    flags.bool("interactive", "i", "Keep STDIN open even if not attached", default=True, hidden=True)
    flags.bool("tty", "t", "Allocate a pseudo-TTY", default=True, hidden=True)
    flags.bool("privileged", None, "Give extended privileges to the process")
    flags.string("user", "u", "Run the command as this user")
    flags.string("workdir", "w", "Path to workdir directory for this command")
    opts, args = flags.parse(argv)
    service, command = args[0], args[1:]
    engine = c.engine
    engine.service_names([service])
    rows = [r for r in engine.containers([service], stopped=False)
            if convert.row_number(r) == opts.index]
    if not rows:
        raise StatusError(f"service {service!r} is not running", 1)
    exec_argv = []
    if not opts.detach and opts.interactive:
        exec_argv.append("-i")
    if not opts.no_TTY and opts.tty and os.isatty(0) and not opts.detach:
        exec_argv.append("-t")
    if opts.detach:
        exec_argv.append("-d")
    for value in opts.env:
        exec_argv += ["-e", value]
    if opts.user:
        exec_argv += ["-u", opts.user]
    if opts.workdir:
        exec_argv += ["-w", opts.workdir]
    if opts.privileged:
        exec_argv.append("--privileged")
    exec_argv += [rows[0]["Id"], *command]
    return execs.cmd_exec(c.session, exec_argv)


def cmd_run(c: Compose, argv: list[str]) -> int:
    from dockyard.cli.run import attach_and_start, run_error
    from dockyard.compose.plan import with_dependencies

    flags = services_flags("run", "[OPTIONS] SERVICE [COMMAND] [ARGS...]", "Run a one-off command on a service",
                           min_args=1, interspersed=False)
    flags.bool("rm", None, "Automatically remove the container when it exits")
    flags.bool("detach", "d", "Run container in background and print container ID")
    flags.list("env", "e", "Set environment variables")
    flags.list("label", "l", "Add or override a label")
    flags.string("entrypoint", None, "Override the entrypoint of the image")
    flags.string("name", None, "Assign a name to the container")
    flags.bool("no-TTY", "T", "Disable pseudo-TTY allocation (default: auto-detected)")
    flags.bool("interactive", "i", "Keep STDIN open even if not attached", default=True)
    flags.bool("tty", "t", "Allocate a pseudo-TTY", default=True, hidden=True)
    flags.bool("no-deps", None, "Don't start linked services")
    flags.list("publish", "p", "Publish a container's port(s) to the host")
    flags.bool("service-ports", "P", "Run command with all service's ports enabled and mapped to the host")
    flags.bool("use-aliases", None, "Use the service's network useAliases in the network(s) the container "
               "connects to")
    flags.string("user", "u", "Run as specified username or uid")
    flags.list("volume", "v", "Bind mount a volume")
    flags.string("workdir", "w", "Working directory inside the container")
    flags.bool("build", None, "Build image before starting container")
    flags.bool("remove-orphans", None, "Remove containers for services not defined in the Compose file")
    flags.bool("quiet-pull", None, "Pull without printing progress information")
    opts, args = flags.parse(argv)
    service, command = args[0], args[1:]
    engine = c.engine
    engine.service_names([service])
    if opts.quiet_pull:
        engine.pull_output = None
    project = c.project
    deps = [d for d in with_dependencies(project.services, [service]) if d != service]
    if deps and not opts.no_deps:
        engine.up(deps)
    if opts.remove_orphans:
        from dockyard.compose import teardown

        teardown.remove_containers(engine, engine.orphans())
    image_ids = engine.ensure_images([service], build=opts.build)
    svc = _one_off(project, service, opts, command)
    engine.prepare_resources([service])
    if not opts.no_deps:
        engine.await_dependencies(service)
    slug = secrets.token_hex(6)
    body = container_body(engine.view, service, svc, None, image_id=image_ids[service], oneoff=True,
                          use_aliases=opts.use_aliases, peer=engine.peers(svc), slug=slug)
    tty = opts.tty and not opts.no_TTY and os.isatty(0) and not opts.detach
    stdin = opts.interactive and not opts.detach
    body.update(Tty=tty, OpenStdin=stdin, StdinOnce=stdin, AttachStdin=stdin,
                AttachStdout=not opts.detach, AttachStderr=not opts.detach)
    body["HostConfig"].pop("RestartPolicy", None)  # a one-off runs once
    if opts.rm:
        body["HostConfig"]["AutoRemove"] = True
    name = opts.name or f"{project.name}-{service}-run-{slug}"
    cid = engine.client.post("/containers/create", {"name": name}, body)["Id"]
    if opts.detach:
        try:
            engine.client.post(f"/containers/{cid}/start")
        except errors.DockyardError as exc:
            raise run_error(exc) from None
        c.session.out(cid)
        return 0
    return attach_and_start(c.session, cid, tty=tty, stdin=stdin, auto_remove=opts.rm, command="run")


def _one_off(project: Any, service: str, opts: Any, command: list[str]) -> dict[str, Any]:
    """The service's configuration with ``run``'s overrides applied."""
    import shlex

    from dockyard.compose.normalize import parse_port, parse_volume

    svc = dict(project.services[service])
    where = f"service {service!r}"
    if command:
        svc["command"] = command
    if opts.entrypoint is not None and "entrypoint" in opts.changed:
        svc["entrypoint"] = shlex.split(opts.entrypoint)
    if opts.env:
        env = dict(svc.get("environment") or {})
        for item in opts.env:
            key, eq, value = item.partition("=")
            env[key] = value if eq else os.environ.get(key)
        svc["environment"] = env
    if opts.label:
        svc["labels"] = {**(svc.get("labels") or {}), **key_value_map(opts.label)}
    if opts.user:
        svc["user"] = opts.user
    if opts.workdir:
        svc["working_dir"] = opts.workdir
    ports = list(svc.get("ports") or []) if opts.service_ports else []
    for spec in opts.publish:
        ports += parse_port(spec, where)
    svc["ports"] = ports
    if opts.volume:
        svc["volumes"] = list(svc.get("volumes") or []) + [parse_volume(v, project.working_dir, where)
                                                           for v in opts.volume]
    svc.pop("container_name", None)
    return svc
