"""Image commands: ``images``/``image ls``, ``rmi``, ``tag``, ``history``,
and ``import``."""

from __future__ import annotations

import sys
import time

from dockyard import errors
from dockyard.cli import units
from dockyard.cli.containers import parse_filters
from dockyard.cli.flags import FlagSet
from dockyard.cli.formatter import ellipsis, render, truncate_id
from dockyard.cli.session import Session, StatusError, describe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

IMAGE_HEADERS = {
    "Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Digest": "DIGEST",
    "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
    "Containers": "CONTAINERS", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
    "VirtualSize": "VIRTUAL SIZE",
}
IMAGE_TABLE = "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
IMAGE_TABLE_DIGESTS = ("{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}"
                       "\t{{.Size}}")

HISTORY_HEADERS = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
                   "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}
HISTORY_TABLE = "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"


def familiar_name(name: str) -> str:
    """"docker.io/library/busybox" → "busybox", as docker displays names."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def split_reference(ref: str) -> tuple[str, str]:
    """"repo:tag" → ("repo", "tag"); the tag is "" when absent.  A colon in
    the registry's host:port is not a tag separator."""
    name, digest_sep, _ = ref.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1:]
    return name, ""


class ImageRow:
    """One line of ``images``: a repository:tag (or digest) of an image."""

    def __init__(self, image: dict[str, Any], repo: str, tag: str, digest: str,
                 trunc: bool, now: float):
        self._i = image
        self._trunc = trunc
        self._now = now
        self.Repository = repo
        self.Tag = tag
        self.Digest = digest

    @property
    def ID(self) -> str:
        ident = self._i.get("Id", "")
        return truncate_id(ident) if self._trunc else ident

    @property
    def CreatedSince(self) -> str:
        created = self._i.get("Created", 0)
        return "N/A" if not created else units.since(created, self._now)

    @property
    def CreatedAt(self) -> str:
        return units.go_time(self._i.get("Created", 0))

    @property
    def Size(self) -> str:
        return units.human_size(self._i.get("Size") or 0)

    @property
    def Containers(self) -> str:
        count = self._i.get("Containers", -1)
        return "N/A" if count == -1 else str(count)

    @property
    def VirtualSize(self) -> str:
        return units.human_size(self._i.get("VirtualSize") or self._i.get("Size") or 0)

    @property
    def SharedSize(self) -> str:
        shared = self._i.get("SharedSize", -1)
        return "N/A" if shared == -1 else units.human_size(shared)

    @property
    def UniqueSize(self) -> str:
        shared = self._i.get("SharedSize", -1)
        if shared == -1:
            return "N/A"
        return units.human_size((self._i.get("Size") or 0) - shared)

    def __json__(self) -> dict[str, str]:
        fields = ("Containers", "CreatedAt", "CreatedSince", "Digest", "ID", "Repository",
                  "SharedSize", "Size", "Tag", "UniqueSize", "VirtualSize")
        return {name: getattr(self, name) for name in fields}


def image_rows(images: list[dict[str, Any]], trunc: bool, digests: bool) -> list[ImageRow]:
    """docker's rule: a row per repo:tag, digest-only references get
    ``<none>`` tags, an image with no reference at all is ``<none>:<none>``."""
    now = time.time()
    rows: list[ImageRow] = []
    for image in images:
        tags: dict[str, list[str]] = {}
        by_digest: dict[str, list[str]] = {}
        for ref in image.get("RepoTags") or []:
            repo, tag = split_reference(ref)
            if tag and ref != "<none>:<none>":
                tags.setdefault(familiar_name(repo), []).append(tag)
        for ref in image.get("RepoDigests") or []:
            repo, _, digest = ref.partition("@")
            if digest and ref != "<none>@<none>":
                by_digest.setdefault(familiar_name(repo), []).append(digest)
        found = []
        for repo, repo_tags in tags.items():
            repo_digests = by_digest.pop(repo, []) if digests else []
            by_digest.pop(repo, None)
            for tag in repo_tags:
                for digest in repo_digests or ["<none>"]:
                    found.append(ImageRow(image, repo, tag, digest, trunc, now))
        for repo, repo_digests in by_digest.items():
            for digest in (repo_digests if digests else ["<none>"]):
                found.append(ImageRow(image, repo, "<none>", digest, trunc, now))
        rows += found or [ImageRow(image, "<none>", "<none>", "<none>", trunc, now)]
    return rows


