"""The registry's HTTP API: a route table, and handlers that parse a request,
call `Registry`, and write the answer.

    GET                  /v2/                                  base (auth check)
    GET                  /v2/_catalog?n=&last=                 repositories
    GET                  /v2/<name>/tags/list?n=&last=         tags
    GET HEAD PUT DELETE  /v2/<name>/manifests/<tag|digest>     manifests
    GET HEAD DELETE      /v2/<name>/blobs/<digest>             blobs (Range)
    POST                 /v2/<name>/blobs/uploads/             start, monolithic
                                                               (?digest=), mount
                                                               (?mount=&from=)
    GET PATCH PUT DELETE /v2/<name>/blobs/uploads/<id>         status, chunk,
                                                               finish, cancel
    GET                  /v2/<name>/referrers/<digest>         referrers
    GET                  /v1/_ping, /v1/search?q=&n=           for `docker search`
    GET POST             /token                                bearer tokens (with
                                                               --htpasswd)

Every route names the access it needs; `RegistryAPI` checks it (when auth is
configured) before the handler runs.  Errors are `RegistryError`s, written
once, in `_error`.
"""

from __future__ import annotations

import base64
import bisect
import json
import logging
import re
import urllib.parse
from typing import Any, Callable

from dockyard.content.digest import Digest
from dockyard.images import mediatypes as mt

from . import errcodes as ec
from .auth import CATALOG, AccessController, Scope, repository_scope
from .errcodes import RegistryError
from .httpserver import Body, BodyError, FileRange, Request, Response
from .manifests import MAX_MANIFEST_SIZE
from .names import check_name, parse_digest
from .registry import Registry

log = logging.getLogger("dockyard.registry")

API_VERSION = ("Docker-Distribution-API-Version", "registry/2.0")
JSON = ("Content-Type", "application/json")
CATALOG_PAGE = 1000
SEARCH_DEFAULT, SEARCH_MAX = 25, 100

_CONTENT_RANGE = re.compile(r"(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")

Handler = Callable[["RegistryAPI", Request], Response]
# What a route needs: None is open to all; a list of scopes (maybe empty:
# "any valid credentials") is checked when auth is configured.
Access = Callable[[Request], "list[Scope] | None"]


def _open(_r: Request) -> None:
    return None


def _authenticated(_r: Request) -> list[Scope]:
    return []


def _catalog(_r: Request) -> list[Scope]:
    return [CATALOG]


def _repository(r: Request) -> list[Scope]:
    # As the CNCF registry asks: reads need pull, writes pull and push,
    # deletes delete.
    actions = {"GET": ("pull",), "HEAD": ("pull",), "DELETE": ("delete",)}.get(r.method, ("pull", "push"))
    return [repository_scope(r.params["name"], *actions)]


def _json(obj: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, [JSON] + (headers or []), json.dumps(obj).encode() + b"\n")


def _range_header(size: int) -> tuple[str, str]:
    # "0-<last byte>"; an empty upload reports 0-0, as the CNCF registry does.
    return ("Range", f"0-{max(size - 1, 0)}")


