"""Wiring: one configuration in, one listening registry server out."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.errors import InvalidArgument

from .api import RegistryAPI
from .auth import AccessController, Htpasswd
from .httpserver import RegistryHTTPServer, tls_context
from .registry import Registry


@dataclass(frozen=True, slots=True)
class ServerConfig:
    root: str
    host: str = ""                 # all interfaces
    port: int = 5000
    tls_cert: str | None = None
    tls_key: str | None = None
    htpasswd: str | None = None
    read_only: bool = False
    durable: bool = True           # fsync blobs before they become visible


def build_server(config: ServerConfig) -> RegistryHTTPServer:
    """Make the registry's objects and bind its socket; the caller serves.

    Everything that can be wrong with the configuration (an unreadable
    htpasswd file, a certificate without its key) fails here, before the
    port is taken, so that a registry never listens half-configured.
    """
    if bool(config.tls_cert) != bool(config.tls_key):
        raise InvalidArgument("--tls-cert and --tls-key go together")
    registry = Registry(config.root, durable=config.durable)
    access = None
    if config.htpasswd:
        try:
            access = AccessController(Htpasswd(config.htpasswd))
        except OSError as exc:
            raise InvalidArgument(f"cannot read the htpasswd file {config.htpasswd}: "
                                  f"{exc.strerror}") from None
    tls = None
    if config.tls_cert and config.tls_key:
        try:
            tls = tls_context(config.tls_cert, config.tls_key)
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"cannot load the TLS certificate and key: {exc}") from None
    app = RegistryAPI(registry, access, read_only=config.read_only)
    return RegistryHTTPServer((config.host, config.port), app, tls)
