"""The registry client: the distribution API (OCI distribution spec, Docker
registry v2) as blocking calls, for `pull` and `push` to compose.

    Registries                 the daemon's one entry point: configuration
      │                        (insecure registries), the shared transport
      └─ client(domain, credentials) → RegistryClient
             one registry, one set of credentials: picks the endpoint
             (ping of /v2/), answers auth challenges (auth.Authenticator)
             └─ repository(name, push=False) → Repository
                    manifests, blobs, uploads, mounts and tags of one
                    repository, each request carrying its token scope

Every method blocks (client_http's transport); run them in worker threads.

Errors the registry reports (``{"errors": [{"code": "MANIFEST_UNKNOWN",
"message": …}]}``) become dockyard's kinds once, in `registry_error`: 404 →
NotFound, 401 → auth.Unauthorized, 403 → Forbidden, other 4xx →
InvalidArgument, 429 and 5xx → Unavailable.  The registry's codes ride along
on the error as ``codes`` so callers can word their message without reading
its text.  Messages keep docker's form: "manifest unknown: manifest unknown".
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator

from dockyard import __version__
from dockyard.content.descriptor import Descriptor
from dockyard.content.digest import Digest
from dockyard.errors import DockyardError, Forbidden, InvalidArgument, NotFound, SystemError, Unavailable
from dockyard.images import mediatypes
from dockyard.images.reference import Reference
from dockyard.distribution.auth import Authenticator, Credentials, Unauthorized, parse_challenges, repository_scope
from dockyard.distribution.auth_config import DOCKER_HUB, registry_domain
from dockyard.distribution.client_endpoint import DaemonConfig, Endpoint, InsecureRegistries, endpoints
from dockyard.distribution.client_http import CHUNK, Reply, Transport, TransportError

DOCKER_HUB_INDEX = "index.docker.io"
USER_AGENT = f"dockyard/{__version__} (linux)"

MANIFEST_ACCEPT = (
    mediatypes.OCI_INDEX, mediatypes.DOCKER_MANIFEST_LIST, mediatypes.OCI_MANIFEST, mediatypes.DOCKER_MANIFEST,
)
MAX_MANIFEST_SIZE = 4 << 20
PROBE_TIMEOUT = 3.0  # seconds for an insecure registry's https attempt
# Blobs up to this size are uploaded in one PUT; larger ones in PATCH chunks
# of this size, each a plain request whose body streams from the file.
MONOLITHIC_UPLOAD_MAX = 64 << 20
UPLOAD_CHUNK = 64 << 20

# What a registry means by a status it sent without a body (HEAD requests).
_BODYLESS = {401: "unauthorized: authentication required", 403: "denied: requested access to the resource is denied",
             404: "not found"}
_KINDS: dict[int, type[DockyardError]] = {401: Unauthorized, 403: Forbidden, 404: NotFound, 429: Unavailable}


def registry_error(status: int, reason: str, body: bytes) -> DockyardError:
    """A registry's error answer as one of dockyard's kinds (see the module docstring)."""
    codes: list[str] = []
    texts: list[str] = []
    try:
        doc = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("errors"), list):
        for item in doc["errors"]:
            if not isinstance(item, dict):
                continue
            code = str(item.get("code") or "UNKNOWN")
            codes.append(code)
            texts.append(f"{code.lower().replace('_', ' ')}: {item.get('message') or ''}".rstrip(": "))
    message = "; ".join(texts) or _BODYLESS.get(status) or f"received unexpected HTTP status: {status} {reason}".rstrip()
    if status in _KINDS:
        kind = _KINDS[status]
    elif 400 <= status < 500:
        kind = InvalidArgument
    elif status >= 500:
        kind = Unavailable
    else:
        kind = SystemError
    error = kind(message)
    error.codes = tuple(codes)  # type: ignore[attr-defined]
    error.http_status = status  # type: ignore[attr-defined]
    return error


def error_codes(error: BaseException) -> tuple[str, ...]:
    return getattr(error, "codes", ())


class Registries:
    """Makes registry clients; shared by every pull, push, login and search."""

    def __init__(self, config: DaemonConfig | None = None, transport: Transport | None = None):
        self._config = config
        self.transport = transport or Transport(user_agent=USER_AGENT)
        # domain → the endpoint that answered last, tried first next time
        # (an insecure registry's https probe is then paid once).
        self._answered: dict[str, Endpoint] = {}

    def insecure(self) -> InsecureRegistries:
        return self._config.insecure_registries() if self._config is not None else InsecureRegistries()

    def client(self, domain: str, credentials: Credentials | None = None) -> "RegistryClient":
        if registry_domain(domain) == DOCKER_HUB:
            domain = DOCKER_HUB
        return RegistryClient(domain, endpoints(domain, self.insecure()), credentials or Credentials(), self.transport,
                              self._answered)

    def search_client(self, domain: str, credentials: Credentials | None = None) -> "RegistryClient":
        """The client `docker search` talks to: Docker Hub's index answers
        /v1/search for docker.io; any other registry answers it itself."""
        if registry_domain(domain) == DOCKER_HUB:
            return RegistryClient(DOCKER_HUB, [Endpoint("https", DOCKER_HUB_INDEX)], credentials or Credentials(),
                                  self.transport, {})
        return self.client(domain, credentials)

    def repository(self, ref: Reference, credentials: Credentials | None = None, push: bool = False) -> "Repository":
        return self.client(ref.domain, credentials).repository(ref.path, push=push)

    def close(self) -> None:
        self.transport.close()


class RegistryClient:
    """One registry, one set of credentials (thread-safe once pinged)."""

    def __init__(self, domain: str, candidates: list[Endpoint], credentials: Credentials, transport: Transport,
                 answered: dict[str, Endpoint] | None = None):
        self.domain = domain
        self._candidates = candidates
        self._answered = answered if answered is not None else {}
        self._transport = transport
        self.auth = Authenticator(credentials, self._fetch_for_auth, user_agent=transport.user_agent)
        self._endpoint: Endpoint | None = None
        self._ping_status = 0
        self._lock = threading.Lock()

    # -- endpoint and auth ----------------------------------------------------------------

    @property
    def endpoint(self) -> Endpoint:
        with self._lock:
            if self._endpoint is None:
                self._ping_locked()
            assert self._endpoint is not None
            return self._endpoint

    def ping(self) -> int:
        """GET /v2/ on the first endpoint that answers; its status (200, or 401 with a challenge)."""
        with self._lock:
            self._endpoint = None
            self._ping_locked()
            return self._ping_status

    def _ping_locked(self) -> None:
        last: TransportError | None = None
        known = self._answered.get(self.domain)
        ordered = sorted(self._candidates, key=lambda e: e != known)
        for endpoint in ordered:
            # A plain-http server may never answer a TLS hello: probe briefly.
            probe = PROBE_TIMEOUT if len(ordered) > 1 and endpoint.scheme == "https" else None
            try:
                reply = self._transport.request("GET", endpoint.url("/v2/"), verify_tls=endpoint.verify_tls,
                                                timeout=probe)
            except TransportError as exc:
                last = exc
                continue
            challenges = parse_challenges(reply.header_values("WWW-Authenticate"))
            reply.read()
            if reply.status >= 500:
                last = TransportError(f'Get "{endpoint.url("/v2/")}": registry answered {reply.status} {reply.reason}')
                continue
            if reply.status == 401:
                self.auth.learn(challenges)
            self._endpoint = endpoint
            self._ping_status = reply.status
            self._answered[self.domain] = endpoint
            return
        assert last is not None
        if self.domain == DOCKER_HUB:
            last = TransportError(f"{last.message} (Docker Hub cannot be reached from this machine; "
                                  "name an image in a registry that can be, e.g. localhost:5000/busybox)")
        raise last

    def _fetch_for_auth(self, method: str, url: str, headers, body: bytes | None) -> tuple[int, bytes]:
        verify = self._endpoint.verify_tls if self._endpoint is not None else True
        reply = self._transport.request(method, url, headers, body, verify_tls=verify)
        return reply.status, reply.read()

    def login(self) -> None:
        """Check the credentials against the registry; Unauthorized when they are refused."""
        endpoint = self.endpoint
        if self._ping_status == 200:
            return  # docker's answer too: a registry without auth accepts anyone
        challenge = self.auth.challenge
        if challenge is None:
            raise Unavailable(f"login attempt to {endpoint.url('/v2/')} failed with status: {self._ping_status}")
        if challenge.scheme == "bearer":
            self.auth.login()
            return
        header = self.auth.header(())
        reply = self._transport.request("GET", endpoint.url("/v2/"), {"Authorization": header} if header else {},
                                        verify_tls=endpoint.verify_tls)
        reply.read()
        if reply.status == 401:
            raise Unauthorized(f"login attempt to {endpoint.url('/v2/')} failed with status: 401 Unauthorized")
        if reply.status != 200:
            raise Unavailable(f"login attempt to {endpoint.url('/v2/')} failed with status: {reply.status} {reply.reason}")

    # -- requests ------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path_or_url: str,
        scopes: tuple[str, ...] = (),
        headers: dict[str, str] | None = None,
        body: bytes | BinaryIO | None = None,
        expect: tuple[int, ...] = (200,),
    ) -> Reply:
        """One authenticated request; a status outside `expect` raises `registry_error`.

        A 401 is answered once (auth.Authenticator.retry_after) and the
        request retried; a file body is rewound for that retry.
        """
        endpoint = self.endpoint
        url = path_or_url if "://" in path_or_url else endpoint.url(path_or_url)
        same_host = urllib.parse.urlsplit(url).netloc == endpoint.host
        hdrs = dict(headers or {})
        sent = self.auth.header(scopes) if same_host else None
        start = body.tell() if body is not None and not isinstance(body, (bytes, bytearray)) else None
        reply = self._send(method, url, hdrs, sent, body, endpoint)
        if reply.status == 401 and same_host:
            challenges = parse_challenges(reply.header_values("WWW-Authenticate"))
            first = reply.read()
            retry = self.auth.retry_after(challenges, scopes, sent)
            if retry is None:
                raise registry_error(401, reply.reason, first)
            if start is not None:
                body.seek(start)  # type: ignore[union-attr]
            reply = self._send(method, url, hdrs, retry, body, endpoint)
        if reply.status not in expect:
            raise registry_error(reply.status, reply.reason, reply.read())
        return reply

    def _send(self, method: str, url: str, headers: dict[str, str], authorization: str | None,
              body: bytes | BinaryIO | None, endpoint: Endpoint) -> Reply:
        if authorization:
            headers = {**headers, "Authorization": authorization}
        return self._transport.request(method, url, headers, body, verify_tls=endpoint.verify_tls)

    def repository(self, name: str, push: bool = False) -> "Repository":
        return Repository(self, name, push)

    def search(self, term: str, limit: int) -> dict:
        """GET /v1/search (what `docker search` asks a registry)."""
        query = urllib.parse.urlencode({"q": term, "n": str(limit)})
        try:
            reply = self.request("GET", f"/v1/search?{query}", ())
        except NotFound:
            raise NotFound(f"{self.domain} does not offer search (GET /v1/search: 404 Not Found)") from None
        try:
            doc = json.loads(reply.read())
        except (ValueError, UnicodeDecodeError):
            raise Unavailable(f"search on {self.domain}: the registry sent invalid JSON") from None
        if not isinstance(doc, dict):
            raise Unavailable(f"search on {self.domain}: the registry sent an unexpected answer")
        return doc


@dataclass(frozen=True, slots=True)
class FetchedManifest:
    data: bytes
    media_type: str
    digest: Digest


class Repository:
    """One repository of a registry (`name` is its path: "acc/bb", "library/busybox")."""

    def __init__(self, client: RegistryClient, name: str, push: bool = False):
        self.client = client
        self.name = name
        self.scopes = (repository_scope(name, ("pull", "push") if push else ("pull",)),)

    def _request(self, method: str, path: str, **kw) -> Reply:
        return self.client.request(method, path, kw.pop("scopes", self.scopes), **kw)

    # -- manifests ------------------------------------------------------------------------------

    def manifest(self, reference: str) -> FetchedManifest:
        """GET a manifest or index by tag or digest; by digest, its bytes are verified."""
        reply = self._request("GET", f"/v2/{self.name}/manifests/{reference}",
                              headers={"Accept": ", ".join(MANIFEST_ACCEPT)})
        header_digest = reply.header("Docker-Content-Digest")
        data = reply.read(MAX_MANIFEST_SIZE)
        digest = Digest.from_bytes(data)
        expected = reference if reference.startswith("sha256:") else header_digest
        if expected and expected.startswith("sha256:") and str(digest) != expected:
            raise InvalidArgument(f"manifest verification failed for digest {expected}")
        return FetchedManifest(data, manifest_media_type(data, reply.header("Content-Type")), digest)

    def manifest_descriptor(self, reference: str) -> Descriptor:
        """HEAD a manifest: its media type, digest and size (GET when HEAD says too little)."""
        reply = self._request("HEAD", f"/v2/{self.name}/manifests/{reference}",
                              headers={"Accept": ", ".join(MANIFEST_ACCEPT)})
        reply.read()
        digest, length = reply.header("Docker-Content-Digest"), reply.length
        media_type = (reply.header("Content-Type") or "").split(";")[0].strip()
        if digest and length is not None and media_type in MANIFEST_ACCEPT:
            return Descriptor(media_type, Digest.parse(digest), length)
        fetched = self.manifest(reference)
        return Descriptor(fetched.media_type, fetched.digest, len(fetched.data))

    def put_manifest(self, reference: str, data: bytes, media_type: str) -> Digest:
        reply = self._request("PUT", f"/v2/{self.name}/manifests/{reference}",
                              headers={"Content-Type": media_type, "Content-Length": str(len(data))},
                              body=data, expect=(200, 201, 202))
        reply.read()
        return Digest.from_bytes(data)

    def tags(self) -> list[str]:
        """Every tag, following the Link header's pagination."""
        out: list[str] = []
        path: str | None = f"/v2/{self.name}/tags/list?n=1000"
        while path:
            reply = self._request("GET", path)
            link = reply.header("Link") or ""
            try:
                doc = json.loads(reply.read())
            except (ValueError, UnicodeDecodeError):
                raise Unavailable(f"tags of {self.name}: the registry sent invalid JSON") from None
            out += [str(t) for t in doc.get("tags") or []]
            path = _next_link(link)
        return out

    # -- blobs --------------------------------------------------------------------------------------

    def open_blob(self, digest: Digest | str) -> Reply:
        """GET a blob; the caller reads (and verifies) the body."""
        return self._request("GET", f"/v2/{self.name}/blobs/{digest}")

    def read_blob(self, digest: Digest | str, limit: int = MAX_MANIFEST_SIZE) -> bytes:
        data = self.open_blob(digest).read(limit)
        if str(Digest.from_bytes(data)) != str(digest):
            raise InvalidArgument(f"blob {digest}: the registry sent content with another digest")
        return data

    def blob_size(self, digest: Digest | str) -> int | None:
        """HEAD a blob: its size when the registry has it, else None."""
        try:
            reply = self._request("HEAD", f"/v2/{self.name}/blobs/{digest}")
        except NotFound:
            return None
        reply.read()
        return reply.length if reply.length is not None else 0

    def mount_blob(self, digest: Digest | str, source: str) -> str | None:
        """Cross-repository mount from `source`; None when mounted, else the
        location of the upload the registry opened instead."""
        scopes = self.scopes + (repository_scope(source, ("pull",)),)
        query = urllib.parse.urlencode({"mount": str(digest), "from": source})
        reply = self._request("POST", f"/v2/{self.name}/blobs/uploads/?{query}", scopes=scopes,
                              headers={"Content-Length": "0"}, body=b"", expect=(201, 202))
        location = reply.header("Location")
        status = reply.status
        reply.read()
        if status == 201:
            return None
        return self._location(location)

    def start_upload(self) -> str:
        reply = self._request("POST", f"/v2/{self.name}/blobs/uploads/", headers={"Content-Length": "0"},
                              body=b"", expect=(202,))
        location = reply.header("Location")
        reply.read()
        return self._location(location)

    def upload(self, location: str, stream: BinaryIO, size: int, digest: Digest | str,
               progress: Callable[[int], None] | None = None) -> None:
        """Send a blob to an open upload: one PUT when small, else PATCH chunks
        then a PUT, streamed from `stream` (positioned at the blob's start)."""
        if size <= MONOLITHIC_UPLOAD_MAX:
            body = _Window(stream, size, progress)
            reply = self._request("PUT", _with_query(location, digest=str(digest)), body=body,
                                  headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                                  expect=(201, 204))
            reply.read()
            return
        offset = 0
        while offset < size:
            length = min(UPLOAD_CHUNK, size - offset)
            body = _Window(stream, length, progress)
            reply = self._request("PATCH", location, body=body, expect=(202, 204), headers={
                "Content-Type": "application/octet-stream", "Content-Length": str(length),
                "Content-Range": f"{offset}-{offset + length - 1}",
            })
            location = self._location(reply.header("Location") or location)
            reply.read()
            offset += length
        reply = self._request("PUT", _with_query(location, digest=str(digest)), body=b"",
                              headers={"Content-Length": "0"}, expect=(201, 204))
        reply.read()

    def _location(self, location: str | None) -> str:
        if not location:
            raise Unavailable(f"upload to {self.name}: the registry sent no Location")
        return urllib.parse.urljoin(self.client.endpoint.url("/"), location)


