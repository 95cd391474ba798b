"""``dockyard build`` and ``builder prune`` without a real daemon: flags → query,
the context as the body, and the displays on canned message streams."""

import io
import json
import os
import subprocess
import sys
import tarfile

import pytest

from dockyard.cli.build import build_args, build_flags, build_params
from dockyard.cli.flags import key_value_map
from dockyard.cli.build_display import (BuildFailed, PlainDisplay, QuietDisplay, TtyDisplay,
                                        follow)
from dockyard.cli.flags import UsageError
from dockyard.client.api import encode_query

from fakedaemon import FakeDaemon, chunked

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "..", "src")
IMAGE_ID = "sha256:" + "ab" * 32

CLASSIC = [  # what moby's classic builder sends for a two-step build
    {"stream": "Step 1/2 : FROM busybox"}, {"stream": "\n"},
    {"stream": " ---> 6d5fcfe5ff17\n"},
    {"stream": "Step 2/2 : RUN echo hi"}, {"stream": "\n"},
    {"stream": " ---> Running in 8b3a0d2f1c4e\n"},
    {"stream": "hi\n"},
    {"stream": "Removing intermediate container 8b3a0d2f1c4e\n"},
    {"stream": " ---> 1f2b3c4d5e6f\n"},
    {"aux": {"ID": IMAGE_ID}},
    {"stream": "Successfully built 1f2b3c4d5e6f\n"},
    {"stream": "Successfully tagged app:latest\n"},
]
FAILURE = {"errorDetail": {"code": 3, "message": "The command '/bin/sh -c exit 3' returned a "
                                                 "non-zero code: 3"},
           "error": "The command '/bin/sh -c exit 3' returned a non-zero code: 3"}


# -- flags → query ----------------------------------------------------------------------

def test_query_is_the_docker_clis():
    opts, args = build_flags().parse([
        "-t", "app", "--tag", "app:v1", "-f", "sub/Dockerfile", "--build-arg", "A=1",
        "--build-arg", "FROM_ENV", "--build-arg", "UNSET", "--target", "final", "--no-cache",
        "--pull", "--label", "b=2", "--label", "a", "-q", "--rm=false", "--force-rm",
        "--network", "host", "--platform", "Linux/AMD64", "-m", "64m", "."])
    assert args == ["."]
    params = build_params(opts, "sub/Dockerfile", {"FROM_ENV": "env value"})
    assert params["t"] == ["app", "app:v1"]
    assert json.loads(params["buildargs"]) == {"A": "1", "FROM_ENV": "env value", "UNSET": None}
    assert params["labels"] == '{"a":"","b":"2"}'
    query = encode_query(params)
    assert query == (
        "?t=app&t=app%3Av1&dockerfile=sub%2FDockerfile"
        "&buildargs=%7B%22A%22%3A%221%22%2C%22FROM_ENV%22%3A%22env+value%22%2C%22UNSET%22%3Anull%7D"
        "&labels=%7B%22a%22%3A%22%22%2C%22b%22%3A%222%22%7D&target=final&nocache=1&pull=1&q=1"
        "&rm=0&forcerm=1&networkmode=host&platform=linux%2Famd64&memory=67108864&version=1")


def test_defaults_are_not_sent():
    # docker's client leaves out what the daemon defaults to (rm, networkmode, empty maps)
    opts, _ = build_flags().parse(["ctx"])
    assert encode_query(build_params(opts, "Dockerfile", {})) == "?dockerfile=Dockerfile&version=1"


def test_build_args_and_labels_maps():
    assert build_args(["A=", "B=x=y", "C"], {"C": "from env"}) == \
        {"A": "", "B": "x=y", "C": "from env"}
    assert key_value_map(["k=v=w", "empty"]) == {"k": "v=w", "empty": ""}


@pytest.mark.parametrize("argv, message", [
    (["-t", "Bad", "."], 'invalid argument "Bad" for "-t, --tag" flag: invalid reference '
                         'format: repository name (library/Bad) must be lowercase'),
    (["--build-arg", "=x", "."], 'invalid argument "=x" for "--build-arg" flag: invalid '
                                 'environment variable: =x'),
    (["--label", "=x", "."], "invalid argument \"=x\" for \"--label\" flag: invalid label "
                             "'=x': empty name"),
    (["--progress", "fancy", "."], 'invalid argument "fancy" for "--progress" flag: must be '
                                   'one of auto, plain, tty'),
])
def test_flag_errors(argv, message):
    with pytest.raises(UsageError) as err:
        build_flags().parse(argv)
    assert str(err.value).startswith(message + "\n")
    assert err.value.status == 125


def test_path_is_required():
    with pytest.raises(UsageError, match="requires 1 argument"):
        build_flags().parse([])


# -- displays -----------------------------------------------------------------------------