def cmd_images(session: Session, argv: list[str], command: str = "images") -> int:
    flags = FlagSet(command, "[OPTIONS] [REPOSITORY[:TAG]]", "List images", max_args=1,
                    aliases=["image ls", "image list", "images"])
    flags.bool("all", "a", "Show all images (default hides intermediate images)")
    flags.bool("digests", None, "Show digests")
    flags.list("filter", "f", "Filter output based on conditions provided", type_name="filter")
    flags.string("format", None, "Format output using a custom template")
    flags.bool("no-trunc", None, "Don't truncate output")
    flags.bool("quiet", "q", "Only show image IDs")
    opts, args = flags.parse(argv)
    filters = parse_filters(opts.filter)
    if args:
        filters.setdefault("reference", []).append(args[0])
    images = session.client.get("/images/json", {"all": opts.all, "filters": filters}) or []
    fmt = opts.format or ""
    if opts.quiet and fmt in ("", "table"):
        fmt = "{{.ID}}"
    default = IMAGE_TABLE_DIGESTS if opts.digests else IMAGE_TABLE
    rows = image_rows(images, not opts.no_trunc, opts.digests)
    session.stdout.write(render(fmt, rows, IMAGE_HEADERS, default))
    return 0


def cmd_image_ls(session: Session, argv: list[str]) -> int:
    return cmd_images(session, argv, "image ls")


def cmd_rmi(session: Session, argv: list[str], command: str = "rmi") -> int:
    flags = FlagSet(command, "[OPTIONS] IMAGE [IMAGE...]", "Remove one or more images",
                    min_args=1, aliases=["image rm", "image remove", "rmi"])
    flags.bool("force", "f", "Force removal of the image")
    flags.bool("no-prune", None, "Do not delete untagged parents")
    opts, names = flags.parse(argv)
    failures = []
    for name in names:
        try:
            deleted = session.client.delete(f"/images/{name}",
                                            {"force": opts.force, "noprune": opts.no_prune})
        except errors.DockyardError as exc:
            failures.append(describe(exc))
            continue
        for item in deleted or []:
            if item.get("Untagged"):
                session.out(f"Untagged: {item['Untagged']}")
            elif item.get("Deleted"):
                session.out(f"Deleted: {item['Deleted']}")
    if failures:
        raise StatusError("\n".join(failures), 1)
    return 0


def cmd_image_rm(session: Session, argv: list[str]) -> int:
    return cmd_rmi(session, argv, "image rm")


def cmd_tag(session: Session, argv: list[str], command: str = "tag") -> int:
    flags = FlagSet(command, "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
                    "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
                    min_args=2, max_args=2, aliases=["image tag", "tag"])
    _, (source, target) = flags.parse(argv)
    if "@" in target:
        raise StatusError("refusing to create a tag with a digest reference", 1)
    repo, tag = split_reference(target)
    session.client.post(f"/images/{source}/tag", {"repo": repo, "tag": tag or "latest"})
    return 0


def cmd_image_tag(session: Session, argv: list[str]) -> int:
    return cmd_tag(session, argv, "image tag")


