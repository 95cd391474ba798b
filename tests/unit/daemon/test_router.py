import pytest

from dockyard import errors
from dockyard.daemon.filters import parse_filters
from dockyard.daemon.http import Router, status_for


class FakeRequest:
    def __init__(self, method, path):
        self.method, self.raw_path, self.path, self.params = method, path, path, {}
        self.api_version = "1.47"


async def handler(req):
    return req.params


def test_routes_versions_and_params():
    r = Router()
    r.add("GET", "/images/{name:.+}/json", handler)
    r.add("DELETE", "/containers/{id}", handler)
    req = FakeRequest("GET", "/v1.41/images/localhost:5000/app:v1/json")
    assert r.resolve(req) is handler and req.params == {"name": "localhost:5000/app:v1"} and req.api_version == "1.41"
    with pytest.raises(errors.NotFound):
        r.resolve(FakeRequest("GET", "/nothing"))
    with pytest.raises(errors.DockyardError) as info:
        r.resolve(FakeRequest("POST", "/containers/abc"))
    assert status_for(info.value) == 405
    with pytest.raises(errors.InvalidArgument, match="too new"):
        r.resolve(FakeRequest("GET", "/v1.99/containers/abc"))


def test_status_table():
    assert status_for(errors.NotFound("x")) == 404
    assert status_for(errors.Conflict("x")) == 409
    assert status_for(errors.NotModified("x")) == 304
    assert status_for(ValueError("x")) == 500


def test_filters_both_shapes():
    assert parse_filters('{"status": ["exited"]}') == {"status": ["exited"]}
    assert parse_filters('{"status": {"exited": true, "dead": false}}') == {"status": ["exited"]}
    with pytest.raises(errors.InvalidArgument):
        parse_filters("{oops")