def test_plain_display_is_the_stream_text():
    out = io.StringIO()
    display = PlainDisplay(out)
    display.context_sent(100, False)
    display.context_sent(2048, True)
    assert follow(CLASSIC, display) == IMAGE_ID
    assert out.getvalue() == (
        "Sending build context to dockyard daemon  2.048kB\n"
        "Step 1/2 : FROM busybox\n ---> 6d5fcfe5ff17\nStep 2/2 : RUN echo hi\n"
        " ---> Running in 8b3a0d2f1c4e\nhi\nRemoving intermediate container 8b3a0d2f1c4e\n"
        " ---> 1f2b3c4d5e6f\nSuccessfully built 1f2b3c4d5e6f\nSuccessfully tagged app:latest\n")


def test_plain_display_leaves_progress_bars_out():
    out = io.StringIO()
    follow([{"status": "Pulling fs layer", "id": "abc"},
            {"status": "Downloading", "id": "abc", "progress": "[=>  ] 1MB/2MB",
             "progressDetail": {"current": 1, "total": 2}},
            {"status": "Done"}], PlainDisplay(out))
    assert out.getvalue() == "abc: Pulling fs layer\nDone\n"


def test_failure_carries_message_and_code():
    out = io.StringIO()
    with pytest.raises(BuildFailed) as err:
        follow(CLASSIC[:7] + [FAILURE], PlainDisplay(out))
    assert (err.value.code, err.value.message) == (3, FAILURE["error"])
    with pytest.raises(BuildFailed) as err:
        follow([{"errorDetail": {"message": "no code"}}], PlainDisplay(out))
    assert err.value.code == 1


