"""The one set of error kinds dockyard uses, from the kernel up to the CLI.

    DockyardError
    ├── NotFound          no such container, image, blob, snapshot …   (HTTP 404)
    ├── Conflict          name in use, container running, image in use (HTTP 409)
    ├── InvalidArgument   malformed input, bad reference, bad flag      (HTTP 400)
    ├── NotModified       already started / already stopped             (HTTP 304)
    ├── Forbidden         not allowed in this state                     (HTTP 403)
    ├── Unavailable       a dependency cannot be reached                (HTTP 503)
    └── SystemError       the kernel or the runtime failed              (HTTP 500)

Each edge translates once: the API layer has the one status table
(daemon/http.py), the client maps status codes back to these kinds
(client/api.py).  Are you sure you need a new class?  Most failures are one
of the above with a good message.
"""


class DockyardError(Exception):
    """Base of every error dockyard raises on purpose."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(DockyardError):
    """The thing asked for does not exist."""


class Conflict(DockyardError):
    """The request conflicts with the current state (name taken, in use, running)."""


class InvalidArgument(DockyardError):
    """The request itself is malformed or names something impossible."""


class NotModified(DockyardError):
    """Nothing to do: the object is already in the requested state."""


class Forbidden(DockyardError):
    """The operation is not allowed."""


class Unavailable(DockyardError):
    """A part dockyard depends on is not reachable."""


class SystemError(DockyardError):  # noqa: A001 - deliberate: the kind, not the builtin
    """The kernel or a runtime failed underneath us."""
