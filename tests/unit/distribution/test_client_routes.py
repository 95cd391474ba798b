"""The daemon edge of the client: fromImage/tag as moby combines them, search terms and filters."""

from __future__ import annotations

import pytest

from dockyard.daemon.routes.distribution import pull_reference, search_filter, split_search_term
from dockyard.errors import InvalidArgument

HEX = "c" * 64


@pytest.mark.parametrize("image,tag,expected", [
    ("busybox", "latest", "docker.io/library/busybox:latest"),
    ("docker.io/library/busybox", "1.36", "docker.io/library/busybox:1.36"),
    ("localhost:5000/acc/bb", "v1", "localhost:5000/acc/bb:v1"),
    ("localhost:5000/acc/bb:v1", "", "localhost:5000/acc/bb:v1"),
    ("localhost:5000/acc/bb", f"sha256:{HEX}", f"localhost:5000/acc/bb@sha256:{HEX}"),
    (f"localhost:5000/acc/bb@sha256:{HEX}", "", f"localhost:5000/acc/bb@sha256:{HEX}"),
    ("localhost:5000/acc/bb", "", "localhost:5000/acc/bb"),  # every tag
])
def test_pull_reference(image, tag, expected):
    assert str(pull_reference(image, tag)) == expected


def test_pull_reference_refuses_bad_input():
    with pytest.raises(InvalidArgument):
        pull_reference("", "latest")
    with pytest.raises(InvalidArgument):
        pull_reference("BusyBox", "latest")
    with pytest.raises(InvalidArgument):
        pull_reference("busybox", "bad tag")


@pytest.mark.parametrize("term,expected", [
    ("busybox", ("docker.io", "busybox")),
    ("library/busybox", ("docker.io", "busybox")),
    ("user/app", ("docker.io", "user/app")),
    ("docker.io/user/app", ("docker.io", "user/app")),
    ("localhost:5000/acc", ("localhost:5000", "acc")),
    ("localhost/acc/bb", ("localhost", "acc/bb")),
    ("registry.lan/team", ("registry.lan", "team")),
])
def test_split_search_term(term, expected):
    assert split_search_term(term) == expected


def test_search_filters():
    results = [
        {"name": "a", "is_official": True, "star_count": 10},
        {"name": "b", "is_official": False, "is_automated": True, "star_count": 3},
        {"name": "c", "star_count": 0},
    ]

    def names(filters):
        keep = search_filter(filters)
        return [r["name"] for r in results if keep(r)]

    assert names({}) == ["a", "b", "c"]
    assert names({"is-official": ["true"]}) == ["a"]
    assert names({"is-official": ["false"]}) == ["b", "c"]
    assert names({"is-automated": ["1"]}) == ["b"]
    assert names({"stars": ["3"]}) == ["a", "b"]
    with pytest.raises(InvalidArgument):
        search_filter({"colour": ["red"]})
    with pytest.raises(InvalidArgument):
        search_filter({"stars": ["many"]})
    with pytest.raises(InvalidArgument):
        search_filter({"is-official": ["maybe"]})
