"""``dockyard compose``: docker compose's command line over the engine.

``dockyard compose [-f FILE]... [-p NAME] [--profile P]... COMMAND``.  The
global options choose the files and the project; each command then loads
the project (``dockyard.compose.load_project``) and works through
``dockyard.compose.engine.Engine`` against the daemon the session talks to.
Progress goes to stderr as docker compose's plain progress does; what a
command reports (``ps``, ``config``, ``port``) goes to stdout.

The commands live here (project-wide: up, down, config, build, pull, push,
ls), in ``compose_services`` (ps, start/stop/restart/kill/pause/unpause, rm,
top, images, port), ``compose_exec`` (exec, run) and ``compose_logs``.
"""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING, Any

from dockyard import errors
from dockyard.cli.flags import FlagSet, Options
from dockyard.cli.session import Session, StatusError

if TYPE_CHECKING:
    from dockyard.compose.engine import Engine
    from dockyard.compose.project import Project

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDE_FILES = {"compose.yaml": ("compose.override.yaml", "compose.override.yml"),
                  "compose.yml": ("compose.override.yaml", "compose.override.yml"),
                  "docker-compose.yaml": ("docker-compose.override.yaml", "docker-compose.override.yml"),
                  "docker-compose.yml": ("docker-compose.override.yaml", "docker-compose.override.yml")}

_SERVICES = "dockyard.cli.compose_services"
_EXEC = "dockyard.cli.compose_exec"
_LOGS = "dockyard.cli.compose_logs"
_HERE = "dockyard.cli.compose"

SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "build": (_HERE, "cmd_build", "Build or rebuild services"),
    "config": (_HERE, "cmd_config", "Parse, resolve and render compose file in canonical format"),
    "down": (_HERE, "cmd_down", "Stop and remove containers, networks"),
    "exec": (_EXEC, "cmd_exec", "Execute a command in a running container"),
    "images": (_SERVICES, "cmd_images", "List images used by the created containers"),
    "kill": (_SERVICES, "cmd_kill", "Force stop service containers"),
    "logs": (_LOGS, "cmd_logs", "View output from containers"),
    "ls": (_HERE, "cmd_ls", "List running compose projects"),
    "pause": (_SERVICES, "cmd_pause", "Pause services"),
    "port": (_SERVICES, "cmd_port", "Print the public port for a port binding"),
    "ps": (_SERVICES, "cmd_ps", "List containers"),
    "pull": (_HERE, "cmd_pull", "Pull service images"),
    "push": (_HERE, "cmd_push", "Push service images"),
    "restart": (_SERVICES, "cmd_restart", "Restart service containers"),
    "rm": (_SERVICES, "cmd_rm", "Removes stopped service containers"),
    "run": (_EXEC, "cmd_run", "Run a one-off command on a service"),
    "start": (_SERVICES, "cmd_start", "Start services"),
    "stop": (_SERVICES, "cmd_stop", "Stop services"),
    "top": (_SERVICES, "cmd_top", "Display the running processes"),
    "unpause": (_SERVICES, "cmd_unpause", "Unpause services"),
    "up": (_HERE, "cmd_up", "Create and start containers"),
    "version": (_HERE, "cmd_version", "Show the Docker Compose version information"),
}


# The rest work from a project name alone (-p) when there is no compose file.
NEEDS_FILE = {"build", "config", "pull", "push", "run", "up"}


def compose_flags() -> FlagSet:
    flags = FlagSet("compose", "[OPTIONS] COMMAND", "Define and run multi-container applications",
                    interspersed=False)
    flags.list("file", "f", "Compose configuration files")
    flags.string("project-name", "p", "Project name")
    flags.list("profile", None, "Specify a profile to enable")
    flags.list("env-file", None, "Specify an alternate environment file")
    flags.string("project-directory", None, "Specify an alternate working directory "
                 "(default: the path of the, first specified, Compose file)")
    flags.string("progress", None, 'Set type of progress output ("auto", "tty", "plain", "quiet")')
    flags.string("ansi", None, 'Control when to print ANSI control characters ("never"|"always"|"auto")',
                 default="auto")
    flags.int("parallel", None, "Control max parallelism, -1 for unlimited", default=-1)
    flags.bool("dry-run", None, "Execute command in dry run mode (not supported)", hidden=True)
    return flags


