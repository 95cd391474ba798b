"""``dockyard``: global options, then dispatch to one command.

The command table maps a command path to "module:function"; the module is
imported only when its command runs, so ``dockyard ps`` loads the client,
the formatter and ``containers`` and nothing else.

Exit statuses follow docker's CLI: 0 success; 1 for daemon errors and
wrong argument counts; 125 for bad flags and failures before a container
runs; 126/127 for a container command that cannot be executed or found;
otherwise ``run``/``start -a`` exit with the container's own status.
"""

from __future__ import annotations

import sys

from dockyard import __version__

_CONTAINER = "dockyard.cli.containers"
_RUN = "dockyard.cli.run"
_IMAGES = "dockyard.cli.images"
_SYSTEM = "dockyard.cli.system"
_EXEC = "dockyard.cli.execs"
_PROC = "dockyard.cli.processes"
_SETTINGS = "dockyard.cli.settings"
_STATS = "dockyard.cli.stats"
_FS = "dockyard.cli.filesystem"
_VOLUMES = "dockyard.cli.volumes"
_PRUNE = "dockyard.cli.prune"
_DF = "dockyard.cli.diskusage"
_BUILD = "dockyard.cli.build"
_NETWORKS = "dockyard.cli.networks"
_DISTRIBUTION = "dockyard.cli.distribution"
_REGISTRY = "dockyard.cli.registry"
_ARCHIVES = "dockyard.cli.image_archives"

