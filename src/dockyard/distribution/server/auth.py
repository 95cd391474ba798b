"""Who may do what: Basic credentials from an htpasswd file, and docker's
bearer-token flow on top of them.

The flow, as docker, containerd and skopeo drive it:

    client ── GET /v2/<name>/manifests/x ──────────────────────▶ registry
           ◀─ 401 WWW-Authenticate: Bearer realm="http://host/token",
                  service="dockyard-registry",scope="repository:<name>:pull"
              WWW-Authenticate: Basic realm="dockyard-registry"
    client ── GET /token?service=…&scope=repository:<name>:pull
              Authorization: Basic <user:password> ──────────────▶ registry
           ◀─ 200 {"token": "<signed>", "expires_in": 300, …}
    client ── GET /v2/<name>/manifests/x
              Authorization: Bearer <signed> ─────────────────────▶ 200

Tokens are JWTs signed with HMAC-SHA256 under a key made when the server
starts: they cannot be forged, expire after five minutes, and carry the
scopes they grant.  A client that prefers Basic may send its credentials on
every request instead (the second challenge says so).  Every user in the
htpasswd file may pull, push and delete everywhere: the file says who, not
what.  Wrong or missing credentials get a 401 with the challenges, never a
redirect.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from .errcodes import UNAUTHORIZED, RegistryError

log = logging.getLogger("dockyard.registry")

SERVICE = "dockyard-registry"
TOKEN_TTL = 300


@dataclass(frozen=True, slots=True)
class Scope:
    """`repository:<name>:pull,push` — a resource and the actions on it."""

    type: str
    name: str
    actions: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> "Scope | None":
        kind, _, rest = text.partition(":")
        name, sep, actions = rest.rpartition(":")
        if not kind or not sep or not name:
            return None
        return cls(kind, name, frozenset(a for a in actions.split(",") if a))

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"


def repository_scope(name: str, *actions: str) -> Scope:
    return Scope("repository", name, frozenset(actions))


CATALOG = Scope("registry", "catalog", frozenset({"*"}))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Htpasswd:
    """Users and bcrypt hashes from an htpasswd file (``htpasswd -B``).

    The file is read again when it changes.  bcrypt is slow on purpose, so
    a verified (user, password) pair is remembered for as long as the
    user's hash stays the same; failures are never cached.
    """

    def __init__(self, path: str):
        self.path = path
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._users: dict[str, bytes] = {}
        self._verified: set[tuple[str, bytes, bytes]] = set()
        self._load()

    def _load(self) -> None:
        mtime = os.stat(self.path).st_mtime
        if mtime == self._mtime:
            return
        users: dict[str, bytes] = {}
        with open(self.path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                user, sep, hashed = line.partition(":")
                if not sep or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
                    log.warning("%s:%d: not a user:bcrypt-hash line, ignored", self.path, number)
                    continue
                users[user] = hashed.encode()
        self._users, self._mtime = users, mtime

    def check(self, user: str, password: str) -> bool:
        import bcrypt  # only a registry with --htpasswd needs it

        with self._lock:
            try:
                self._load()
            except OSError as exc:
                log.error("cannot read %s: %s", self.path, exc)
            hashed = self._users.get(user)
        if hashed is None:
            return False
        key = (user, hashlib.sha256(password.encode()).digest(), hashed)
        if key in self._verified:
            return True
        try:
            ok = bcrypt.checkpw(password.encode(), hashed)
        except ValueError:
            return False
        if ok:
            self._verified.add(key)
        return ok


class Tokens:
    """Issue and verify HMAC-signed JWTs (HS256) naming granted scopes."""

    def __init__(self, key: bytes | None = None, service: str = SERVICE, ttl: int = TOKEN_TTL):
        self._key = key or secrets.token_bytes(32)
        self.service = service
        self.ttl = ttl

    def issue(self, subject: str, scopes: list[Scope], now: float | None = None) -> dict[str, Any]:
        """The token endpoint's JSON answer."""
        now = int(time.time() if now is None else now)
        claims = {
            "iss": self.service, "sub": subject, "aud": self.service,
            "iat": now, "nbf": now - 1, "exp": now + self.ttl, "jti": secrets.token_hex(8),
            "access": [{"type": s.type, "name": s.name, "actions": sorted(s.actions)} for s in scopes],
        }
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        token = f"{head}.{body}.{self._sign(f'{head}.{body}')}"
        issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        return {"token": token, "access_token": token, "expires_in": self.ttl, "issued_at": issued}

    def verify(self, token: str, now: float | None = None) -> list[Scope] | None:
        """The scopes a token grants; None if it is forged, malformed or expired."""
        parts = token.split(".")
        if len(parts) != 3 or not hmac.compare_digest(self._sign(f"{parts[0]}.{parts[1]}"), parts[2]):
            return None
        try:
            claims = json.loads(_unb64(parts[1]))
            now = time.time() if now is None else now
            if claims["aud"] != self.service or not claims["nbf"] <= now < claims["exp"]:
                return None
            return [Scope(a["type"], a["name"], frozenset(a["actions"])) for a in claims["access"]]
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None

    def _sign(self, text: str) -> str:
        return _b64(hmac.new(self._key, text.encode(), hashlib.sha256).digest())


