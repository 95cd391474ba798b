"""Credentials stored the way docker's CLI stores them: `config.json`.

    $DOCKER_CONFIG/config.json        (default ~/.docker/config.json)
    {
      "auths": {
        "https://index.docker.io/v1/": {"auth": "<base64 user:password>"},
        "localhost:5000": {"auth": "…"},
        "registry.example": {"identitytoken": "…"}
      },
      …every other key is kept as found…
    }

Keys are server addresses as `docker login` was given them, Docker Hub's
being "https://index.docker.io/v1/"; a lookup matches a key by the registry
it names ("http://localhost:5000/" finds "localhost:5000").  Writes are
atomic (temporary file, fsync, rename) and the file is private (0600), so
dockyard and docker can share one file.  Credential helpers (`credsStore`,
`credHelpers`) are not run.

This module is the CLI's: stdlib only and cheap to import.  The daemon
never reads config.json; clients send what they found in X-Registry-Auth.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile

DOCKER_HUB = "docker.io"
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}


def registry_domain(server: str) -> str:
    """A server as users write it (login argument, config.json key) → the
    reference domain it stands for: "https://index.docker.io/v1/" → "docker.io",
    "http://localhost:5000/" → "localhost:5000"."""
    text = server.strip()
    for prefix in ("http://", "https://"):
        if text.lower().startswith(prefix):
            text = text[len(prefix):]
    text = text.split("/", 1)[0].lower()
    if not text or text in _HUB_ALIASES:
        return DOCKER_HUB
    return text


def auth_key(domain: str) -> str:
    """The config.json key for a registry (docker's "server address")."""
    return DOCKER_HUB_AUTH_KEY if registry_domain(domain) == DOCKER_HUB else domain


def config_dir(environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


class ConfigFile:
    """config.json's credentials (the rest of the file is kept untouched)."""

    def __init__(self, path: str, doc: dict | None = None):
        self.path = path
        self.doc = doc if doc is not None else {}

    @classmethod
    def load(cls, directory: str | None = None) -> "ConfigFile":
        path = os.path.join(directory or config_dir(), "config.json")
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return cls(path)
        try:
            doc = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            raise ValueError(f"loading config file: {path}: {exc}") from None
        if not isinstance(doc, dict):
            raise ValueError(f"loading config file: {path}: not a JSON object")
        return cls(path, doc)

    @property
    def auths(self) -> dict:
        auths = self.doc.get("auths")
        return auths if isinstance(auths, dict) else {}

    def _key_for(self, domain: str) -> str | None:
        domain = registry_domain(domain)
        if auth_key(domain) in self.auths:
            return auth_key(domain)
        for key in self.auths:
            if registry_domain(key) == domain:
                return key
        return None

    def credentials(self, domain: str) -> dict:
        """docker's AuthConfig JSON for a registry ({} when none is stored)."""
        key = self._key_for(domain)
        if key is None:
            return {}
        entry = self.auths.get(key) or {}
        out: dict = {"serveraddress": key}
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (binascii.Error, ValueError, UnicodeDecodeError):
                raise ValueError(f"{self.path}: the credentials for {key} are not base64") from None
            out.update(username=user, password=password)
        elif entry.get("username"):
            out.update(username=entry["username"], password=entry.get("password", ""))
        if entry.get("identitytoken"):
            out["identitytoken"] = entry["identitytoken"]
        return out

    def store(self, server: str, username: str, password: str, identity_token: str = "") -> None:
        key = self._key_for(server) or auth_key(server)
        entry: dict = {}
        if identity_token:
            entry["identitytoken"] = identity_token
        else:
            entry["auth"] = base64.b64encode(f"{username}:{password}".encode()).decode()
        auths = dict(self.auths)
        auths[key] = entry
        self.doc["auths"] = auths
        self.save()

    def remove(self, server: str) -> bool:
        """Forget the registry's credentials; False when there were none."""
        key = self._key_for(server)
        if key is None:
            return False
        auths = dict(self.auths)
        del auths[key]
        self.doc["auths"] = auths
        self.save()
        return True

    def save(self) -> None:
        directory = os.path.dirname(self.path)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix="config.json.", dir=directory)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(self.doc, f, indent="\t")
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.chmod(temp, 0o600)
            os.replace(temp, self.path)
        except BaseException:
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass
            raise


def registry_auth_header(credentials: dict) -> str:
    """X-Registry-Auth: base64url of the AuthConfig JSON, as docker's CLI sends it."""
    return base64.urlsafe_b64encode(json.dumps(credentials).encode()).decode()


__all__ = ["ConfigFile", "DOCKER_HUB", "DOCKER_HUB_AUTH_KEY", "auth_key", "config_dir", "registry_auth_header",
           "registry_domain"]
