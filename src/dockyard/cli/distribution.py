"""Registry commands: ``pull``, ``push``, ``login``, ``logout``, ``search``,
and docker's rendering of a JSON progress stream.

The daemon talks to registries; these commands find the credentials for
the image's registry in docker's config.json (``$DOCKER_CONFIG``, else
``~/.docker``) and send them as X-Registry-Auth, as docker's CLI does, and
``login`` stores them there after the daemon has checked them.

Progress (``display_messages``) follows docker's jsonmessage: on a terminal
every layer keeps one line, rewritten in place; elsewhere byte counters are
left out and each status change is one line ("4d1f3c2b1a09: Pull complete").
"""

from __future__ import annotations

import os
import sys

from dockyard import errors
from dockyard.cli.containers import parse_filters
from dockyard.cli.flags import FlagSet
from dockyard.cli.formatter import ellipsis, render
from dockyard.cli.session import Session, StatusError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterable, TextIO

    from dockyard.images.reference import Reference

SEARCH_HEADERS = {"Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS",
                  "IsOfficial": "OFFICIAL", "IsAutomated": "AUTOMATED"}
SEARCH_TABLE = "{{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}"
_DESCRIPTION_WIDTH = 45


class Discard:
    """An output that keeps nothing (quiet pulls still read the stream to its end)."""

    def write(self, _: str) -> None:
        pass

    def flush(self) -> None:
        pass


class StreamError(StatusError):
    """An error message inside a progress stream (after the response began)."""


# -- progress ----------------------------------------------------------------------------


def _has_counts(message: dict) -> bool:
    detail = message.get("progressDetail") or {}
    return bool((detail.get("current") or 0) > 0 or (detail.get("total") or 0) > 0)


def display_messages(messages: Iterable[dict], out: TextIO, terminal: bool | None = None) -> list[dict]:
    """Render docker's JSON messages; returns the aux payloads.  An error
    message raises StreamError with its text."""
    if terminal is None:
        terminal = bool(getattr(out, "isatty", lambda: False)())
    lines: dict[str, int] = {}
    auxes: list[dict] = []
    for message in messages:
        if message.get("error") or message.get("errorDetail"):
            detail = message.get("errorDetail") or {}
            raise StreamError(detail.get("message") or str(message.get("error")), 1)
        if "aux" in message:
            auxes.append(message["aux"])
            continue
        ident = message.get("id") or ""
        has_detail = "progressDetail" in message
        diff = 0
        if ident and has_detail:
            if ident not in lines:
                lines[ident] = len(lines)
                if terminal:
                    out.write("\n")
            diff = len(lines) - lines[ident]
            if terminal and diff:
                out.write(f"\x1b[{diff}A")
        else:
            lines = {}  # a line outside the layer block: start a new block
        if terminal and has_detail:
            out.write("\x1b[2K\r")
        elif not terminal and _has_counts(message):
            continue
        prefix = f"{ident}: " if ident else ""
        status = message.get("status", "")
        if terminal and has_detail:
            out.write(f"{prefix}{status} {message.get('progress') or ''}\r")
        else:
            out.write(f"{prefix}{status}\n")
        if terminal and ident and diff:
            out.write(f"\x1b[{diff}B")
        out.flush()
    return auxes


# -- credentials ---------------------------------------------------------------------------


def auth_header(domain: str) -> dict[str, str]:
    """X-Registry-Auth for a registry, from config.json (none when no credentials)."""
    from dockyard.distribution.auth_config import ConfigFile, registry_auth_header

    try:
        credentials = ConfigFile.load().credentials(domain)
    except ValueError as exc:
        raise StatusError(str(exc), 1) from None
    return {"X-Registry-Auth": registry_auth_header(credentials)} if credentials else {}


def _reference(text: str, *, default_tag: bool) -> Reference:
    from dockyard.images.reference import parse_reference

    try:
        return parse_reference(text, default_tag=default_tag)
    except errors.InvalidArgument as exc:
        raise StatusError(exc.message, 1) from None


def pull_image(session: Session, ref: Reference, out: TextIO | None, platform: str = "",
               all_tags: bool = False) -> None:
    """POST /images/create for `ref`, rendering progress on `out` (None: quiet)."""
    params = {"fromImage": ref.name, "tag": None if all_tags else (ref.digest or ref.tag),
              "platform": platform or None}
    messages = session.client.stream_json("POST", "/images/create", params,
                                          headers=auth_header(ref.domain))
    display_messages(messages, out or Discard(), terminal=False if out is None else None)


