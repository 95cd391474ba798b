"""Registry authentication: credentials, challenges, scopes and tokens.

The dance, as distribution's token specification and docker's client do it:

1. A request the registry will not serve anonymously is answered 401 with a
   challenge, ``WWW-Authenticate: Bearer realm="https://auth.example/token",
   service="registry.example",scope="repository:acc/bb:pull"`` or
   ``Basic realm="Registry Realm"``.
2. Basic: the request is sent again with ``Authorization: Basic
   base64(user:pass)``.  Bearer: ``GET <realm>?service=…&scope=…&account=…``
   with the Basic credentials (or a POST of the identity token as an OAuth2
   refresh token), and the answer's ``token`` (or ``access_token``) goes in
   ``Authorization: Bearer …``.
3. One retry per request, no more: a second 401 is the registry's answer,
   reported as "unauthorized", never a loop of token fetches.

`Authenticator` keeps, per registry and set of credentials, the challenge
seen last (so later requests authenticate up front, without the 401 round
trip) and the tokens fetched, per scope set, until shortly before they
expire.  It does no I/O of its own: the HTTP call that fetches a token is
given to it, which keeps the dance testable.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from dockyard.errors import Forbidden, InvalidArgument, Unavailable

# -- credentials -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a client hands over for one registry (docker's AuthConfig)."""

    username: str = ""
    password: str = ""
    identity_token: str = ""  # an OAuth2 refresh token from an earlier login
    registry_token: str = ""  # a bearer token to send as is
    server_address: str = ""

    @property
    def anonymous(self) -> bool:
        return not (self.username or self.identity_token or self.registry_token)

    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    @classmethod
    def from_api(cls, doc: Mapping | None) -> "Credentials":
        """docker's AuthConfig JSON (POST /auth's body, X-Registry-Auth's content)."""
        if not doc:
            return cls()
        if not isinstance(doc, Mapping):
            raise InvalidArgument("invalid registry credentials: expected a JSON object")
        username, password = str(doc.get("username") or ""), str(doc.get("password") or "")
        if not username and doc.get("auth"):
            username, password = decode_auth_field(str(doc["auth"]))
        return cls(
            username=username,
            password=password,
            identity_token=str(doc.get("identitytoken") or ""),
            registry_token=str(doc.get("registrytoken") or ""),
            server_address=str(doc.get("serveraddress") or ""),
        )

    def to_api(self) -> dict:
        out = {"username": self.username, "password": self.password, "serveraddress": self.server_address}
        if self.identity_token:
            out["identitytoken"] = self.identity_token
        if self.registry_token:
            out["registrytoken"] = self.registry_token
        return {k: v for k, v in out.items() if v}

    @classmethod
    def from_registry_auth(cls, header: str | None) -> "Credentials":
        """The X-Registry-Auth header: base64url (padded or not) of the JSON."""
        if not header or not header.strip():
            return cls()
        text = header.strip()
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            try:
                raw = base64.b64decode(text + "=" * (-len(text) % 4))
            except (binascii.Error, ValueError):
                raise InvalidArgument("invalid X-Registry-Auth header: not base64") from None
        try:
            doc = json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise InvalidArgument("invalid X-Registry-Auth header: not JSON") from None
        return cls.from_api(doc)

    def to_registry_auth(self) -> str:
        return base64.urlsafe_b64encode(json.dumps(self.to_api()).encode()).decode()


def decode_auth_field(value: str) -> tuple[str, str]:
    """config.json's "auth": base64("user:password")."""
    try:
        text = base64.b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidArgument("invalid auth configuration: \"auth\" is not base64") from None
    user, sep, password = text.partition(":")
    if not sep:
        raise InvalidArgument("invalid auth configuration: \"auth\" is not user:password")
    return user, password


