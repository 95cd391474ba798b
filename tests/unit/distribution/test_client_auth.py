"""Auth challenges, credentials as docker sends them, and the token dance (no I/O)."""

from __future__ import annotations

import base64
import json

import pytest

from dockyard.distribution.auth import (
    Authenticator, Challenge, Credentials, Unauthorized, parse_challenges, repository_scope,
)
from dockyard.errors import Forbidden, InvalidArgument

# -- challenges ----------------------------------------------------------------------------

CHALLENGES = [
    # header values, expected [(scheme, params)]
    (['Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
      'scope="repository:samalba/my-app:pull,push"'],
     [("bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                  "scope": "repository:samalba/my-app:pull,push"})]),
    (['Basic realm="Registry Realm"'], [("basic", {"realm": "Registry Realm"})]),
    (['basic REALM=plain'], [("basic", {"realm": "plain"})]),
    (['Basic realm="a", Bearer realm="https://t/token",service=s'],
     [("basic", {"realm": "a"}), ("bearer", {"realm": "https://t/token", "service": "s"})]),
    (['Bearer realm="https://t/token", error="insufficient_scope", scope="repository:a/b:pull repository:c:pull"'],
     [("bearer", {"realm": "https://t/token", "error": "insufficient_scope",
                  "scope": "repository:a/b:pull repository:c:pull"})]),
    (['Bearer realm="with \\"quotes\\" and, commas"'], [("bearer", {"realm": 'with "quotes" and, commas'})]),
    (['Basic realm="a"', 'Bearer realm="b"'], [("basic", {"realm": "a"}), ("bearer", {"realm": "b"})]),
    (['Negotiate'], [("negotiate", {})]),
    ([''], []),
]


@pytest.mark.parametrize("values,expected", CHALLENGES)
def test_parse_challenges(values, expected):
    got = [(c.scheme, dict(c.params)) for c in parse_challenges(values)]
    assert got == expected


def test_repository_scope():
    assert repository_scope("acc/bb", ("pull", "push")) == "repository:acc/bb:pull,push"


# -- credentials -------------------------------------------------------------------------------


def _b64url(doc: dict, pad: bool = True) -> str:
    text = base64.urlsafe_b64encode(json.dumps(doc).encode()).decode()
    return text if pad else text.rstrip("=")


@pytest.mark.parametrize("pad", [True, False])
def test_registry_auth_header_decodes_padded_and_unpadded(pad):
    creds = Credentials.from_registry_auth(_b64url({"username": "alice", "password": "p?>", "serveraddress": "localhost:5000"}, pad))
    assert (creds.username, creds.password, creds.server_address) == ("alice", "p?>", "localhost:5000")
    assert not creds.anonymous


def test_registry_auth_header_forms():
    assert Credentials.from_registry_auth(None).anonymous
    assert Credentials.from_registry_auth("e30=").anonymous  # {} as docker sends it without login
    auth = base64.b64encode(b"bob:pw:with:colons").decode()
    creds = Credentials.from_registry_auth(_b64url({"auth": auth}))
    assert (creds.username, creds.password) == ("bob", "pw:with:colons")
    token = Credentials.from_registry_auth(_b64url({"identitytoken": "refresh"}))
    assert token.identity_token == "refresh" and not token.anonymous
    roundtrip = Credentials("u", "p", server_address="r").to_registry_auth()
    assert Credentials.from_registry_auth(roundtrip) == Credentials("u", "p", server_address="r")
    with pytest.raises(InvalidArgument):
        Credentials.from_registry_auth("!!!not base64")
    with pytest.raises(InvalidArgument):
        Credentials.from_registry_auth(base64.b64encode(b"not json").decode())


# -- the authenticator ---------------------------------------------------------------------------


class TokenServer:
    """fetch() for Authenticator: answers like a token server, counting calls."""

    def __init__(self, good=("alice", "s3cret"), status: int = 200):
        self.good = good
        self.status = status
        self.calls: list[tuple[str, str, dict, bytes | None]] = []

    def __call__(self, method, url, headers, body):
        self.calls.append((method, url, dict(headers), body))
        if self.status != 200:
            return self.status, b'{"details":"nope"}'
        auth = headers.get("Authorization")
        if auth is not None and auth != "Basic " + base64.b64encode(":".join(self.good).encode()).decode():
            return 401, b'{"errors":[{"code":"UNAUTHORIZED","message":"incorrect username or password"}]}'
        return 200, json.dumps({"token": f"tok{len(self.calls)}", "expires_in": 300}).encode()


BEARER = Challenge("bearer", {"realm": "https://auth.example/token", "service": "reg"})
SCOPE = ("repository:acc/bb:pull",)


def test_bearer_token_is_fetched_once_per_scope_and_cached():
    server = TokenServer()
    auth = Authenticator(Credentials("alice", "s3cret"), server)
    auth.learn([BEARER])
    assert auth.header(SCOPE) == "Bearer tok1"
    assert auth.header(SCOPE) == "Bearer tok1"
    assert len(server.calls) == 1
    method, url, headers, _ = server.calls[0]
    assert method == "GET"
    assert url == "https://auth.example/token?service=reg&scope=repository%3Aacc%2Fbb%3Apull&account=alice"
    assert headers["Authorization"].startswith("Basic ")
    assert auth.header(("repository:acc/bb:pull,push",)) == "Bearer tok2"


def test_anonymous_bearer_token_has_no_account():
    server = TokenServer()
    auth = Authenticator(Credentials(), server)
    auth.learn([BEARER])
    assert auth.header(SCOPE) == "Bearer tok1"
    assert "account=" not in server.calls[0][1] and "Authorization" not in server.calls[0][2]


def test_wrong_credentials_fail_on_the_first_token_fetch():
    server = TokenServer()
    auth = Authenticator(Credentials("alice", "wrong"), server)
    with pytest.raises(Unauthorized) as caught:
        auth.retry_after([BEARER], SCOPE, None)
    assert "incorrect username or password" in caught.value.message
    assert isinstance(caught.value, Forbidden)
    assert len(server.calls) == 1


def test_retry_after_basic_only_once():
    auth = Authenticator(Credentials("alice", "s3cret"), TokenServer())
    basic = Challenge("basic", {"realm": "r"})
    header = auth.retry_after([basic], SCOPE, None)
    assert header == Credentials("alice", "s3cret").basic()
    # The registry refused exactly that header: retrying cannot help.
    assert auth.retry_after([basic], SCOPE, header) is None
    assert Authenticator(Credentials(), TokenServer()).retry_after([basic], SCOPE, None) is None


def test_retry_after_bearer_adds_the_challenge_scope():
    server = TokenServer()
    auth = Authenticator(Credentials("alice", "s3cret"), server)
    scoped = Challenge("bearer", {**BEARER.params, "scope": "repository:other:pull"})
    assert auth.retry_after([scoped], SCOPE, None) == "Bearer tok1"
    assert "scope=repository%3Aacc%2Fbb%3Apull&scope=repository%3Aother%3Apull" in server.calls[0][1]
    assert auth.header(SCOPE) == "Bearer tok1"  # cached under the request's scopes


def test_identity_token_is_posted_as_a_refresh_token():
    server = TokenServer()
    auth = Authenticator(Credentials(identity_token="refresh-me"), server)
    auth.learn([BEARER])
    auth.header(SCOPE)
    method, _, headers, body = server.calls[0]
    assert method == "POST" and headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert b"grant_type=refresh_token" in body and b"refresh_token=refresh-me" in body


def test_registry_token_is_sent_as_is():
    server = TokenServer()
    auth = Authenticator(Credentials(registry_token="given"), server)
    assert auth.header(SCOPE) == "Bearer given"
    auth.learn([BEARER])
    assert auth.header(SCOPE) == "Bearer given"
    assert server.calls == []


def test_token_server_failure_is_unavailable():
    from dockyard.errors import Unavailable

    auth = Authenticator(Credentials(), TokenServer(status=500))
    auth.learn([BEARER])
    with pytest.raises(Unavailable):
        auth.header(SCOPE)
