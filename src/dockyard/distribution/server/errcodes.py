"""The registry's error codes, each registered once with its message and status.

The distribution spec fixes the vocabulary a client sees: a 4xx body is

    {"errors": [{"code": "BLOB_UNKNOWN", "message": "...", "detail": ...}]}

and the code, not the message, is what clients act on.  Every code the
server can answer is a constant below; the storage and the handlers raise
`RegistryError(CODE, detail)` and the HTTP edge writes it with the code's
status.  Nothing recognises an error by its text.

Statuses follow the CNCF registry where the spec leaves them open, except
BLOB_UPLOAD_INVALID, which is 400 as the spec's endpoint table implies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dockyard.errors import DockyardError


@dataclass(frozen=True, slots=True)
class ErrorCode:
    value: str
    message: str
    status: int


CODES: dict[str, ErrorCode] = {}


def _register(value: str, message: str, status: int) -> ErrorCode:
    code = ErrorCode(value, message, status)
    assert value not in CODES, f"error code {value} registered twice"
    CODES[value] = code
    return code


BLOB_UNKNOWN = _register("BLOB_UNKNOWN", "blob unknown to registry", 404)
BLOB_UPLOAD_INVALID = _register("BLOB_UPLOAD_INVALID", "blob upload invalid", 400)
BLOB_UPLOAD_UNKNOWN = _register("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", 404)
DIGEST_INVALID = _register("DIGEST_INVALID", "provided digest did not match uploaded content", 400)
MANIFEST_BLOB_UNKNOWN = _register("MANIFEST_BLOB_UNKNOWN", "manifest references a manifest or blob "
                                  "unknown to registry", 400)
MANIFEST_INVALID = _register("MANIFEST_INVALID", "manifest invalid", 400)
MANIFEST_UNKNOWN = _register("MANIFEST_UNKNOWN", "manifest unknown to registry", 404)
NAME_INVALID = _register("NAME_INVALID", "invalid repository name", 400)
NAME_UNKNOWN = _register("NAME_UNKNOWN", "repository name not known to registry", 404)
SIZE_INVALID = _register("SIZE_INVALID", "provided length did not match content length", 400)
TAG_INVALID = _register("TAG_INVALID", "invalid tag", 400)
UNAUTHORIZED = _register("UNAUTHORIZED", "authentication required", 401)
DENIED = _register("DENIED", "requested access to the resource is denied", 403)
UNSUPPORTED = _register("UNSUPPORTED", "the operation is unsupported", 405)
# Not in the spec's table, but what the CNCF registry answers (and clients
# understand) for a chunk that does not continue the upload, and for a bad `n`.
RANGE_INVALID = _register("RANGE_INVALID", "invalid content range", 416)
PAGINATION_NUMBER_INVALID = _register("PAGINATION_NUMBER_INVALID", "invalid number of results "
                                      "requested", 400)
UNKNOWN = _register("UNKNOWN", "unknown error", 500)


class RegistryError(DockyardError):
    """One or more spec errors; `status` is the first code's unless given.

    `headers` travel with the response: the auth challenge of a 401, the
    upload's Location and Range of a 416.
    """

    def __init__(self, code: ErrorCode, detail: Any = None, message: str | None = None, *,
                 status: int | None = None, headers: list[tuple[str, str]] | None = None,
                 more: list[tuple[ErrorCode, Any]] | None = None):
        super().__init__(message or code.message)
        self.code = code
        self.detail = detail
        self.status = status or code.status
        self.headers = list(headers or [])
        self.entries: list[tuple[ErrorCode, str, Any]] = [(code, self.message, detail)]
        self.entries += [(c, c.message, d) for c, d in (more or [])]

    def body(self) -> bytes:
        errors = []
        for code, message, detail in self.entries:
            entry: dict[str, Any] = {"code": code.value, "message": message}
            if detail is not None:
                entry["detail"] = detail
            errors.append(entry)
        return json.dumps({"errors": errors}).encode() + b"\n"