def encode_auth_field(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()


# -- challenges ------------------------------------------------------------------------------

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_PARAM = re.compile(rf"\s*({_TOKEN})\s*=\s*(?:\"((?:[^\"\\]|\\.)*)\"|({_TOKEN}))\s*")
_SCHEME = re.compile(rf"\s*({_TOKEN})(?:\s+|$)")


@dataclass(frozen=True, slots=True)
class Challenge:
    """One challenge of a WWW-Authenticate header; `scheme` is lower-case."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")


def parse_challenges(values: Iterable[str]) -> list[Challenge]:
    """WWW-Authenticate header values → challenges, in order (RFC 7235).

    One value may hold several challenges (``Basic realm="a", Bearer
    realm="b"``); parameter names are case-insensitive, values may be
    quoted with backslash escapes.  What cannot be parsed is skipped.
    """
    out: list[Challenge] = []
    for value in values:
        text = value
        pos = 0
        while pos < len(text):
            while pos < len(text) and text[pos] in " \t,":
                pos += 1
            m = _SCHEME.match(text, pos)
            if m is None:
                break
            scheme = m.group(1).lower()
            pos = m.end()
            params: dict[str, str] = {}
            while True:
                pm = _PARAM.match(text, pos)
                if pm is None:
                    break
                name = pm.group(1).lower()
                quoted, bare = pm.group(2), pm.group(3)
                params[name] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
                pos = pm.end()
                if pos < len(text) and text[pos] == ",":
                    # A comma either separates parameters or ends the challenge:
                    # look ahead for "name=" to tell which.
                    if _PARAM.match(text, pos + 1):
                        pos += 1
                        continue
                break
            out.append(Challenge(scheme, params))
    return out


# -- scopes ------------------------------------------------------------------------------------


def repository_scope(name: str, actions: Iterable[str]) -> str:
    """"repository:acc/bb:pull,push" — `name` is the path without the domain."""
    return f"repository:{name}:{','.join(actions)}"


# -- the authenticator ----------------------------------------------------------------------

# fetch(method, url, headers, body) → (status, body bytes); raises Unavailable.
Fetch = Callable[[str, str, Mapping[str, str], bytes | None], tuple[int, bytes]]

_MIN_TOKEN_LIFETIME = 60  # seconds, as the token spec says when expires_in is absent
_REFRESH_MARGIN = 10


class Unauthorized(Forbidden):
    """The registry refused these credentials (or their absence).

    A Forbidden (HTTP 403 in the daemon's table); POST /auth answers 401
    for it itself, as docker does.
    """


@dataclass
class _Token:
    value: str
    expires: float


class Authenticator:
    """The auth state for one registry and one set of credentials (thread-safe)."""

    def __init__(self, credentials: Credentials, fetch: Fetch, *, user_agent: str = ""):
        self.credentials = credentials
        self._fetch = fetch
        self._user_agent = user_agent
        self._challenge: Challenge | None = None
        self._tokens: dict[tuple[str, ...], _Token] = {}
        self._lock = threading.Lock()

    @property
    def challenge(self) -> Challenge | None:
        return self._challenge

    def learn(self, challenges: list[Challenge]) -> Challenge | None:
        """Remember the challenge we can answer (Bearer preferred, then Basic)."""
        chosen = _choose(challenges)
        if chosen is not None:
            with self._lock:
                self._challenge = chosen
        return chosen

    def header(self, scopes: tuple[str, ...]) -> str | None:
        """The Authorization header for a request needing `scopes`, or None.

        Fetches a bearer token when the registry asked for one and none is
        cached for these scopes.
        """
        creds = self.credentials
        challenge = self._challenge
        if challenge is None:
            return f"Bearer {creds.registry_token}" if creds.registry_token else None
        if challenge.scheme == "basic":
            return creds.basic() if creds.username else None
        if creds.registry_token:
            return f"Bearer {creds.registry_token}"
        key = tuple(sorted(set(scopes)))
        with self._lock:
            token = self._tokens.get(key)
        if token is None or token.expires - _REFRESH_MARGIN < time.time():
            token = self._fetch_token(challenge, key)
            with self._lock:
                self._tokens[key] = token
        return f"Bearer {token.value}" if token.value else None

    def retry_after(self, challenges: list[Challenge], scopes: tuple[str, ...], sent: str | None) -> str | None:
        """After a 401: the header to retry once with, or None when retrying cannot help.

        `sent` is the Authorization header the refused request carried.  The
        caller retries once at most, so a registry that keeps refusing costs
        one token fetch and one retry, never a loop.
        """
        chosen = self.learn(challenges)
        if chosen is None:
            return None
        if chosen.scheme == "basic":
            header = self.credentials.basic() if self.credentials.username else None
            return header if header != sent else None
        if self.credentials.registry_token:
            header = f"Bearer {self.credentials.registry_token}"
            return header if header != sent else None
        wanted = set(scopes)
        if chosen.params.get("scope"):
            wanted.update(s for s in chosen.params["scope"].split(" ") if s)
        token = self._fetch_token(chosen, tuple(sorted(wanted)))
        with self._lock:
            self._tokens[tuple(sorted(set(scopes)))] = token
        header = f"Bearer {token.value}"
        return header if header != sent else None

    def login(self) -> None:
        """Prove the credentials: fetch a token with no scope (Bearer), as `docker login` does."""
        challenge = self._challenge
        if challenge is not None and challenge.scheme == "bearer":
            self._fetch_token(challenge, (), offline=True)

    def _fetch_token(self, challenge: Challenge, scopes: tuple[str, ...], offline: bool = False) -> _Token:
        realm = challenge.realm
        if not realm.startswith(("https://", "http://")):
            raise Unavailable(f"registry auth: the bearer challenge's realm {realm!r} is not an http(s) URL")
        creds = self.credentials
        query: list[tuple[str, str]] = []
        if challenge.params.get("service"):
            query.append(("service", challenge.params["service"]))
        query += [("scope", s) for s in scopes]
        headers = {"User-Agent": self._user_agent} if self._user_agent else {}
        if creds.identity_token:
            form = query + [("grant_type", "refresh_token"), ("refresh_token", creds.identity_token),
                            ("client_id", "dockyard")]
            if offline:
                form.append(("access_type", "offline"))
            body = urllib.parse.urlencode(form).encode()
            status, data = self._fetch("POST", realm, {**headers, "Content-Type": "application/x-www-form-urlencoded"}, body)
        else:
            if creds.username:
                query.append(("account", creds.username))
                headers["Authorization"] = creds.basic()
            if offline:
                query += [("offline_token", "true"), ("client_id", "dockyard")]
            sep = "&" if "?" in realm else "?"
            url = realm + (sep + urllib.parse.urlencode(query) if query else "")
            status, data = self._fetch("GET", url, headers, None)
        if status in (401, 403):
            raise Unauthorized(_token_error(data) or "unauthorized: incorrect username or password")
        if status != 200:
            raise Unavailable(f"registry auth: token server {realm} answered {status}: {_token_error(data) or 'no detail'}")
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise Unavailable(f"registry auth: token server {realm} sent invalid JSON") from None
        value = str(doc.get("token") or doc.get("access_token") or "")
        if not value:
            raise Unavailable(f"registry auth: token server {realm} sent no token")
        try:
            lifetime = max(int(doc.get("expires_in") or 0), _MIN_TOKEN_LIFETIME)
        except (TypeError, ValueError):
            lifetime = _MIN_TOKEN_LIFETIME
        return _Token(value, time.time() + lifetime)


def _choose(challenges: list[Challenge]) -> Challenge | None:
    for scheme in ("bearer", "basic"):
        for challenge in challenges:
            if challenge.scheme == scheme:
                return challenge
    return None


def _token_error(data: bytes) -> str:
    """The message of a token server's (or registry's) error body."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return data.decode("utf-8", "replace").strip()[:200]
    if isinstance(doc, dict):
        errs = doc.get("errors")
        if isinstance(errs, list) and errs and isinstance(errs[0], dict):
            code = str(errs[0].get("code") or "").lower().replace("_", " ")
            message = str(errs[0].get("message") or "")
            return f"{code}: {message}" if code else message
        for key in ("details", "error_description", "error", "message"):
            if doc.get(key):
                return str(doc[key])
    return ""


__all__ = [
    "Authenticator", "Challenge", "Credentials", "Unauthorized", "decode_auth_field",
    "encode_auth_field", "parse_challenges", "repository_scope",
]