# -- commands ----------------------------------------------------------------------------------


def cmd_pull(session: Session, argv: list[str], command: str = "pull") -> int:
    flags = FlagSet(command, "[OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry",
                    min_args=1, max_args=1, aliases=["image pull", "pull"])
    flags.bool("all-tags", "a", "Download all tagged images in the repository")
    flags.bool("disable-content-trust", None, "Skip image verification", default=True)
    flags.string("platform", None, "Set platform if server is multi-platform capable")
    flags.bool("quiet", "q", "Suppress verbose output")
    opts, (name,) = flags.parse(argv)
    bare = _reference(name, default_tag=False)
    if opts.all_tags and not bare.is_name_only:
        raise StatusError("tag can't be used with --all-tags/-a", 1)
    ref = bare if opts.all_tags else _reference(name, default_tag=True)
    if bare.is_name_only and not opts.all_tags and not opts.quiet:
        session.out(f"Using default tag: {ref.tag}")
    pull_image(session, ref, None if opts.quiet else session.stdout, opts.platform or "", opts.all_tags)
    session.out(ref.name if opts.all_tags else str(ref))
    return 0


def cmd_image_pull(session: Session, argv: list[str]) -> int:
    return cmd_pull(session, argv, "image pull")


def cmd_push(session: Session, argv: list[str], command: str = "push") -> int:
    flags = FlagSet(command, "[OPTIONS] NAME[:TAG]", "Upload an image to a registry",
                    min_args=1, max_args=1, aliases=["image push", "push"])
    flags.bool("all-tags", "a", "Push all tags of an image to the repository")
    flags.bool("disable-content-trust", None, "Skip image signing", default=True)
    flags.bool("quiet", "q", "Suppress verbose output")
    opts, (name,) = flags.parse(argv)
    ref = _reference(name, default_tag=False)
    if opts.all_tags and not ref.is_name_only:
        raise StatusError("tag can't be used with --all-tags/-a", 1)
    if ref.digest is not None:
        raise StatusError(f"cannot push a digest reference: {name}", 1)
    if ref.is_name_only and not opts.all_tags:
        ref = ref.with_tag("latest")
        if not opts.quiet:
            session.out("Using default tag: latest")
    messages = session.client.stream_json("POST", f"/images/{ref.name}/push", {"tag": ref.tag},
                                          headers=auth_header(ref.domain))
    display_messages(messages, Discard() if opts.quiet else session.stdout, terminal=False if opts.quiet else None)
    if opts.quiet:
        session.out(str(ref) if ref.tag else ref.name)
    return 0


def cmd_image_push(session: Session, argv: list[str]) -> int:
    return cmd_push(session, argv, "image push")