class RegistryAPI:
    """The application `httpserver` runs: `api(request) -> response`."""

    def __init__(self, registry: Registry, access: AccessController | None = None,
                 read_only: bool = False):
        self.registry = registry
        self.access = access
        self.read_only = read_only

    def __call__(self, request: Request) -> Response:
        try:
            handler = self._resolve(request)
            response = handler(self, request)
        except RegistryError as exc:
            response = self._error(exc)
        except _NoRoute:
            # Not an API path at all: no spec error code fits (the CNCF registry
            # answers the same plain text).
            response = Response(404, [("Content-Type", "text/plain")], b"404 page not found\n")
        except BodyError:
            raise  # the connection is broken; httpserver answers and closes
        except Exception as exc:  # noqa: BLE001 - a bug must become a 500, not a dropped connection
            log.exception("%s %s failed", request.method, request.path)
            response = self._error(RegistryError(ec.UNKNOWN, None, f"{type(exc).__name__}: {exc}"))
        response.headers.append(API_VERSION)
        return response

    def _error(self, exc: RegistryError) -> Response:
        return Response(exc.status, [JSON] + exc.headers, exc.body())

    def _resolve(self, request: Request) -> Handler:
        path_known = False
        for methods, pattern, handler, access in ROUTES:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            path_known = True
            if request.method not in methods:
                continue
            request.params = match.groupdict()
            if "name" in request.params:
                check_name(request.params["name"])
            self._check_access(request, access)
            return handler
        if path_known:
            raise RegistryError(ec.UNSUPPORTED, None, f"{request.method} is not supported here")
        raise _NoRoute()

    def _check_access(self, request: Request, access: Access) -> None:
        needed = access(request)
        if needed is None:
            return
        if self.access is not None:
            realm = f"{request.scheme}://{request.host}/token"
            self.access.authorize(request.header("Authorization"), needed, realm)
        if self.read_only and request.path.startswith("/v2/") and request.method not in ("GET", "HEAD"):
            if request.method == "DELETE":
                raise RegistryError(ec.UNSUPPORTED, None, "the registry is read-only")
            raise RegistryError(ec.DENIED, None, "the registry is read-only")

    def _may_pull(self, request: Request, name: str) -> bool:
        if self.access is None:
            return True
        return self.access.granted(request.header("Authorization"), [repository_scope(name, "pull")])

    # -- base, discovery ------------------------------------------------------------

    def base(self, request: Request) -> Response:
        return _json({})

    def catalog(self, request: Request) -> Response:
        names, link = _page(self.registry.catalog(), request, "/v2/_catalog", CATALOG_PAGE)
        return _json({"repositories": names}, headers=link)

    def tags(self, request: Request) -> Response:
        name = request.params["name"]
        tags, link = _page(self.registry.tags(name), request, f"/v2/{name}/tags/list", None)
        return _json({"name": name, "tags": tags}, headers=link)

    def referrers(self, request: Request) -> Response:
        subject = parse_digest(request.params["digest"])
        artifact_type = request.q("artifactType")
        found = self.registry.referrers(request.params["name"], subject, artifact_type)
        headers = [("Content-Type", mt.OCI_INDEX)]
        if artifact_type:
            headers.append(("OCI-Filters-Applied", "artifactType"))
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": found}
        return Response(200, headers, json.dumps(index).encode())

    def ping_v1(self, request: Request) -> Response:
        return _json({"standalone": True}, headers=[("X-Docker-Registry-Standalone", "true")])

    def search(self, request: Request) -> Response:
        query = request.q("q") or ""
        limit = _count(request.q("n"), SEARCH_DEFAULT)
        if not 1 <= limit <= SEARCH_MAX:
            raise RegistryError(ec.PAGINATION_NUMBER_INVALID, {"n": limit},
                                f"n must be between 1 and {SEARCH_MAX}")
        names = self.registry.search(query)
        results = [{"name": n, "description": "", "star_count": 0, "is_official": False,
                    "is_automated": False} for n in names[:limit]]
        return _json({"num_results": len(names), "query": query, "results": results})

    # -- manifests -----------------------------------------------------------------

    def get_manifest(self, request: Request) -> Response:
        p = request.params
        found = self.registry.get_manifest(p["name"], p["reference"], request.header_list("Accept"))
        etag = f'"{found.digest}"'
        headers = [("Docker-Content-Digest", str(found.digest)), ("ETag", etag)]
        if _etag_matches(request, found.digest):
            return Response(304, headers)
        return Response(200, [("Content-Type", found.media_type)] + headers, found.body)

    def put_manifest(self, request: Request) -> Response:
        p = request.params
        body = request.body.read(MAX_MANIFEST_SIZE)
        if body is None:
            raise RegistryError(ec.MANIFEST_INVALID, None, f"manifest is larger than "
                                f"{MAX_MANIFEST_SIZE} bytes", status=413)
        pushed = self.registry.put_manifest(p["name"], p["reference"], body,
                                            request.header("Content-Type"), request.query.get("tag", []))
        headers = [("Location", f"/v2/{p['name']}/manifests/{pushed.digest}"),
                   ("Docker-Content-Digest", str(pushed.digest))]
        if pushed.subject is not None:
            headers.append(("OCI-Subject", str(pushed.subject)))
        if request.query.get("tag"):
            headers += [("OCI-Tag", t) for t in pushed.tags]
        return Response(201, headers)

    def delete_manifest(self, request: Request) -> Response:
        self.registry.delete_manifest(request.params["name"], request.params["reference"])
        return Response(202)

    # -- blobs -------------------------------------------------------------------------

    def get_blob(self, request: Request) -> Response:
        digest = parse_digest(request.params["digest"])
        size = self.registry.stat_blob(request.params["name"], digest)
        headers = [("Docker-Content-Digest", str(digest)), ("ETag", f'"{digest}"'),
                   ("Accept-Ranges", "bytes"), ("Cache-Control", "max-age=31536000")]
        if _etag_matches(request, digest):
            return Response(304, headers)
        headers.append(("Content-Type", "application/octet-stream"))
        wanted = _byte_range(request.header("Range"), size)
        if wanted == ():
            return Response(416, headers + [("Content-Range", f"bytes */{size}")])
        # Opened before answering: a blob gc removes now is still sent whole.
        blob = self.registry.open_blob(request.params["name"], digest)
        if wanted is None:
            return Response(200, headers, file=FileRange(blob, 0, size))
        first, last = wanted
        headers.append(("Content-Range", f"bytes {first}-{last}/{size}"))
        return Response(206, headers, file=FileRange(blob, first, last - first + 1))

    def delete_blob(self, request: Request) -> Response:
        digest = parse_digest(request.params["digest"])
        self.registry.delete_blob(request.params["name"], digest)
        return Response(202, [("Docker-Content-Digest", str(digest))])

    # -- uploads -----------------------------------------------------------------------

    def start_upload(self, request: Request) -> Response:
        name = request.params["name"]
        mounted = self._mount(request, name)
        if mounted is not None:
            return mounted
        uploads = self.registry.uploads
        upload_id = uploads.start(name)
        digest_text = request.q("digest")
        if digest_text is None:
            return self._upload_status(name, upload_id, 0, 202)
        # Monolithic: the whole blob in this one request.
        try:
            digest = parse_digest(digest_text)
            uploads.append(name, upload_id, _SizedBody(request.body, request.body.length))
            self.registry.complete_upload(name, upload_id, digest)
        except BaseException:
            _cancel_quietly(self.registry, name, upload_id)
            raise
        return self._created(name, digest)

    def _mount(self, request: Request, name: str) -> Response | None:
        """201 when the blob could be linked from `from`; None to upload instead."""
        mount, source = request.q("mount"), request.q("from")
        if not mount or not source:
            return None
        try:
            digest = parse_digest(mount)
            check_name(source)
        except RegistryError:
            return None
        if not self._may_pull(request, source) or self.registry.mount_blob(name, digest, source) is None:
            return None
        return self._created(name, digest)

    def upload_status(self, request: Request) -> Response:
        name, upload_id = request.params["name"], request.params["upload"]
        return self._upload_status(name, upload_id, self.registry.uploads.size(name, upload_id), 204)

    def patch_upload(self, request: Request) -> Response:
        name, upload_id = request.params["name"], request.params["upload"]
        size = self._append(request, name, upload_id)
        return self._upload_status(name, upload_id, size, 202)

    def finish_upload(self, request: Request) -> Response:
        name, upload_id = request.params["name"], request.params["upload"]
        self.registry.uploads.size(name, upload_id)  # an unknown upload, before a bad digest
        digest_text = request.q("digest")
        if not digest_text:
            raise RegistryError(ec.DIGEST_INVALID, None, "the digest query parameter is required "
                                "to complete an upload")
        digest = parse_digest(digest_text)
        if request.body.length != 0:  # the last chunk came with the PUT
            self._append(request, name, upload_id)
        self.registry.complete_upload(name, upload_id, digest)
        return self._created(name, digest)

    def cancel_upload(self, request: Request) -> Response:
        name, upload_id = request.params["name"], request.params["upload"]
        self.registry.uploads.cancel(name, upload_id)
        return Response(204, [("Docker-Upload-UUID", upload_id)])

    def _append(self, request: Request, name: str, upload_id: str) -> int:
        uploads = self.registry.uploads
        start, length = None, request.body.length
        content_range = request.header("Content-Range")
        if content_range:
            m = _CONTENT_RANGE.fullmatch(content_range.strip())
            if m is None or int(m[2]) < int(m[1]):
                raise RegistryError(ec.BLOB_UPLOAD_INVALID, {"Content-Range": content_range[:100]},
                                    "Content-Range must be <first>-<last>, first <= last")
            start, end = int(m[1]), int(m[2])
            if length is not None and length != end - start + 1:
                raise RegistryError(ec.SIZE_INVALID, {"Content-Length": length, "Content-Range": content_range},
                                    "Content-Length does not match the Content-Range")
            length = end - start + 1
        try:
            return uploads.append(name, upload_id, _SizedBody(request.body, length), start)
        except RegistryError as exc:
            raise self._with_status(exc, name, upload_id) from None

    def _with_status(self, exc: RegistryError, name: str, upload_id: str) -> RegistryError:
        # A refused chunk tells the client where the upload stands.
        if exc.code is ec.RANGE_INVALID:
            try:
                size = self.registry.uploads.size(name, upload_id)
            except RegistryError:
                return exc
            exc.headers += [("Location", f"/v2/{name}/blobs/uploads/{upload_id}"), _range_header(size),
                            ("Docker-Upload-UUID", upload_id)]
        return exc

    def _upload_status(self, name: str, upload_id: str, size: int, status: int) -> Response:
        return Response(status, [("Location", f"/v2/{name}/blobs/uploads/{upload_id}"),
                                 _range_header(size), ("Docker-Upload-UUID", upload_id)])

    def _created(self, name: str, digest: Digest) -> Response:
        return Response(201, [("Location", f"/v2/{name}/blobs/{digest}"),
                              ("Docker-Content-Digest", str(digest))])

    # -- tokens ------------------------------------------------------------------------

    def token(self, request: Request) -> Response:
        if self.access is None:
            raise RegistryError(ec.UNSUPPORTED, None, "this registry runs without authentication; "
                                "it issues no tokens", status=404)
        authorization, scopes = request.header("Authorization"), request.query.get("scope", [])
        if request.method == "POST":  # OAuth2 password grant (docker with --identity-token off)
            form = urllib.parse.parse_qs((request.body.read(65536) or b"").decode("utf-8", "replace"))
            if form.get("grant_type") != ["password"]:
                return _json({"error": "unsupported_grant_type"}, 400)
            user, password = form.get("username", [""])[0], form.get("password", [""])[0]
            authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            scopes = form.get("scope", [])
        return _json(self.access.issue_token(authorization, scopes))