COMMANDS: dict[str, tuple[str, str, str]] = {
    # name: (module, function, one-line description for --help)
    "attach": (_RUN, "cmd_attach", "Attach local standard input, output, and error streams "
               "to a running container"),
    "build": (_BUILD, "cmd_build", "Build an image from a Dockerfile"),
    "compose": ("dockyard.cli.compose", "cmd_compose", "Define and run multi-container applications"),
    "commit": (_FS, "cmd_commit", "Create a new image from a container's changes"),
    "cp": (_FS, "cmd_cp", "Copy files/folders between a container and the local filesystem"),
    "create": (_RUN, "cmd_create", "Create a new container"),
    "diff": (_FS, "cmd_diff", "Inspect changes to files or directories on a container's "
             "filesystem"),
    "events": (_SYSTEM, "cmd_events", "Get real time events from the server"),
    "exec": (_EXEC, "cmd_exec", "Execute a command in a running container"),
    "export": (_FS, "cmd_export", "Export a container's filesystem as a tar archive"),
    "history": (_IMAGES, "cmd_history", "Show the history of an image"),
    "images": (_IMAGES, "cmd_images", "List images"),
    "import": (_IMAGES, "cmd_import", "Import the contents from a tarball to create a "
               "filesystem image"),
    "info": (_SYSTEM, "cmd_info", "Display system-wide information"),
    "inspect": (_SYSTEM, "cmd_inspect", "Return low-level information on Docker objects"),
    "kill": (_CONTAINER, "cmd_kill", "Kill one or more running containers"),
    "load": (_ARCHIVES, "cmd_load", "Load an image from a tar archive or STDIN"),
    "login": (_DISTRIBUTION, "cmd_login", "Authenticate to a registry"),
    "logout": (_DISTRIBUTION, "cmd_logout", "Log out from a registry"),
    "logs": (_CONTAINER, "cmd_logs", "Fetch the logs of a container"),
    "pause": (_PROC, "cmd_pause", "Pause all processes within one or more containers"),
    "port": (_SETTINGS, "cmd_port", "List port mappings or a specific mapping for the "
             "container"),
    "ps": (_CONTAINER, "cmd_ps", "List containers"),
    "pull": (_DISTRIBUTION, "cmd_pull", "Download an image from a registry"),
    "push": (_DISTRIBUTION, "cmd_push", "Upload an image to a registry"),
    "rename": (_SETTINGS, "cmd_rename", "Rename a container"),
    "restart": (_CONTAINER, "cmd_restart", "Restart one or more containers"),
    "rm": (_CONTAINER, "cmd_rm", "Remove one or more containers"),
    "rmi": (_IMAGES, "cmd_rmi", "Remove one or more images"),
    "run": (_RUN, "cmd_run", "Create and run a new container from an image"),
    "save": (_ARCHIVES, "cmd_save", "Save one or more images to a tar archive (streamed to STDOUT "
             "by default)"),
    "search": (_DISTRIBUTION, "cmd_search", "Search for images"),
    "start": (_RUN, "cmd_start", "Start one or more stopped containers"),
    "stats": (_STATS, "cmd_stats", "Display a live stream of container(s) resource usage "
              "statistics"),
    "stop": (_CONTAINER, "cmd_stop", "Stop one or more running containers"),
    "tag": (_IMAGES, "cmd_tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "top": (_PROC, "cmd_top", "Display the running processes of a container"),
    "unpause": (_PROC, "cmd_unpause", "Unpause all processes within one or more containers"),
    "update": (_SETTINGS, "cmd_update", "Update configuration of one or more containers"),
    "version": (_SYSTEM, "cmd_version", "Show the dockyard version information"),
    "wait": (_CONTAINER, "cmd_wait", "Block until one or more containers stop, then print "
             "their exit codes"),
}

GROUPS: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "builder": ("Manage builds", {
        "build": (_BUILD, "cmd_builder_build"), "prune": (_PRUNE, "cmd_builder_prune"),
    }),
    "container": ("Manage containers", {
        "attach": (_RUN, "cmd_attach"), "create": (_RUN, "cmd_create"),
        "compose": ("dockyard.cli.compose", "cmd_compose", "Define and run multi-container applications"),
    "commit": (_FS, "cmd_commit"), "cp": (_FS, "cmd_cp"), "diff": (_FS, "cmd_diff"),
        "exec": (_EXEC, "cmd_exec"), "export": (_FS, "cmd_export"),
        "pause": (_PROC, "cmd_pause"), "unpause": (_PROC, "cmd_unpause"),
        "top": (_PROC, "cmd_top"), "port": (_SETTINGS, "cmd_port"),
        "rename": (_SETTINGS, "cmd_rename"), "update": (_SETTINGS, "cmd_update"),
        "stats": (_STATS, "cmd_stats"),
        "inspect": (_SYSTEM, "cmd_container_inspect"), "kill": (_CONTAINER, "cmd_kill"),
        "logs": (_CONTAINER, "cmd_logs"), "ls": (_CONTAINER, "cmd_ps"),
        "list": (_CONTAINER, "cmd_ps"), "ps": (_CONTAINER, "cmd_ps"),
        "prune": (_PRUNE, "cmd_container_prune"), "restart": (_CONTAINER, "cmd_restart"),
        "rm": (_CONTAINER, "cmd_rm"), "remove": (_CONTAINER, "cmd_rm"),
        "run": (_RUN, "cmd_run"), "start": (_RUN, "cmd_start"),
        "stop": (_CONTAINER, "cmd_stop"), "wait": (_CONTAINER, "cmd_wait"),
    }),
    "image": ("Manage images", {
        "build": (_BUILD, "cmd_image_build"),
        "history": (_IMAGES, "cmd_image_history"), "import": (_IMAGES, "cmd_image_import"),
        "inspect": (_SYSTEM, "cmd_image_inspect"), "ls": (_IMAGES, "cmd_image_ls"),
        "list": (_IMAGES, "cmd_image_ls"), "prune": (_PRUNE, "cmd_image_prune"),
        "rm": (_IMAGES, "cmd_image_rm"), "remove": (_IMAGES, "cmd_image_rm"),
        "tag": (_IMAGES, "cmd_image_tag"),
        "pull": (_DISTRIBUTION, "cmd_image_pull"), "push": (_DISTRIBUTION, "cmd_image_push"),
        "load": (_ARCHIVES, "cmd_image_load"), "save": (_ARCHIVES, "cmd_image_save"),
    }),
    "network": ("Manage networks", {
        "connect": (_NETWORKS, "cmd_network_connect"),
        "create": (_NETWORKS, "cmd_network_create"),
        "disconnect": (_NETWORKS, "cmd_network_disconnect"),
        "inspect": (_NETWORKS, "cmd_network_inspect"),
        "ls": (_NETWORKS, "cmd_network_ls"), "list": (_NETWORKS, "cmd_network_ls"),
        "prune": (_NETWORKS, "cmd_network_prune"),
        "rm": (_NETWORKS, "cmd_network_rm"), "remove": (_NETWORKS, "cmd_network_rm"),
    }),
    "registry": ("Run an OCI registry", {
        "serve": (_REGISTRY, "cmd_registry_serve"), "gc": (_REGISTRY, "cmd_registry_gc"),
    }),
    "system": ("Manage dockyard", {
        "info": (_SYSTEM, "cmd_info"), "events": (_SYSTEM, "cmd_events"),
        "df": (_DF, "cmd_system_df"), "prune": (_PRUNE, "cmd_system_prune"),
    }),
    "volume": ("Manage volumes", {
        "create": (_VOLUMES, "cmd_volume_create"), "inspect": (_VOLUMES, "cmd_volume_inspect"),
        "ls": (_VOLUMES, "cmd_volume_ls"), "list": (_VOLUMES, "cmd_volume_ls"),
        "rm": (_VOLUMES, "cmd_volume_rm"), "remove": (_VOLUMES, "cmd_volume_rm"),
        "prune": (_PRUNE, "cmd_volume_prune"),
    }),
}

# Global options that take a value and that we accept but do not use
# (docker scripts pass them).
_IGNORED_VALUE_OPTIONS = {"-l", "--log-level", "--config", "-c", "--context"}