def usage() -> str:
    """docker compose's help: its commands, then the global options."""
    width = max(map(len, SUBCOMMANDS)) + 3
    lines = ["Usage:  dockyard compose [OPTIONS] COMMAND", "",
             "Define and run multi-container applications", "", "Commands:"]
    lines += [f"  {name.ljust(width)}{desc}" for name, (_, _, desc) in SUBCOMMANDS.items()]
    options = compose_flags().help_text().split("Options:\n", 1)[1]
    lines += ["", "Options:", options.rstrip("\n"), "",
              "Run 'dockyard compose COMMAND --help' for more information on a command."]
    return "\n".join(lines) + "\n"


class Compose:
    """One invocation: the session, the global options, the project (loaded
    on first use) and an engine over it."""

    def __init__(self, session: Session, opts: Options):
        self.session = session
        self.opts = opts
        self._project: Project | None = None
        self._engine: Engine | None = None
        self.files: list[str] = []
        self.needs_file = True   # the command reads the model, not just the labels
        self.modeled = True

    @property
    def project(self) -> Project:
        if self._project is None:
            from dockyard.compose import Project, load_project

            try:
                self.files = find_files(self.opts.file, self.opts.project_directory)
            except StatusError:
                # docker compose's commands that only act on what exists
                # (down, ps, logs, stop…) work from the name alone.
                if not self.opts.project_name or self.needs_file:
                    raise
                self.modeled = False
                self._project = Project(name=self.opts.project_name, working_dir=os.getcwd())
                return self._project
            self._project = load_project(self.files, dict(os.environ), self.opts.project_name or None,
                                         self.opts.profile or None,
                                         working_dir=self.opts.project_directory or None,
                                         env_files=self.opts.env_file or None)
            for warning in self._project.warnings:
                self.session.err(f'WARN[0000] {warning}')
        return self._project

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from dockyard.client.api import APIClient
            from dockyard.compose.engine import Engine
            from dockyard.compose.progress import Progress

            quiet = self.opts.progress == "quiet"
            self._engine = Engine(self.project, lambda: APIClient(self.session.host),
                                  Progress(self.session.stderr, quiet=quiet),
                                  config_files=self.files, modeled=self.modeled,
                                  build_output=None if quiet else self.session.stderr,
                                  pull_output=None if quiet else self.session.stderr,
                                  parallel=max(self.opts.parallel, 0))
        return self._engine

    def color(self, no_color: bool) -> bool | None:
        """Coloured log prefixes: never with --no-color or --ansi never,
        always with --ansi always, else when stdout is a terminal (None)."""
        if no_color or self.opts.ansi == "never":
            return False
        return True if self.opts.ansi == "always" else None

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


def find_files(given: list[str], directory: str | None) -> list[str]:
    """``-f`` files, else ``COMPOSE_FILE``, else compose.yaml (and its
    override) in the directory or the nearest parent that has one."""
    if given:
        files = []
        for f in given:
            if f == "-":
                raise StatusError("reading a compose file from stdin is not supported", 1)
            files.append(os.path.abspath(f))
        return files
    if os.environ.get("COMPOSE_FILE"):
        sep = os.environ.get("COMPOSE_PATH_SEPARATOR", os.pathsep)
        return [os.path.abspath(f) for f in os.environ["COMPOSE_FILE"].split(sep) if f]
    here = os.path.abspath(directory or os.getcwd())
    while True:
        for name in DEFAULT_FILES:
            path = os.path.join(here, name)
            if os.path.isfile(path):
                overrides = [os.path.join(here, o) for o in OVERRIDE_FILES[name]]
                return [path] + [o for o in overrides if os.path.isfile(o)][:1]
        parent = os.path.dirname(here)
        if parent == here:
            raise StatusError("no configuration file provided: not found", 1)
        here = parent