class _NoRoute(Exception):
    """No route has this path."""


class _SizedBody:
    """A body that must hold exactly `length` bytes when a length was given."""

    def __init__(self, body: Body, length: int | None):
        self._body, self._left = body, length

    def readinto(self, buffer: memoryview) -> int:
        n = self._body.readinto(buffer if self._left is None else buffer[:self._left + 1])
        if self._left is not None:
            self._left -= n
            if self._left < 0 or (n == 0 and self._left > 0):
                raise RegistryError(ec.SIZE_INVALID, None, "the body's length does not match "
                                    "its Content-Range")
        return n


def _cancel_quietly(registry: Registry, name: str, upload_id: str) -> None:
    try:
        registry.uploads.cancel(name, upload_id)
    except RegistryError:
        pass


def _count(text: str | None, default: int | None) -> int | None:
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise RegistryError(ec.PAGINATION_NUMBER_INVALID, {"n": text[:32]}, "n must be a "
                            "non-negative integer")
    return value


def _page(items: list[str], request: Request, path: str, default: int | None
          ) -> tuple[list[str], list[tuple[str, str]]]:
    """One page of a sorted list after `last`, with a Link to the next one."""
    n = _count(request.q("n"), default)
    last = request.q("last")
    start = bisect.bisect_right(items, last) if last else 0
    rest = items[start:]
    if n is None or len(rest) <= n:
        return rest, []
    page = rest[:n]
    if not page:
        return [], []
    query = urllib.parse.urlencode({"last": page[-1], "n": n})
    return page, [("Link", f'<{path}?{query}>; rel="next"')]


