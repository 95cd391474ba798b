import pytest

from dockyard.compose.interpolation import interpolate, substitute
from dockyard.errors import InvalidArgument

ENV = {"SET": "value", "EMPTY": ""}


@pytest.mark.parametrize("text, expected", [
    ("$SET", "value"),
    ("${SET}", "value"),
    ("pre-${SET}-post", "pre-value-post"),
    ("$SET.txt", "value.txt"),
    ("${UNSET}", ""),
    ("${UNSET:-dflt}", "dflt"),
    ("${EMPTY:-dflt}", "dflt"),
    ("${EMPTY-dflt}", ""),
    ("${UNSET-dflt}", "dflt"),
    ("${SET:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${UNSET+alt}", ""),
    ("${UNSET:-${SET}}", "value"),
    ("$$SET", "$SET"),
    ("$${SET}", "${SET}"),
    ("cost: 5$", "cost: 5$"),
    ("${EMPTY?x}", ""),
])
def test_substitute(text, expected):
    assert substitute(text, ENV) == expected


@pytest.mark.parametrize("text, message", [
    ("${UNSET:?give it}", "required variable UNSET is missing a value: give it"),
    ("${EMPTY:?give it}", "required variable EMPTY is missing a value: give it"),
    ("${UNSET?}", "required variable UNSET is missing a value"),
    ("${SET", "missing }"),
    ("${1BAD}", "invalid interpolation format"),
    ("${SET:x}", "invalid interpolation format"),
])
def test_substitute_errors(text, message):
    with pytest.raises(InvalidArgument) as info:
        substitute(text, ENV, "services.web.image")
    assert message in str(info.value)
    assert "services.web.image" in str(info.value)


def test_interpolate_walks_values_not_keys():
    data = {"services": {"$SET": {"image": "$SET", "ports": ["${SET}", 80], "init": True}}}
    assert interpolate(data, ENV) == {"services": {"$SET": {"image": "value", "ports": ["value", 80], "init": True}}}


def test_interpolate_error_names_the_path():
    with pytest.raises(InvalidArgument, match=r"services\.web\.ports\[1\]"):
        interpolate({"services": {"web": {"ports": ["80", "${P:?}"]}}}, {})