def cmd_compose(session: Session, argv: list[str]) -> int:
    from dockyard.cli.flags import HelpRequested

    try:
        opts, args = compose_flags().parse(argv)
    except HelpRequested:
        session.out(usage(), end="")
        return 0
    if opts.dry_run:
        raise StatusError("--dry-run is not supported by dockyard compose", 1)
    if opts.ansi not in ("auto", "never", "always"):
        raise StatusError(f'invalid --ansi value {opts.ansi!r}: use "auto", "never" or "always"', 1)
    if not opts.parallel:
        raise StatusError("--parallel must be -1 (no limit) or at least 1", 1)
    if not args or args[0] in ("help", "-h", "--help"):
        session.out(usage(), end="")
        return 0
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        raise StatusError(f"unknown docker command: \"compose {name}\"\n"
                          "Run 'dockyard compose --help' for more information", 1)
    module, function, _ = SUBCOMMANDS[name]
    compose = Compose(session, opts)
    compose.needs_file = name in NEEDS_FILE
    try:
        return getattr(__import__(module, fromlist=[function]), function)(compose, rest)
    finally:
        compose.close()


def services_flags(command: str, usage: str, description: str, **kw: Any) -> FlagSet:
    return FlagSet(f"compose {command}", usage, description, **kw)


# -- up and down --------------------------------------------------------------------------


def cmd_up(c: Compose, argv: list[str]) -> int:
    flags = services_flags("up", "[OPTIONS] [SERVICE...]", "Create and start containers")
    flags.bool("detach", "d", "Detached mode: Run containers in the background")
    flags.bool("build", None, "Build images before starting containers")
    flags.bool("no-build", None, "Don't build an image, even if it's policy")
    flags.bool("force-recreate", None, "Recreate containers even if their configuration and image "
               "haven't changed")
    flags.bool("no-recreate", None, "If containers already exist, don't recreate them")
    flags.bool("no-deps", None, "Don't start linked services")
    flags.bool("no-start", None, "Don't start the services after creating them")
    flags.list("scale", None, "Scale SERVICE to NUM instances. Overrides the scale setting in the "
               "Compose file if present.", type_name="scale")
    flags.bool("wait", None, "Wait for services to be running|healthy. Implies detached mode.")
    flags.int("wait-timeout", None, "Maximum duration in seconds to wait for the project to be "
              "running|healthy")
    flags.bool("remove-orphans", None, "Remove containers for services not defined in the Compose file")
    flags.bool("abort-on-container-exit", None, "Stops all containers if any container was stopped. "
               "Incompatible with -d")
    flags.string("exit-code-from", None, "Return the exit code of the selected service container. "
                 "Implies --abort-on-container-exit")
    flags.int("timeout", "t", "Use this timeout in seconds for container shutdown when attached or "
              "when containers are already running", default=-1)
    flags.string("pull", None, 'Pull image before running ("always"|"missing"|"never")', default="policy")
    flags.bool("quiet-pull", None, "Pull without printing progress information")
    flags.bool("no-color", None, "Produce monochrome output")
    flags.bool("no-log-prefix", None, "Don't print prefix in logs")
    flags.bool("renew-anon-volumes", "V", "Recreate anonymous volumes instead of retrieving data from "
               "the previous containers")
    flags.bool("timestamps", None, "Show timestamps")
    opts, services = flags.parse(argv)
    if opts.exit_code_from:
        opts.abort_on_container_exit = True
    if opts.detach and opts.abort_on_container_exit:
        raise StatusError('--abort-on-container-exit and --detach are incompatible', 1)
    if opts.force_recreate and opts.no_recreate:
        raise StatusError("--force-recreate and --no-recreate are incompatible", 1)
    if opts.build and opts.no_build:
        raise StatusError("--build and --no-build are incompatible", 1)
    scales = parse_scales(opts.scale)
    timeout = None if opts.timeout < 0 else opts.timeout
    engine = c.engine
    if opts.exit_code_from:
        engine.service_names([opts.exit_code_from])
    if opts.quiet_pull:
        engine.pull_output = None
    began = time.time()
    ids = engine.up(services or None, no_deps=opts.no_deps, force_recreate=opts.force_recreate,
                    no_recreate=opts.no_recreate, build=opts.build, no_build=opts.no_build,
                    scales=scales, remove_orphans=opts.remove_orphans, start=not opts.no_start,
                    timeout=timeout, pull_policy=None if opts.pull == "policy" else opts.pull,
                    renew_anon_volumes=opts.renew_anon_volumes)
    if opts.no_start:
        return 0
    if opts.wait:
        engine.wait_running(ids, opts.wait_timeout or None)
        return 0
    if opts.detach:
        return 0
    return attach(c, ids, opts, timeout, began)