class HistoryRow:
    """One layer of ``history``."""

    def __init__(self, item: dict[str, Any], trunc: bool, human: bool, now: float):
        self._h = item
        self._trunc = trunc
        self._human = human
        self._now = now

    @property
    def ID(self) -> str:
        ident = self._h.get("Id", "")
        return truncate_id(ident) if self._trunc and ident != "<missing>" else ident

    @property
    def CreatedSince(self) -> str:
        created = self._h.get("Created", 0)
        if not self._human:
            return self.CreatedAt
        return "N/A" if not created else units.since(created, self._now)

    @property
    def CreatedAt(self) -> str:
        import datetime

        created = self._h.get("Created", 0)
        return datetime.datetime.fromtimestamp(created).astimezone().isoformat(
            timespec="seconds").replace("+00:00", "Z")

    @property
    def CreatedBy(self) -> str:
        created_by = (self._h.get("CreatedBy") or "").replace("\t", " ")
        return ellipsis(created_by, 45) if self._trunc else created_by

    @property
    def Size(self) -> str:
        size = self._h.get("Size") or 0
        return units.human_size(size) if self._human else str(size)

    @property
    def Comment(self) -> str:
        return self._h.get("Comment") or ""

    def __json__(self) -> dict[str, str]:
        return {name: getattr(self, name)
                for name in ("Comment", "CreatedAt", "CreatedBy", "CreatedSince", "ID", "Size")}


def cmd_history(session: Session, argv: list[str], command: str = "history") -> int:
    flags = FlagSet(command, "[OPTIONS] IMAGE", "Show the history of an image",
                    min_args=1, max_args=1, aliases=["image history", "history"])
    flags.string("format", None, "Format output using a custom template")
    flags.bool("human", "H", "Print sizes and dates in human readable format", default=True)
    flags.bool("no-trunc", None, "Don't truncate output")
    flags.bool("quiet", "q", "Only show image IDs")
    opts, (name,) = flags.parse(argv)
    history = session.client.get(f"/images/{name}/history") or []
    fmt = opts.format or ""
    if opts.quiet and fmt in ("", "table"):
        fmt = "{{.ID}}"
    now = time.time()
    rows = [HistoryRow(item, not opts.no_trunc, opts.human, now) for item in history]
    session.stdout.write(render(fmt, rows, HISTORY_HEADERS, HISTORY_TABLE))
    return 0


def cmd_image_history(session: Session, argv: list[str]) -> int:
    return cmd_history(session, argv, "image history")


def cmd_import(session: Session, argv: list[str], command: str = "import") -> int:
    flags = FlagSet(command, "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
                    "Import the contents from a tarball to create a filesystem image",
                    min_args=1, max_args=2, aliases=["image import", "import"])
    flags.list("change", "c", "Apply Dockerfile instruction to the created image")
    flags.string("message", "m", "Set commit message for imported image")
    flags.string("platform", None, "Set platform if server is multi-platform capable")
    opts, args = flags.parse(argv)
    source = args[0]
    params: dict[str, Any] = {"fromSrc": "-", "repo": args[1] if len(args) > 1 else None,
                              "message": opts.message or None, "changes": opts.change,
                              "platform": opts.platform or None}
    body: Any = None
    if source.startswith(("http://", "https://")):
        params["fromSrc"] = source
    elif source == "-":
        body = sys.stdin.buffer
    else:
        try:
            body = open(source, "rb")
        except OSError as exc:
            raise StatusError(f"open {source}: {(exc.strerror or '').lower()}", 1) from None
    try:
        _print_progress(session, session.client.stream_json(
            "POST", "/images/create", params, body,
            {"Content-Type": "application/x-tar"} if body is not None else None))
    finally:
        if body is not None and body is not sys.stdin.buffer:
            body.close()
    return 0


def cmd_image_import(session: Session, argv: list[str]) -> int:
    return cmd_import(session, argv, "image import")


def _print_progress(session: Session, messages: Any) -> None:
    """docker's non-terminal rendering of a JSON progress stream."""
    for message in messages:
        if message.get("errorDetail") or message.get("error"):
            detail = message.get("errorDetail") or {}
            raise StatusError(detail.get("message") or message.get("error"), 1)
        status = message.get("status")
        if status is None:
            continue
        ident = message.get("id")
        progress = message.get("progress") or ""
        line = f"{ident}: {status}" if ident else status
        session.out(f"{line} {progress}".rstrip())
