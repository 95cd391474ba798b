import pytest

from dockyard.compose.validation import find_cycle, validate_shape
from dockyard.errors import InvalidArgument


def test_find_cycle():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle({"a": ["a"]}) == ["a", "a"]
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["b"]}) == ["b", "c", "b"]
    assert find_cycle({"web": ["db", "cache"], "db": [], "cache": ["db"]}) is None


@pytest.mark.parametrize("service, message", [
    ({"image": "x", "init": "yes"}, "service 'web' key 'init' must be a boolean, not a string"),
    ({"image": 3}, "service 'web' key 'image' must be a string, not an integer"),
    ({"image": "x", "ports": [["80"]]}, "service 'web' key 'ports': entry ['80'] must be"),
    ({"image": "x", "extends": {"file": "a.yaml"}}, "service 'web' key 'extends' needs a 'service'"),
    ({"image": "x", "stop_grace_period": "10"}, "'10' is not a duration"),
    ({"image": "x", "volumes": [{"target": "/d", "readonly": True}]}, "unknown volume key 'readonly'"),
])
def test_validate_shape_messages(service, message):
    with pytest.raises(InvalidArgument) as info:
        validate_shape({"services": {"web": service}}, "compose.yaml")
    assert message in str(info.value)
    assert str(info.value).startswith("compose.yaml")


def test_validate_shape_uses_lines_when_known():
    with pytest.raises(InvalidArgument, match=r"^c\.yaml:7: service 'web': unknown service key 'imag'"):
        validate_shape({"services": {"web": {"imag": "x"}}}, "c.yaml", {("services", "web", "imag"): 7})


def test_valid_shapes_pass():
    validate_shape({"version": "3.8", "x-any": [1], "services": {"web": {
        "image": "x", "init": True, "cpus": 0.5, "user": 1000, "healthcheck": {"test": "true", "interval": "1m30s"},
        "networks": {"front": {"aliases": ["w"]}}, "depends_on": {"db": {"condition": "service_healthy"}},
    }}, "networks": {"front": None}, "volumes": {"data": {"external": True}}}, "c.yaml")
