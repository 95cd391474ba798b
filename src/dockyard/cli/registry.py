"""``registry serve`` and ``registry gc``: dockyard's own OCI registry.

Neither talks to the daemon: ``serve`` is the registry server itself (see
dockyard.distribution.server), ``gc`` works on its storage directly.
"""

from __future__ import annotations

from dockyard.cli.flags import FlagSet
from dockyard.cli.session import Session, StatusError

DEFAULT_LISTEN = "127.0.0.1:5000"
DEFAULT_ROOT = "/var/lib/dockyard-registry"
_LOG_LEVELS = ("debug", "info", "warn", "error")


def parse_listen(text: str) -> tuple[str, int]:
    """``ADDR:PORT``, ``[IPv6]:PORT`` or ``:PORT`` (every interface)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{text!r} is not ADDR:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def cmd_registry_serve(session: Session, argv: list[str]) -> int:
    flags = FlagSet("registry serve", "[OPTIONS]",
                    "Serve an OCI registry (the distribution spec, with docker's token auth and "
                    "search)", max_args=0)
    flags.string("listen", None, "Address to listen on, ADDR:PORT (\":5000\" for every interface)",
                 default=DEFAULT_LISTEN, convert=parse_listen, type_name="address")
    flags.string("root", None, "Directory that holds the registry's blobs and repositories",
                 default=DEFAULT_ROOT, type_name="dir")
    flags.string("tls-cert", None, "Serve HTTPS with this certificate (PEM, with its chain)",
                 type_name="file")
    flags.string("tls-key", None, "The certificate's private key (PEM)", type_name="file")
    flags.string("htpasswd", None, "Require users from this htpasswd file (bcrypt, htpasswd -B); "
                 "enables Basic and bearer-token auth", type_name="file")
    flags.bool("read-only", None, "Refuse pushes and deletes (for example while gc runs)")
    flags.string("log-level", None, "Log level (\"debug\"|\"info\"|\"warn\"|\"error\"); info logs "
                 "every request", default="info", type_name="string")
    opts, _ = flags.parse(argv)
    if opts.log_level not in _LOG_LEVELS:
        raise flags.flag_error(f'invalid argument "{opts.log_level}" for "--log-level" flag: '
                               f"not one of {', '.join(_LOG_LEVELS)}")
    listen = opts.listen if isinstance(opts.listen, tuple) else parse_listen(opts.listen)

    import logging
    import signal

    from dockyard.distribution.server import ServerConfig, build_server

    logging.basicConfig(level=getattr(logging, opts.log_level.upper().replace("WARN", "WARNING")),
                        format="%(asctime)s %(levelname)s %(message)s", stream=session.stderr)
    config = ServerConfig(root=opts.root, host=listen[0], port=listen[1], tls_cert=opts.tls_cert,
                          tls_key=opts.tls_key, htpasswd=opts.htpasswd, read_only=opts.read_only)
    try:
        server = build_server(config)
    except OSError as exc:
        raise StatusError(f"dockyard registry: cannot listen on {listen[0]}:{listen[1]}: "
                          f"{exc.strerror}") from None

    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    host, port = server.server_address[:2]
    scheme = "https" if server.tls is not None else "http"
    shown = f"[{host}]" if ":" in host else host
    session.err(f"dockyard registry: serving {server.app.registry.layout.root} on "
                f"{scheme}://{shown}:{port}" + (" (read-only)" if opts.read_only else ""))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def cmd_registry_gc(session: Session, argv: list[str]) -> int:
    flags = FlagSet("registry gc", "[OPTIONS]",
                    "Remove the blobs no manifest references, and stale uploads\n\n"
                    "Run it while no push is in progress, or while the registry is served "
                    "--read-only:\na blob pushed for a manifest not yet pushed is not referenced "
                    "yet.", max_args=0)
    flags.string("root", None, "The registry's directory", default=DEFAULT_ROOT, type_name="dir")
    flags.bool("dry-run", None, "Report what would be removed, remove nothing")
    flags.bool("delete-untagged", None, "Also remove manifests no tag reaches")
    opts, _ = flags.parse(argv)

    import os

    from dockyard.distribution.server import Registry
    from dockyard.distribution.server.gc import collect
    from dockyard.units import human_size

    if not os.path.isdir(opts.root):
        raise StatusError(f"dockyard registry gc: {opts.root} is not a directory")
    report = collect(Registry(opts.root), delete_untagged=opts.delete_untagged,
                     dry_run=opts.dry_run)
    verb = "Would delete" if opts.dry_run else "Deleted"
    for name, digest in report.manifests_removed:
        session.out(f"{verb} manifest: {name}@{digest}")
    for digest, size in report.removed:
        session.out(f"{verb} blob: {digest} ({human_size(size)})")
    summary = (f"{len(report.removed)} blobs, {human_size(report.bytes_freed)}"
               f"{' would be' if opts.dry_run else ''} freed; {report.kept} blobs in use")
    if report.manifests_removed:
        summary += f"; {len(report.manifests_removed)} untagged manifests"
    if report.uploads_removed:
        summary += f"; {report.uploads_removed} stale uploads removed"
    session.out(("Total reclaimable: " if opts.dry_run else "Total reclaimed: ") + summary)
    return 0