def usage() -> str:
    width = max(len(n) for n in list(COMMANDS) + list(GROUPS)) + 2
    lines = ["Usage:  dockyard [OPTIONS] COMMAND", "",
             "A Docker-compatible container engine", "", "Commands:"]
    lines += [f"  {name.ljust(width)}{desc}" for name, (_, _, desc) in COMMANDS.items()]
    lines += ["", "Management Commands:"]
    lines += [f"  {name.ljust(width)}{desc}" for name, (desc, _) in GROUPS.items()]
    lines += ["", "Global Options:",
              "  -H, --host string   Daemon socket to connect to (default "
              "$DOCKYARD_HOST, else unix:///run/dockyard/dockyard.sock)",
              "  -v, --version       Print version information and quit",
              "      --help          Print usage", "",
              "Run 'dockyard COMMAND --help' for more information on a command."]
    return "\n".join(lines) + "\n"


def _group_usage(group: str) -> str:
    desc, subs = GROUPS[group]
    lines = [f"Usage:  dockyard {group} COMMAND", "", desc, "", "Commands:"]
    lines += [f"  {name}" for name in sorted(subs)]
    lines += ["", f"Run 'dockyard {group} COMMAND --help' for more information on a command."]
    return "\n".join(lines) + "\n"


def _parse_globals(argv: list[str]) -> tuple[str | None, list[str]] | int:
    """Split the global options from the command; an int means exit now."""
    host = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if name in ("-H", "--host"):
            if not eq:
                if i + 1 >= len(argv):
                    sys.stderr.write(f"flag needs an argument: {_flag_label(name)}\n\n"
                                     "Run 'dockyard --help' for more information\n")
                    return 125
                value = argv[i + 1]
                i += 1
            host = value
        elif arg.startswith("-H") and len(arg) > 2:
            host = arg[2:]
        elif arg in ("-v", "--version"):
            sys.stdout.write(f"dockyard version {__version__}\n")
            return 0
        elif arg in ("-h", "--help"):
            sys.stdout.write(usage())
            return 0
        elif arg in ("-D", "--debug"):
            pass
        elif name in _IGNORED_VALUE_OPTIONS:
            i += 0 if eq else 1
        elif arg.startswith("-"):
            sys.stderr.write(f"unknown flag: {arg}\n\nUsage:  dockyard [OPTIONS] COMMAND\n\n"
                             "Run 'dockyard --help' for more information\n")
            return 125
        else:
            return host, argv[i:]
        i += 1
    return host, []


def _flag_label(name: str) -> str:
    return "--host" if name == "--host" else "'H' in -H"


def _resolve(args: list[str]) -> tuple[str, str, list[str]] | int:
    """Find the command function for ``args``; an int means exit now."""
    name = args[0]
    if name in COMMANDS:
        module, function, _ = COMMANDS[name]
        return module, function, args[1:]
    if name in GROUPS:
        subs = GROUPS[name][1]
        if len(args) < 2 or args[1] in ("--help", "-h"):
            sys.stdout.write(_group_usage(name))
            return 0
        if args[1] not in subs:
            sys.stderr.write(f"dockyard: unknown command: dockyard {name} {args[1]}\n\n"
                             f"Usage:  dockyard {name} COMMAND\n\n"
                             f"Run 'dockyard {name} --help' for more information\n")
            return 1
        module, function = subs[args[1]]
        return module, function, args[2:]
    if name == "help":
        sys.stdout.write(usage())
        return 0
    sys.stderr.write(f"dockyard: unknown command: dockyard {name}\n\n"
                     "Run 'dockyard --help' for more information\n")
    return 1


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns (and, as a script, exits with) the status."""
    status = _main(sys.argv[1:] if argv is None else argv)
    if argv is None:
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            pass
        sys.exit(status)
    return status


def _main(argv: list[str]) -> int:
    parsed = _parse_globals(argv)
    if isinstance(parsed, int):
        return parsed
    host, args = parsed
    if not args:
        sys.stdout.write(usage())
        return 0
    found = _resolve(args)
    if isinstance(found, int):
        return found
    module_name, function_name, rest = found

    from dockyard import errors
    from dockyard.cli.flags import HelpRequested, UsageError
    from dockyard.cli.session import Session, StatusError, describe

    session = Session(host)
    try:
        # __import__ rather than importlib.import_module: the same import,
        # without loading importlib's package (and warnings) at start-up.
        command = getattr(__import__(module_name, fromlist=[function_name]), function_name)
        return command(session, rest)
    except HelpRequested as exc:
        sys.stdout.write(exc.flags.help_text())
        return 0
    except UsageError as exc:
        sys.stderr.write(f"{exc}\n")
        return exc.status
    except StatusError as exc:
        if exc.message:
            sys.stderr.write(f"{exc.message}\n")
        return exc.status
    except errors.DockyardError as exc:
        sys.stderr.write(f"{describe(exc)}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - a template error or similar reaches the user
        from dockyard.cli.template import TemplateError

        if isinstance(exc, TemplateError):
            sys.stderr.write(f"{exc}\n")
            return 1
        raise
    finally:
        session.close()


if __name__ == "__main__":
    main()