def cmd_login(session: Session, argv: list[str]) -> int:
    flags = FlagSet("login", "[OPTIONS] [SERVER]",
                    "Authenticate to a registry.\nDefaults to Docker Hub if no server is specified.",
                    max_args=1, aliases=["login"])
    flags.string("password", "p", "Password")
    flags.bool("password-stdin", None, "Take the password from stdin")
    flags.string("username", "u", "Username")
    opts, args = flags.parse(argv)
    from dockyard.distribution.auth_config import DOCKER_HUB_AUTH_KEY, ConfigFile, registry_domain

    server = args[0] if args else DOCKER_HUB_AUTH_KEY
    if registry_domain(server) == "docker.io":
        server = DOCKER_HUB_AUTH_KEY
    username, password = opts.username or "", opts.password or ""
    if opts.password and opts.password_stdin:
        raise StatusError("--password and --password-stdin are mutually exclusive", 1)
    if opts.password_stdin:
        if not username:
            raise StatusError("Must provide --username with --password-stdin", 1)
        password = sys.stdin.read().rstrip("\r\n")
    elif opts.password:
        session.err("WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
    try:
        config = ConfigFile.load()
    except ValueError as exc:
        raise StatusError(str(exc), 1) from None
    stored = config.credentials(server)
    if not username and not password and stored.get("username"):
        session.out("Authenticating with existing credentials...")
        try:
            _login(session, stored)
        except errors.DockyardError as exc:
            if not os.isatty(0):
                raise
            session.err(f"Login did not succeed, error: {getattr(exc, 'message', exc)}")
        else:
            session.out("Login Succeeded")
            return 0
    if not username or not password:
        if not os.isatty(0):
            raise StatusError("Error: Cannot perform an interactive login from a non TTY device", 1)
        username, password = _prompt(session, username, password, stored.get("username", ""))
    answer = _login(session, {"username": username, "password": password, "serveraddress": server})
    config.store(server, username, password, (answer or {}).get("IdentityToken") or "")
    session.err(f"WARNING! Your credentials are stored unencrypted in '{config.path}'.\n"
                "Configure a credential helper to remove this warning. See\n"
                "https://docs.docker.com/go/credential-store/\n")
    session.out("Login Succeeded")
    return 0


def _login(session: Session, credentials: dict) -> Any:
    return session.client.post("/auth", None, credentials)


def _prompt(session: Session, username: str, password: str, default_user: str) -> tuple[str, str]:
    import getpass

    if not username:
        hint = f" ({default_user})" if default_user else ""
        session.stdout.write(f"Username{hint}: ")
        session.stdout.flush()
        username = sys.stdin.readline().strip() or default_user
        if not username:
            raise StatusError("Error: Non-null Username Required", 1)
    if not password:
        password = getpass.getpass("Password: ")
        if not password:
            raise StatusError("Error: Password Required", 1)
    return username, password


def cmd_logout(session: Session, argv: list[str]) -> int:
    flags = FlagSet("logout", "[SERVER]",
                    "Log out from a registry.\nIf no server is specified, the default is defined by "
                    "the daemon.", max_args=1, aliases=["logout"])
    _, args = flags.parse(argv)
    from dockyard.distribution.auth_config import DOCKER_HUB_AUTH_KEY, ConfigFile, registry_domain

    server = args[0] if args else DOCKER_HUB_AUTH_KEY
    domain = registry_domain(server)
    shown = DOCKER_HUB_AUTH_KEY if domain == "docker.io" else domain
    try:
        config = ConfigFile.load()
    except ValueError as exc:
        raise StatusError(str(exc), 1) from None
    if not config.credentials(domain):
        session.out(f"Not logged in to {shown}")
        return 0
    session.out(f"Removing login credentials for {shown}")
    config.remove(domain)
    return 0


class SearchRow:
    """One line of ``search``."""

    def __init__(self, result: dict[str, Any], trunc: bool):
        self._r = result
        self._trunc = trunc
        self.Name = str(result.get("name") or "")

    @property
    def Description(self) -> str:
        text = str(self._r.get("description") or "").replace("\n", " ").replace("\r", " ")
        return ellipsis(text, _DESCRIPTION_WIDTH) if self._trunc else text

    @property
    def StarCount(self) -> str:
        return str(self._r.get("star_count") or 0)

    @property
    def IsOfficial(self) -> str:
        return "[OK]" if self._r.get("is_official") else ""

    @property
    def IsAutomated(self) -> str:
        return "[OK]" if self._r.get("is_automated") else ""

    def __json__(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in ("Description", "IsAutomated", "IsOfficial", "Name", "StarCount")}


def cmd_search(session: Session, argv: list[str]) -> int:
    flags = FlagSet("search", "[OPTIONS] TERM", "Search for images", min_args=1, max_args=1,
                    aliases=["search"])
    flags.list("filter", "f", "Filter output based on conditions provided", type_name="filter")
    flags.string("format", None, "Pretty-print search using a Go template")
    flags.int("limit", None, "Max number of search results")
    flags.bool("no-trunc", None, "Don't truncate output")
    opts, (term,) = flags.parse(argv)
    from dockyard.distribution.auth_config import registry_domain

    first, sep, _ = term.partition("/")
    domain = first if sep and ("." in first or ":" in first or first == "localhost") else "docker.io"
    results = _search(session, term, opts.limit, parse_filters(opts.filter), auth_header(registry_domain(domain)))
    rows = [SearchRow(r, not opts.no_trunc) for r in results or []]
    session.stdout.write(render(opts.format or "", rows, SEARCH_HEADERS, SEARCH_TABLE))
    return 0


def _search(session: Session, term: str, limit: int, filters: dict, headers: dict[str, str]) -> list[dict]:
    import json

    response = session.client.stream("GET", "/images/search",
                                      {"term": term, "limit": limit or None, "filters": filters},
                                      headers=headers)
    try:
        return json.loads(response.read() or b"[]")
    finally:
        response.close()