class _Window:
    """The next `length` bytes of a stream as a body http.client can send; reports progress."""

    def __init__(self, stream: BinaryIO, length: int, progress: Callable[[int], None] | None):
        self._stream = stream
        self._left = length
        self._progress = progress
        self._start = stream.tell()
        self._length = length

    def read(self, size: int = CHUNK) -> bytes:
        if self._left <= 0:
            return b""
        data = self._stream.read(min(size if size > 0 else CHUNK, self._left))
        if not data:
            raise SystemError("blob ended before its recorded size")
        self._left -= len(data)
        if self._progress is not None:
            self._progress(len(data))
        return data

    def tell(self) -> int:
        return self._start + (self._length - self._left)

    def seek(self, position: int) -> None:
        """Rewind for a retry (progress counts the bytes again, as docker's does)."""
        self._stream.seek(position)
        self._left = self._length - (position - self._start)

    def seekable(self) -> bool:
        return True


def manifest_media_type(data: bytes, content_type: str | None) -> str:
    """What a manifest is: its own mediaType field, else the Content-Type, else by shape."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument("invalid manifest: not JSON") from None
    if not isinstance(doc, dict):
        raise InvalidArgument("invalid manifest: not a JSON object")
    declared = doc.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    header = (content_type or "").split(";")[0].strip()
    if header in MANIFEST_ACCEPT:
        return header
    if "manifests" in doc:
        return mediatypes.OCI_INDEX
    if doc.get("schemaVersion") == 1:
        return "application/vnd.docker.distribution.manifest.v1+json"
    return mediatypes.OCI_MANIFEST


def _with_query(url: str, **params: str) -> str:
    sep = "&" if "?" in url else "?"
    return url + sep + urllib.parse.urlencode(params)


def _next_link(link: str) -> str | None:
    """`Link: </v2/acc/bb/tags/list?last=v9&n=1000>; rel="next"` → the path."""
    for part in link.split(","):
        target, _, params = part.partition(";")
        if 'rel="next"' in params.replace(" ", "") or "rel=next" in params.replace(" ", ""):
            return target.strip().strip("<>") or None
    return None


def iter_blob(reply: Reply, size: int) -> Iterator[bytes]:
    """A blob's body, refusing more bytes than its descriptor says."""
    received = 0
    for chunk in reply.chunks():
        received += len(chunk)
        if received > size:
            reply.close()
            raise InvalidArgument(f"blob larger than its descriptor's {size} bytes")
        yield chunk
    if received != size:
        raise Unavailable(f"blob ended after {received} of {size} bytes")


__all__ = [
    "FetchedManifest", "MANIFEST_ACCEPT", "Registries", "RegistryClient", "Repository",
    "error_codes", "iter_blob", "manifest_media_type", "registry_error",
]