def _covers(granted: list[Scope], needed: Scope) -> bool:
    for scope in granted:
        if scope.type == needed.type and scope.name == needed.name:
            if "*" in scope.actions or needed.actions <= scope.actions:
                return True
    return False


class AccessController:
    """Decides each request: `authorize` passes or raises UNAUTHORIZED."""

    def __init__(self, htpasswd: Htpasswd, tokens: Tokens | None = None):
        self.htpasswd = htpasswd
        self.tokens = tokens or Tokens()

    def _basic(self, authorization: str) -> str | None:
        """The user named by valid Basic credentials, else None."""
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user if sep and self.htpasswd.check(user, password) else None

    def _check(self, authorization: str | None, needed: list[Scope]) -> str | None:
        """None when the request may proceed, else the RFC 6750 error to report."""
        if not authorization:
            return ""
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer":
            scopes = self.tokens.verify(value.strip())
            if scopes is None:
                return "invalid_token"
            return None if all(_covers(scopes, n) for n in needed) else "insufficient_scope"
        return None if self._basic(authorization) is not None else ""

    def granted(self, authorization: str | None, needed: list[Scope]) -> bool:
        return self._check(authorization, needed) is None

    def authorize(self, authorization: str | None, needed: list[Scope], realm: str) -> None:
        """Pass, or raise UNAUTHORIZED carrying the challenges for `needed`."""
        error = self._check(authorization, needed)
        if error is None:
            return
        bearer = f'Bearer realm="{realm}",service="{self.tokens.service}"'
        if needed:
            bearer += f',scope="{" ".join(str(n) for n in needed)}"'
        if error:
            bearer += f',error="{error}"'
        detail = [{"Type": n.type, "Name": n.name, "Action": a} for n in needed for a in sorted(n.actions)]
        raise RegistryError(UNAUTHORIZED, detail or None,
                            headers=[("WWW-Authenticate", bearer),
                                     ("WWW-Authenticate", f'Basic realm="{self.tokens.service}"')])

    def issue_token(self, authorization: str | None, scopes: list[str]) -> dict[str, Any]:
        """Answer the token endpoint: a token granting `scopes` to a user whose
        Basic credentials are valid, else UNAUTHORIZED with a Basic challenge."""
        user = self._basic(authorization) if authorization else None
        if user is None:
            raise RegistryError(UNAUTHORIZED, None, "invalid username or password"
                                if authorization else "authentication required",
                                headers=[("WWW-Authenticate", f'Basic realm="{self.tokens.service}"')])
        wanted = [s for text in scopes for part in text.split() if (s := Scope.parse(part))]
        return self.tokens.issue(user, wanted)