def attach(c: Compose, ids: list[str], opts: Options, timeout: int | None, since: float) -> int:
    """``up`` in the foreground: every container's output from *since* (when
    ``up`` began: a restarted container's earlier runs are not shown) until
    all have exited (or, with --abort-on-container-exit, the first) and none
    was restarted; Ctrl-C stops them."""
    from dockyard.cli.compose_logs import LogMux

    engine = c.engine
    rows = {r["Id"]: r for r in engine.containers()}
    mux = LogMux(c.session, color=c.color(opts.no_color), prefix=not opts.no_log_prefix,
                 timestamps=opts.timestamps)
    from dockyard.compose import convert

    attached = [rows[cid] for cid in ids if cid in rows]
    services = {convert.row_service(r) for r in attached}
    mux.follow_all(attached, report_exit=True, since=f"{since:.9f}")
    if not opts.abort_on_container_exit:
        # A container its restart policy brings back is followed again.
        mux.watch(c.project.name, services, since, follow=True)
    if c.session.stdout.isatty():
        c.session.err("Attaching to " + ", ".join(mux.names))
    exit_code = 0
    interrupted = False
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        first = mux.wait(until_first=opts.abort_on_container_exit)
        if opts.abort_on_container_exit and first is not None:
            exit_code = first[1]
            c.session.err("Aborting on container exit...")
        else:
            # Every stream ended; one a restart policy brings back is followed
            # again by the watcher, so wait until none is coming back.
            while engine.containers(services, stopped=False):
                time.sleep(0.2)
                mux.wait()
    except KeyboardInterrupt:
        interrupted = True
        c.session.err("Gracefully stopping... (press Ctrl+C again to force)")
    finally:
        signal.signal(signal.SIGTERM, previous)
    if interrupted or opts.abort_on_container_exit:
        running = [r for r in engine.containers(stopped=False) if r["Id"] in ids]
        from dockyard.cli.compose_services import stop_rows

        stop_rows(c, running, timeout)
    mux.close()
    if opts.exit_code_from:
        wanted = [r for r in engine.containers([opts.exit_code_from])]
        if not wanted:
            raise StatusError(f"no such service: {opts.exit_code_from}", 1)
        info = engine.client.get(f"/containers/{wanted[0]['Id']}/json")
        return int((info.get("State") or {}).get("ExitCode") or 0)
    return 130 if interrupted else exit_code


def parse_scales(values: list[str]) -> dict[str, int]:
    scales = {}
    for value in values:
        name, eq, number = value.partition("=")
        try:
            if not eq or not name:
                raise ValueError
            scales[name] = int(number)
            if scales[name] < 0:
                raise ValueError
        except ValueError:
            raise StatusError(f"invalid --scale value {value!r}: use SERVICE=NUM", 1) from None
    return scales


def cmd_down(c: Compose, argv: list[str]) -> int:
    flags = services_flags("down", "[OPTIONS] [SERVICE...]", "Stop and remove containers, networks "
                           "(given services: only their containers and their dependents')")
    flags.bool("volumes", "v", "Remove named volumes declared in the \"volumes\" section of the "
               "Compose file and anonymous volumes attached to containers")
    flags.string("rmi", None, 'Remove images used by services. "local" remove only images that '
                 "don't have a custom tag (\"local\"|\"all\")")
    flags.bool("remove-orphans", None, "Remove containers for services not defined in the Compose file")
    flags.int("timeout", "t", "Specify a shutdown timeout in seconds", default=-1)
    opts, services = flags.parse(argv)
    if opts.rmi and opts.rmi not in ("local", "all"):
        raise StatusError(f'invalid value for --rmi: {opts.rmi}', 1)
    from dockyard.compose import teardown

    teardown.down(c.engine, services, volumes=opts.volumes, rmi=opts.rmi or None,
                  remove_orphans=opts.remove_orphans, timeout=None if opts.timeout < 0 else opts.timeout)
    return 0


# -- the model ---------------------------------------------------------------------------------


