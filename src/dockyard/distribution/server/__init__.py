"""dockyard's OCI registry server (``dockyard registry serve``).

It implements the OCI distribution spec (pull, push, content discovery,
content management) plus what docker's tools expect of a registry: Docker
media types, the bearer-token flow, and ``/v1/search``.

    httpserver  HTTP/1.1, a thread per connection, bodies streamed, sendfile
    api         the route table: parse → Registry → answer; auth checked per route
    auth        htpasswd (bcrypt) users and HMAC-signed bearer tokens
    registry    the backend: blobs through repositories, manifests checked
                before they are stored, tags, referrers, catalog, search
    uploads     resumable uploads, hashed on the way in, verified at the end
    repositories, blobs, layout
                links into one content-addressed store, and the on-disk tree
    manifests   what a manifest references; Accept negotiation
    names       repository names, tags, digests as the spec spells them
    errcodes    the spec's error codes with their statuses
    gc          mark and sweep of unreferenced blobs (``dockyard registry gc``)
    app         wiring: ServerConfig → a bound server
"""

from .app import ServerConfig, build_server
from .registry import Registry

__all__ = ["Registry", "ServerConfig", "build_server"]
