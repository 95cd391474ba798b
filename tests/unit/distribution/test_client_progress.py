"""Progress messages in docker's JSON form, and the CLI's rendering of them."""

from __future__ import annotations

import io

import pytest

from dockyard.cli.distribution import StreamError, display_messages
from dockyard.distribution.client_progress import Progress, Throttle, progress_bar, short_id


def test_progress_to_api_shapes():
    assert Progress("Pulling from acc/bb", "v1", plain=True).to_api() == {"status": "Pulling from acc/bb", "id": "v1"}
    assert Progress("Pull complete", "4d1f3c2b1a09").to_api() == {
        "status": "Pull complete", "progressDetail": {}, "id": "4d1f3c2b1a09"}
    assert Progress("Digest: sha256:x").to_api() == {"status": "Digest: sha256:x"}
    down = Progress("Downloading", "4d1f3c2b1a09", 1_048_576, 3_145_728).to_api()
    assert down["progressDetail"] == {"current": 1048576, "total": 3145728}
    assert down["progress"] == "[================>                                  ]  1.049MB/3.146MB"
    aux = Progress("", aux={"Tag": "v1", "Digest": "sha256:d", "Size": 527}).to_api()
    assert aux == {"progressDetail": {}, "aux": {"Tag": "v1", "Digest": "sha256:d", "Size": 527}}


def test_progress_bar_edges():
    assert progress_bar(0, 100).startswith("[>" + " " * 50 + "]")
    assert progress_bar(100, 100).startswith("[" + "=" * 50 + ">]")
    assert progress_bar(5000, 0) == "     5kB"
    assert short_id("sha256:" + "ab" * 32) == "abababababab"


def test_throttle_reports_the_last_update(monkeypatch):
    seen: list[Progress] = []
    throttle = Throttle(seen.append, "Downloading", "x", 30)
    for _ in range(3):
        throttle.add(10)
    assert seen[0].current == 10 and seen[-1].current == 30
    assert len(seen) == 2  # the middle update fell inside 100 ms


PULL = [
    {"status": "Pulling from acc/bb", "id": "v1"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "aaa"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "bbb"},
    {"status": "Downloading", "progressDetail": {"current": 5, "total": 10}, "progress": "[==>  ] 5B/10B", "id": "aaa"},
    {"status": "Download complete", "progressDetail": {}, "id": "aaa"},
    {"status": "Pull complete", "progressDetail": {}, "id": "aaa"},
    {"status": "Already exists", "progressDetail": {}, "id": "bbb"},
    {"status": "Digest: sha256:d"},
    {"status": "Status: Downloaded newer image for localhost:5000/acc/bb:v1"},
]


def test_display_plain_leaves_out_byte_counts():
    out = io.StringIO()
    display_messages(PULL, out, terminal=False)
    assert out.getvalue().splitlines() == [
        "v1: Pulling from acc/bb", "aaa: Pulling fs layer", "bbb: Pulling fs layer", "aaa: Download complete",
        "aaa: Pull complete", "bbb: Already exists", "Digest: sha256:d",
        "Status: Downloaded newer image for localhost:5000/acc/bb:v1",
    ]


def test_display_terminal_rewrites_each_layer_line():
    out = io.StringIO()
    display_messages(PULL, out, terminal=True)
    text = out.getvalue()
    # aaa is two lines up when bbb exists: up 2, clear, write, down 2.
    assert "\x1b[2A\x1b[2K\raaa: Downloading [==>  ] 5B/10B\r\x1b[2B" in text
    assert "\x1b[1A\x1b[2K\rbbb: Already exists \r\x1b[1B" in text
    assert text.endswith("Status: Downloaded newer image for localhost:5000/acc/bb:v1\n")


def test_display_errors_and_aux():
    auxes = display_messages([{"status": "x"}, {"aux": {"Digest": "sha256:d"}}], io.StringIO(), terminal=False)
    assert auxes == [{"Digest": "sha256:d"}]
    with pytest.raises(StreamError) as caught:
        display_messages([{"errorDetail": {"message": "boom"}, "error": "boom"}], io.StringIO(), terminal=False)
    assert caught.value.message == "boom" and caught.value.status == 1