def _etag_matches(request: Request, digest: Digest) -> bool:
    wanted = request.header("If-None-Match")
    return bool(wanted) and any(v.strip().strip('"') == str(digest) for v in wanted.split(","))


def _byte_range(header: str | None, size: int) -> tuple[int, int] | tuple[()] | None:
    """The one range asked for: (first, last) inclusive; () if it cannot be
    satisfied; None to send the whole blob (no Range, or one we ignore, such
    as several ranges at once)."""
    if not header:
        return None
    m = _RANGE.fullmatch(header.strip())
    if m is None or (not m[1] and not m[2]):
        return None
    if not m[1]:  # the last N bytes
        length = int(m[2])
        if length == 0 or size == 0:
            return ()
        return (max(size - length, 0), size - 1)
    first = int(m[1])
    last = int(m[2]) if m[2] else size - 1
    if first >= size or last < first:
        return ()
    return (first, min(last, size - 1))


_NAME = r"(?P<name>.+)"
ROUTES: list[tuple[tuple[str, ...], re.Pattern[str], Handler, Access]] = [
    (methods, re.compile(pattern), handler, access)
    for methods, pattern, handler, access in [
        (("GET", "HEAD"), r"/v2/?", RegistryAPI.base, _authenticated),
        (("GET", "HEAD"), r"/v2/_catalog", RegistryAPI.catalog, _catalog),
        (("GET", "HEAD"), rf"/v2/{_NAME}/tags/list", RegistryAPI.tags, _repository),
        (("GET", "HEAD"), rf"/v2/{_NAME}/manifests/(?P<reference>[^/]+)", RegistryAPI.get_manifest, _repository),
        (("PUT",), rf"/v2/{_NAME}/manifests/(?P<reference>[^/]+)", RegistryAPI.put_manifest, _repository),
        (("DELETE",), rf"/v2/{_NAME}/manifests/(?P<reference>[^/]+)", RegistryAPI.delete_manifest, _repository),
        (("POST",), rf"/v2/{_NAME}/blobs/uploads/?", RegistryAPI.start_upload, _repository),
        (("GET", "HEAD"), rf"/v2/{_NAME}/blobs/uploads/(?P<upload>[^/]+)", RegistryAPI.upload_status, _repository),
        (("PATCH",), rf"/v2/{_NAME}/blobs/uploads/(?P<upload>[^/]+)", RegistryAPI.patch_upload, _repository),
        (("PUT",), rf"/v2/{_NAME}/blobs/uploads/(?P<upload>[^/]+)", RegistryAPI.finish_upload, _repository),
        (("DELETE",), rf"/v2/{_NAME}/blobs/uploads/(?P<upload>[^/]+)", RegistryAPI.cancel_upload, _repository),
        (("GET", "HEAD"), rf"/v2/{_NAME}/blobs/(?P<digest>[^/]+)", RegistryAPI.get_blob, _repository),
        (("DELETE",), rf"/v2/{_NAME}/blobs/(?P<digest>[^/]+)", RegistryAPI.delete_blob, _repository),
        (("GET",), rf"/v2/{_NAME}/referrers/(?P<digest>[^/]+)", RegistryAPI.referrers, _repository),
        (("GET", "HEAD"), r"/v1/_ping", RegistryAPI.ping_v1, _open),
        (("GET",), r"/v1/search", RegistryAPI.search, _authenticated),
        (("GET", "POST"), r"/token", RegistryAPI.token, _open),
    ]
]