def cmd_config(c: Compose, argv: list[str]) -> int:
    import json

    from dockyard.compose import to_config_yaml

    flags = services_flags("config", "[OPTIONS] [SERVICE...]",
                           "Parse, resolve and render compose file in canonical format")
    flags.bool("services", None, "Print the service names, one per line.")
    flags.bool("volumes", None, "Print the volume names, one per line.")
    flags.bool("networks", None, "Print the network names, one per line.")
    flags.bool("images", None, "Print the image names, one per line.")
    flags.bool("profiles", None, "Print the profile names, one per line.")
    flags.string("hash", None, 'Print the service config hash, one per line ("*" for all).')
    flags.bool("quiet", "q", "Only validate the configuration, don't print anything.")
    flags.string("format", None, 'Format the output. Values: [yaml | json]', default="yaml")
    flags.string("output", "o", "Save to file (default to stdout)")
    opts, services = flags.parse(argv)
    project = c.project
    if opts.quiet:
        return 0
    from dockyard.compose import convert

    if opts.services:
        from dockyard.compose.plan import dependency_order

        # Dependencies first, as docker compose walks them.
        lines = dependency_order(project.services, sorted(project.services))
    elif opts.volumes:
        lines = list(project.volumes)
    elif opts.networks:
        lines = list(project.networks)
    elif opts.images:
        lines = [convert.image_name(project.name, n, s) for n, s in project.services.items()]
    elif opts.profiles:
        lines = sorted({p for s in project.services.values() for p in s.get("profiles") or []})
    elif opts.hash:
        names = sorted(project.services) if opts.hash == "*" else opts.hash.split(",")
        lines = [f"{n} {convert.config_hash(project.services[n])}" for n in names if n in project.services]
    else:
        if services:
            missing = [s for s in services if s not in project.services]
            if missing:
                raise StatusError(f"no such service: {missing[0]}", 1)
        if opts.format == "json":
            text = json.dumps(project.to_dict(), indent=4, sort_keys=True) + "\n"
        elif opts.format == "yaml":
            text = to_config_yaml(project)
        else:
            raise StatusError(f"unsupported format {opts.format!r}", 1)
        if opts.output:
            with open(opts.output, "w", encoding="utf-8") as f:
                f.write(text)
        else:
            c.session.out(text, end="")
        return 0
    for line in lines:
        c.session.out(line)
    return 0


def cmd_version(c: Compose, argv: list[str]) -> int:
    from dockyard import __version__

    flags = services_flags("version", "[OPTIONS]", "Show the Docker Compose version information", max_args=0)
    flags.bool("short", None, "Shows only Compose's version number")
    flags.string("format", "f", "Format the output. Values: [pretty | json]")
    opts, _ = flags.parse(argv)
    if opts.format == "json":
        import json

        c.session.out(json.dumps({"version": __version__}))
    elif opts.format not in (None, "", "pretty"):
        raise StatusError(f"unsupported format {opts.format!r}: use pretty or json", 1)
    else:
        c.session.out(__version__ if opts.short else f"dockyard compose version {__version__}")
    return 0


def selected_services(c: Compose, services: list[str], include_deps: bool) -> list[str]:
    """The services named (all when none), with what they depend on if asked."""
    names = c.engine.service_names(services or None)
    if include_deps:
        from dockyard.compose.plan import with_dependencies

        names = with_dependencies(c.project.services, names)
    return names


def cmd_ls(c: Compose, argv: list[str]) -> int:
    from dockyard.cli.formatter import tabwrite
    from dockyard.compose import convert

    flags = services_flags("ls", "[OPTIONS]", "List running compose projects", max_args=0)
    flags.bool("all", "a", "Show all stopped Compose projects")
    flags.bool("quiet", "q", "Only display project names.")
    opts, _ = flags.parse(argv)
    rows = c.session.client.get("/containers/json", {"all": opts.all,
                                                     "filters": {"label": [convert.PROJECT]}})
    projects: dict[str, dict[str, Any]] = {}
    for r in rows:
        labels = r.get("Labels") or {}
        p = projects.setdefault(labels[convert.PROJECT], {"states": {}, "files": set()})
        p["states"][r.get("State", "")] = p["states"].get(r.get("State", ""), 0) + 1
        if labels.get(convert.CONFIG_FILES):
            p["files"].add(labels[convert.CONFIG_FILES])
    if opts.quiet:
        for name in sorted(projects):
            c.session.out(name)
        return 0
    lines = ["NAME\tSTATUS\tCONFIG FILES"]
    for name in sorted(projects):
        p = projects[name]
        status = ", ".join(f"{s}({n})" for s, n in sorted(p["states"].items()))
        lines.append(f"{name}\t{status}\t{','.join(sorted(p['files']))}")
    c.session.out(tabwrite("\n".join(lines) + "\n"), end="")
    return 0