class Clock:
    """Each reading is 0.4s after the last."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 0.4
        return self.now


def screen(text):
    """The lines a terminal ends up showing: "\r\x1b[2K" erases the current line."""
    return [line.rsplit("\r\x1b[2K", 1)[-1] for line in text.split("\n")][:-1]


def test_tty_display_without_colour():
    out = io.StringIO()
    display = TtyDisplay(out, width=80, color=False, clock=Clock())
    display.context_sent(2048, True)
    follow(CLASSIC[:7] + [{"stream": "Step 3/3 : CMD sh\n"}, {"stream": " ---> Using cache\n"},
                          {"stream": " ---> 99\n"}] + CLASSIC[9:], display)
    assert screen(out.getvalue()) == [
        "Sending build context to dockyard daemon  2.048kB",
        "Step 1/2 : FROM busybox", " ---> 6d5fcfe5ff17", "    DONE 0.4s",
        "Step 2/2 : RUN echo hi", " ---> Running in 8b3a0d2f1c4e", "    hi", "    DONE 0.4s",
        "Step 3/3 : CMD sh", " ---> Using cache", " ---> 99", "    CACHED",
        "Successfully built 1f2b3c4d5e6f", "Successfully tagged app:latest"]


def test_tty_display_styles_and_redraws_unfinished_lines():
    out = io.StringIO()
    display = TtyDisplay(out, width=30, color=True, clock=Clock())
    display.stream("Step 1/1 : RUN wget x\n")
    display.stream("  10%\r  50%")           # a progress line, not finished
    assert out.getvalue().endswith("\r\x1b[2K      50%")
    display.stream("\r 100%\n" + "y" * 50)   # finished; then a long unfinished line
    assert "\x1b[2m     100%\x1b[0m\n" in out.getvalue()
    assert out.getvalue().endswith("\r\x1b[2K    " + "y" * 25)  # cut to the width
    with pytest.raises(BuildFailed):
        follow([FAILURE], display)
    text = out.getvalue()
    assert "\x1b[1mStep 1/1 : RUN wget x\x1b[0m\n" in text
    assert text.endswith("\x1b[2m    " + "y" * 50 + "\x1b[0m\n\x1b[31m    FAILED after 0.4s\x1b[0m\n")


def test_quiet_display_keeps_everything():
    display = QuietDisplay()
    display.context_sent(10, True)
    with pytest.raises(BuildFailed):
        follow(CLASSIC[:7] + [FAILURE], display)
    assert display.progress == "Sending build context to dockyard daemon      10B\n"
    assert display.output.startswith("Step 1/2 : FROM busybox\n") and display.output.endswith("hi\n")


# -- the whole command, against a fake daemon -------------------------------------------------

@pytest.fixture
def daemon(tmp_path):
    with FakeDaemon(str(tmp_path / "d.sock")) as d:
        yield d


def dockyard(daemon, *argv, stdin=b"", cwd=None):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(SRC))
    env.pop("NO_COLOR", None)
    return subprocess.run([sys.executable, "-m", "dockyard.cli.main", "-H",
                           f"unix://{daemon.path}", *argv], input=stdin, capture_output=True,
                          env=env, timeout=30, cwd=cwd)


def answer(daemon, messages):
    lines = [json.dumps(m).encode() + b"\r\n" for m in messages]
    daemon.route("POST", "/build", lambda r: chunked(200, lines))


def sent_tar(request):
    with tarfile.open(fileobj=io.BytesIO(request.body)) as tar:
        return {m.name: (tar.extractfile(m).read() if m.isreg() else None) for m in tar}


@pytest.fixture
def context_dir(tmp_path):
    root = tmp_path / "ctx"
    (root / "src").mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM busybox\nCOPY src /src\n")
    (root / "src" / "a.txt").write_text("a")
    (root / "secret.key").write_text("k")
    (root / ".dockerignore").write_text("*.key\n")
    return root


def test_build_sends_the_context_and_prints_the_stream(daemon, context_dir, tmp_path):
    answer(daemon, CLASSIC)
    iid = tmp_path / "iid"
    iid.write_text("stale")
    result = dockyard(daemon, "build", "-t", "app", "--iidfile", str(iid), "--progress",
                      "plain", str(context_dir))
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().startswith("Sending build context to dockyard daemon")
    assert "Successfully tagged app:latest\n" in result.stdout.decode()
    assert iid.read_text() == IMAGE_ID
    request = daemon.requests[-1]
    assert request.headers["Content-Type"] == "application/x-tar"
    assert request.headers["Transfer-Encoding"] == "chunked"
    assert request.q("dockerfile") == "Dockerfile" and request.query["t"] == ["app"]
    assert sent_tar(request) == {".dockerignore": b"*.key\n", "Dockerfile":
                                 b"FROM busybox\nCOPY src /src\n", "src": None,
                                 "src/a.txt": b"a"}


def test_failed_build_exits_with_the_commands_code(daemon, context_dir):
    answer(daemon, CLASSIC[:7] + [FAILURE])
    result = dockyard(daemon, "build", str(context_dir))
    assert result.returncode == 3
    assert result.stderr.decode() == FAILURE["error"] + "\n"
    assert result.stdout.decode().endswith("hi\n")


def test_quiet_prints_only_the_id_or_everything_on_failure(daemon, context_dir):
    answer(daemon, [{"aux": {"ID": IMAGE_ID}}, {"stream": IMAGE_ID + "\n"}])
    result = dockyard(daemon, "build", "-q", str(context_dir))
    assert (result.returncode, result.stdout.decode()) == (0, IMAGE_ID + "\n")
    assert daemon.requests[-1].q("q") == "1"
    daemon.routes.clear()
    answer(daemon, CLASSIC[:7] + [FAILURE])
    result = dockyard(daemon, "build", "-q", str(context_dir))
    assert result.returncode == 3 and result.stdout == b""
    err = result.stderr.decode()
    assert err.startswith("Sending build context") and "Step 2/2 : RUN echo hi\n" in err
    assert err.endswith(FAILURE["error"] + "\n")


def test_daemon_refusal_before_the_stream(daemon, context_dir):
    daemon.reply("POST", "/build", 400, {"message": "Cannot locate specified Dockerfile: Nope"})
    result = dockyard(daemon, "build", "--progress", "plain", str(context_dir))
    assert result.returncode == 1
    assert result.stderr.decode() == ("Error response from daemon: Cannot locate specified "
                                      "Dockerfile: Nope\n")


def test_dockerfile_from_stdin_as_the_context(daemon):
    answer(daemon, CLASSIC)
    result = dockyard(daemon, "build", "-", stdin=b"FROM busybox\n")
    assert result.returncode == 0, result.stderr
    request = daemon.requests[-1]
    assert request.q("dockerfile") == "Dockerfile"
    assert sent_tar(request) == {"Dockerfile": b"FROM busybox\n"}


def test_compressed_context(daemon, context_dir):
    answer(daemon, CLASSIC)
    assert dockyard(daemon, "build", "--compress", str(context_dir)).returncode == 0
    assert daemon.requests[-1].body[:2] == b"\x1f\x8b"
    assert "src/a.txt" in sent_tar(daemon.requests[-1])


def test_missing_context_is_dockers_message(daemon, tmp_path):
    result = dockyard(daemon, "build", "nope", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.decode() == 'unable to prepare context: path "nope" not found\n'
    assert daemon.requests == []


def test_image_build_and_builder_build_are_aliases(daemon, context_dir):
    answer(daemon, CLASSIC)
    assert dockyard(daemon, "image", "build", str(context_dir)).returncode == 0
    assert dockyard(daemon, "builder", "build", str(context_dir)).returncode == 0
    assert len(daemon.requests) == 2


def test_builder_prune(daemon):
    daemon.reply("POST", "/build/prune", 200,
                 {"CachesDeleted": ["a1", "b2"], "SpaceReclaimed": 2_500_000})
    result = dockyard(daemon, "builder", "prune", "-a", "-f", "--filter", "until=24h")
    assert result.returncode == 0
    assert result.stdout.decode() == ("Deleted build cache objects:\na1\nb2\n\n"
                                      "Total reclaimed space: 2.5MB\n")
    request = daemon.requests[-1]
    assert request.q("all") == "1"
    assert json.loads(request.q("filters")) == {"until": {"24h": True}}


def test_builder_prune_asks_first(daemon):
    result = dockyard(daemon, "builder", "prune", stdin=b"n\n")
    assert result.stdout.decode() == ("WARNING! This will remove all dangling build cache. "
                                      "Are you sure you want to continue? [y/N] ")
    assert daemon.requests == []