# -- images -----------------------------------------------------------------------------------


def cmd_build(c: Compose, argv: list[str]) -> int:
    flags = services_flags("build", "[OPTIONS] [SERVICE...]", "Build or rebuild services")
    flags.list("build-arg", None, "Set build-time variables for services")
    flags.bool("no-cache", None, "Do not use cache when building the image")
    flags.bool("pull", None, "Always attempt to pull a newer version of the image")
    flags.bool("quiet", "q", "Don't print anything to STDOUT")
    flags.bool("with-dependencies", None, "Also build dependencies (transitively)")
    opts, services = flags.parse(argv)
    engine = c.engine
    names = selected_services(c, services, opts.with_dependencies)
    from dockyard.cli.build import build_args

    args = build_args(opts.build_arg, os.environ)  # unset ones are left out of the build
    if opts.quiet:
        engine.build_output = None
    for name in names:
        if "build" in c.project.services[name]:
            engine.build(name, no_cache=opts.no_cache, pull=opts.pull, extra_args=args)
    return 0


def cmd_pull(c: Compose, argv: list[str]) -> int:
    from dockyard.compose import images

    flags = services_flags("pull", "[OPTIONS] [SERVICE...]", "Pull service images")
    flags.bool("ignore-pull-failures", None, "Pull what it can and ignores images with pull failures")
    flags.bool("ignore-buildable", None, "Ignore images that can be built")
    flags.bool("include-deps", None, "Also pull services declared as dependencies")
    flags.bool("quiet", "q", "Pull without printing progress information")
    opts, services = flags.parse(argv)
    # A service that can be built is pulled only when it names an image, and
    # failing to pull it is not an error (up builds it).
    chosen = {name: "build" in svc for name, svc in c.project.services.items()
              if not ("build" in svc and (opts.ignore_buildable or not svc.get("image")))}
    _transfer(c, [n for n in selected_services(c, services, opts.include_deps) if n in chosen],
              images.pull, ("Pulling", "Pulled"), quiet=opts.quiet,
              tolerate=lambda name: opts.ignore_pull_failures or chosen[name])
    return 0


def cmd_push(c: Compose, argv: list[str]) -> int:
    from dockyard.compose import images

    flags = services_flags("push", "[OPTIONS] [SERVICE...]", "Push service images")
    flags.bool("ignore-push-failures", None, "Push what it can and ignores images with push failures")
    flags.bool("include-deps", None, "Also push images of services declared as dependencies")
    flags.bool("quiet", "q", "Push without printing progress information")
    opts, services = flags.parse(argv)
    # docker compose pushes only the services that name their image.
    names = [n for n in selected_services(c, services, opts.include_deps) if c.project.services[n].get("image")]
    _transfer(c, names, images.push, ("Pushing", "Pushed"), quiet=opts.quiet,
              tolerate=lambda name: opts.ignore_push_failures)
    return 0


def _transfer(c: Compose, names: list[str], move: Any, words: tuple[str, str], *, quiet: bool,
              tolerate: Any) -> None:
    """Pull or push each service's image; a failure *tolerate* allows is a warning."""
    from dockyard.compose import convert

    engine = c.engine
    for name in names:
        ref = convert.image_name(c.project.name, name, c.project.services[name])
        engine.progress.event("Image", ref, words[0])
        try:
            move(engine.client, ref, None if quiet else c.session.stderr)
        except errors.DockyardError as exc:
            if not tolerate(name):
                raise
            engine.progress.warn(f"{name}: {exc}")
            continue
        engine.progress.event("Image", ref, words[1])
