"""Builds through POST /build with real containers: every instruction's effect,
the layer cache counted step by step, multi-stage with --target, heredocs,
failures that tag nothing and leave no container, and the cache's life
(restart, prune, system df)."""

from __future__ import annotations

import io
import json
import tarfile
import time
import urllib.parse

import pytest

from tests.unixhttp import UnixHTTPConnection


def context_tar(files: dict[str, bytes | str], modes: dict[str, int] | None = None,
                links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            raw = data.encode() if isinstance(data, str) else data
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            info.mode = (modes or {}).get(name, 0o644)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(raw))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buf.getvalue()


class Build:
    def __init__(self, status: int, messages: list[dict], raw: bytes):
        self.status = status
        self.messages = messages
        self.raw = raw

    @property
    def text(self) -> str:
        return "".join(m.get("stream", "") for m in self.messages)

    @property
    def image_id(self) -> str | None:
        for m in self.messages:
            if "aux" in m:
                return m["aux"]["ID"]
        return None

    @property
    def error(self) -> dict | None:
        for m in self.messages:
            if "errorDetail" in m:
                return m["errorDetail"]
        return None

    def cached_steps(self) -> list[int]:
        """Numbers of the steps that were taken from the cache."""
        out, step = [], 0
        for line in self.text.splitlines():
            if line.startswith("Step "):
                step = int(line.split()[1].split("/")[0])
            elif line.strip() == "---> Using cache":
                out.append(step)
        return out


def build(daemon, files: dict, **params) -> Build:
    query = []
    for key, value in params.items():
        if isinstance(value, (list, tuple)):
            query.extend((key, v) for v in value)
        elif isinstance(value, dict):
            query.append((key, json.dumps(value)))
        elif isinstance(value, bool):
            query.append((key, "1" if value else "0"))
        else:
            query.append((key, str(value)))
    body = files if isinstance(files, bytes) else context_tar(files)
    conn = UnixHTTPConnection(daemon.socket)
    conn.timeout = 300
    conn.request("POST", "/build?" + urllib.parse.urlencode(query), body=body,
                 headers={"Content-Type": "application/x-tar"})
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    messages = []
    if resp.status == 200:
        for line in raw.splitlines():
            if line.strip():
                messages.append(json.loads(line))
    else:
        messages.append(json.loads(raw) if raw.startswith(b"{") else {"message": raw.decode()})
    return Build(resp.status, messages, raw)


def inspect(api, ref: str) -> dict:
    status, doc, _ = api("GET", f"/images/{ref}/json")
    assert status == 200, doc
    return doc


def run_out(dy, *args: str) -> str:
    r = dy("run", "--rm", *args)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


def no_build_containers(dy) -> bool:
    return dy("ps", "-aq").stdout.split() == []


@pytest.fixture(autouse=True)
def _no_leftover_containers(dy):
    yield
    ids = dy("ps", "-aq").stdout.split()
    if ids:
        dy("rm", "-f", *[i.decode() for i in ids])
    # Failed and untagged builds leave dangling images, as docker's do; other tests count them.
    dy("image", "prune", "-f")
    assert not ids, "a build left containers behind"


# ---------------------------------------------------------------------------


def test_every_instruction_shows_in_config_and_filesystem(daemon, api, dy):
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w:gz") as tar:
        info = tarfile.TarInfo("pkg/data.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"tar\n"))
    dockerfile = r"""
# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM ${BASE} AS base
MAINTAINER someone@example.com
ARG GREETING=hello
ENV APP_HOME=/srv/app
ENV LEGACY value with spaces
ENV MSG="${GREETING} world"
LABEL org.example.name="demo app" version=1
EXPOSE 5000 53/udp
VOLUME /data
WORKDIR $APP_HOME
WORKDIR sub
COPY a.txt b.txt ./
COPY --chmod=755 run.sh /usr/local/bin/
COPY dir/ /copied/
COPY w*.txt /wild/
ADD payload.tar.gz /unpacked/
COPY --chown=1234:5678 a.txt /owned.txt
SHELL ["/bin/sh", "-c"]
RUN echo "$MSG from $GREETING" > /msg && echo 'appuser:x:4321:4321::/home/appuser:/bin/sh' >> /etc/passwd
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --timeout=2s --retries=2 CMD true
ONBUILD RUN echo triggered > /tmp/onbuild
USER appuser
ENTRYPOINT ["/usr/local/bin/run.sh"]
CMD ["default-arg"]
"""
    files = {"Dockerfile": dockerfile, "a.txt": "A\n", "b.txt": "B\n", "run.sh": "#!/bin/sh\necho run \"$@\"\n",
             "dir/inner/x.txt": "X\n", "w1.txt": "1", "w2.txt": "2", "payload.tar.gz": payload.getvalue()}
    b = build(daemon, files, t="dy-test-all:1")
    assert b.status == 200 and b.error is None, b.raw
    assert "Successfully tagged dy-test-all:1" in b.text
    cfg = inspect(api, "dy-test-all:1")
    c = cfg["Config"]
    assert cfg["Author"] == "someone@example.com"
    assert "APP_HOME=/srv/app" in c["Env"] and "LEGACY=value with spaces" in c["Env"]
    assert "MSG=hello world" in c["Env"]
    assert not any(e.startswith("GREETING=") for e in c["Env"]), "build args must not persist"
    assert c["Labels"] == {"org.example.name": "demo app", "version": "1"}
    assert set(c["ExposedPorts"]) == {"5000/tcp", "53/udp"}
    assert set(c["Volumes"]) == {"/data"}
    assert c["WorkingDir"] == "/srv/app/sub"
    assert c["User"] == "appuser"
    assert c["StopSignal"] == "SIGINT"
    assert c["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000,
                                "Timeout": 2_000_000_000, "Retries": 2}
    assert c["OnBuild"] == ["RUN echo triggered > /tmp/onbuild"]
    assert c["Shell"] == ["/bin/sh", "-c"]
    assert c["Entrypoint"] == ["/usr/local/bin/run.sh"] and c["Cmd"] == ["default-arg"]
    assert run_out(dy, "dy-test-all:1").strip() == "run default-arg"
    script = ("cat /srv/app/sub/a.txt /srv/app/sub/b.txt /copied/inner/x.txt /wild/w1.txt /wild/w2.txt "
              "/unpacked/pkg/data.txt /msg; stat -c '%a %u:%g' /usr/local/bin/run.sh /owned.txt; id -u")
    out = run_out(dy, "--entrypoint", "sh", "dy-test-all:1", "-c", script)
    assert out.split("\n") == ["A", "B", "X", "12tar", "hello world from hello", "755 0:0", "644 1234:5678",
                               "4321", ""]
    # A child image runs the ONBUILD trigger.
    child = build(daemon, {"Dockerfile": "FROM dy-test-all:1\n"}, t="dy-test-child")
    assert child.error is None, child.text
    assert "# Executing 1 build trigger" in child.text
    assert run_out(dy, "--entrypoint", "cat", "dy-test-child", "/tmp/onbuild").strip() == "triggered"
    assert inspect(api, "dy-test-child")["Config"]["OnBuild"] in (None, [])
    dy("rmi", "dy-test-child", "dy-test-all:1")


def test_entrypoint_drops_inherited_cmd_and_shell_forms(daemon, api, dy):
    b = build(daemon, {"Dockerfile": "FROM busybox\nCMD echo base\n"}, t="dy-test-cmdbase")
    assert b.error is None, b.text
    assert inspect(api, "dy-test-cmdbase")["Config"]["Cmd"] == ["/bin/sh", "-c", "echo base"]
    b = build(daemon, {"Dockerfile": "FROM dy-test-cmdbase\nENTRYPOINT echo entry\n"}, t="dy-test-ep")
    assert b.error is None, b.text
    c = inspect(api, "dy-test-ep")["Config"]
    assert c["Entrypoint"] == ["/bin/sh", "-c", "echo entry"] and c["Cmd"] is None
    assert run_out(dy, "dy-test-ep").strip() == "entry"
    dy("rmi", "dy-test-ep", "dy-test-cmdbase")


def test_layer_cache_follows_the_guides_example(daemon, dy):
    dockerfile = ("FROM busybox\nWORKDIR /app\nCOPY requirements.txt .\n"
                  "RUN cat requirements.txt > installed && cat /proc/sys/kernel/random/uuid > stamp\nCOPY . .\nCMD [\"cat\", \"app.py\"]\n")
    files = {"Dockerfile": dockerfile, "requirements.txt": "flask==3.0\n", "app.py": "print(1)\n"}
    first = build(daemon, files, t="dy-test-cache")
    assert first.error is None, first.text
    assert first.cached_steps() == [] or first.cached_steps() == [2]  # WORKDIR may be cached from an earlier test
    stamp = run_out(dy, "dy-test-cache", "cat", "stamp")

    again = build(daemon, files, t="dy-test-cache")
    assert again.cached_steps() == [2, 3, 4, 5, 6]
    assert again.image_id == first.image_id

    files["app.py"] = "print(2)\n"
    code = build(daemon, files, t="dy-test-cache")
    assert code.cached_steps() == [2, 3, 4], code.text
    assert run_out(dy, "dy-test-cache", "cat", "stamp") == stamp
    assert run_out(dy, "dy-test-cache") == "print(2)\n"

    files["requirements.txt"] = "flask==3.1\n"
    reqs = build(daemon, files, t="dy-test-cache")
    assert reqs.cached_steps() == [2], reqs.text
    assert run_out(dy, "dy-test-cache", "cat", "installed") == "flask==3.1\n"
    assert run_out(dy, "dy-test-cache", "cat", "stamp") != stamp

    # Touching a file without changing it keeps the cache; a mode change does not.
    touched = context_tar(files)  # new mtimes would differ: same content, same cache
    assert build(daemon, touched, t="dy-test-cache").cached_steps() == [2, 3, 4, 5, 6]
    nocache = build(daemon, files, t="dy-test-cache", nocache=True)
    assert nocache.cached_steps() == [] and nocache.error is None
    dy("rmi", "dy-test-cache")


def test_build_args_scope_and_history(daemon, api, dy):
    dockerfile = ("ARG VERSION=1.0\nFROM busybox\nARG VERSION\nARG FLAVOR=plain\n"
                  "RUN echo \"$VERSION-$FLAVOR\" > /v\nENV FLAVOR=env-wins\nRUN echo $FLAVOR > /f\n")
    b = build(daemon, {"Dockerfile": dockerfile}, t="dy-test-args", buildargs={"FLAVOR": "spicy", "UNUSED": "x"})
    assert b.error is None, b.text
    assert "[Warning] One or more build-args [UNUSED] were not consumed" in b.text
    assert run_out(dy, "dy-test-args", "cat", "/v", "/f") == "1.0-spicy\nenv-wins\n"
    status, hist, _ = api("GET", "/images/dy-test-args/history")
    assert status == 200
    created = [h["CreatedBy"] for h in hist]
    assert created[0] == "|1 VERSION=1.0 /bin/sh -c echo $FLAVOR > /f"  # ENV hides the FLAVOR arg
    assert created[1] == "/bin/sh -c #(nop)  ENV FLAVOR=env-wins"
    assert hist[0]["Size"] > 0 and hist[1]["Size"] == 0
    assert all(h["Id"] != "<missing>" for h in hist[:5]), hist  # built here: every step has an id
    dy("rmi", "dy-test-args")


def test_multistage_target_skips_unneeded_stages(daemon, dy):
    dockerfile = ("FROM busybox AS broken\nRUN exit 1\n"
                  "FROM busybox AS builder\nRUN echo built > /out\n"
                  "FROM scratch AS assets\nCOPY --from=builder /out /asset\n"
                  "FROM busybox\nCOPY --from=assets /asset /final\nCOPY --from=1 /out /by-index\n")
    b = build(daemon, {"Dockerfile": dockerfile}, t="dy-test-ms")
    assert b.error is None, b.text
    assert "RUN exit 1" not in b.text
    assert run_out(dy, "dy-test-ms", "cat", "/final", "/by-index") == "built\nbuilt\n"
    t = build(daemon, {"Dockerfile": dockerfile}, t="dy-test-ms-builder", target="builder")
    assert t.error is None and "COPY --from" not in t.text
    assert run_out(dy, "dy-test-ms-builder", "cat", "/out") == "built\n"
    bad = build(daemon, {"Dockerfile": dockerfile}, target="nosuch")
    assert bad.status == 400 and "nosuch" in bad.messages[0]["message"]
    dy("rmi", "dy-test-ms", "dy-test-ms-builder")


def test_heredocs(daemon, dy):
    dockerfile = ("FROM busybox\nRUN <<EOF\necho one > /one\necho two > /two\nEOF\n"
                  "COPY <<EOT /greeting.txt\nhello heredoc\nEOT\n"
                  "RUN cat <<EOF > /three\nthree\nEOF\n")
    b = build(daemon, {"Dockerfile": dockerfile}, t="dy-test-heredoc")
    assert b.error is None, b.text
    assert run_out(dy, "dy-test-heredoc", "cat", "/one", "/two", "/greeting.txt", "/three") == \
        "one\ntwo\nhello heredoc\nthree\n"
    dy("rmi", "dy-test-heredoc")


def test_failing_run_reports_and_tags_nothing(daemon, api, dy):
    dockerfile = "FROM busybox\nRUN echo before-failing\nRUN echo some output; exit 3\n"
    b = build(daemon, {"Dockerfile": dockerfile}, t="dy-test-fail")
    assert b.error == {"code": 3, "message": "The command '/bin/sh -c echo some output; exit 3' "
                                             "returned a non-zero code: 3"}
    assert "Step 3/3 : RUN echo some output; exit 3" in b.text and "some output" in b.text
    assert api("GET", "/images/dy-test-fail/json")[0] == 404
    assert no_build_containers(dy)


@pytest.mark.parametrize("dockerfile, files, needle", [
    ("FROM busybox\nFOO bar\n", {}, "line 2: unknown instruction: FOO"),
    ("FROM busybox\nCOPY --nope a b\n", {}, "line 2"),
    ("FROM busybox AS 1bad\n", {}, "line 1"),
])
def test_parse_errors_are_400_naming_the_line(daemon, api, dockerfile, files, needle):
    b = build(daemon, {"Dockerfile": dockerfile, **files}, t="dy-test-parse")
    assert b.status == 400, b.raw
    assert needle in b.messages[0]["message"]
    assert api("GET", "/images/dy-test-parse/json")[0] == 404


def test_context_errors(daemon, api):
    assert build(daemon, b"this is not a tar archive at all" * 40, t="dy-test-x").status == 400
    missing = build(daemon, {"Other": "FROM busybox\n"})
    assert missing.status == 400 and "Cannot locate specified Dockerfile: Dockerfile" in missing.messages[0]["message"]
    outside = build(daemon, {"Dockerfile": "FROM busybox\nRUN true\nCOPY ../outside /x\n"}, t="dy-test-x")
    assert outside.error and "Dockerfile:3" in outside.error["message"], outside.text
    assert "outside the build context" in outside.error["message"]
    escape = build(daemon, context_tar({"Dockerfile": "FROM busybox\nCOPY link/passwd /x\n"}, links={"link": "/etc"}),
                   t="dy-test-x")
    assert escape.error and "Dockerfile:2" in escape.error["message"], escape.text
    assert api("GET", "/images/dy-test-x/json")[0] == 404


def test_cache_survives_restart_and_prune_forgets_it(own_daemon):
    d = own_daemon
    files = {"Dockerfile": "FROM busybox\nRUN cat /proc/sys/kernel/random/uuid > /stamp\nRUN echo x > /x\n"}
    first = build(d, files, t="dy-test-restart")
    assert first.error is None, first.text
    d.stop()
    d.start()
    again = build(d, files, t="dy-test-restart")
    assert again.cached_steps() == [2, 3] and again.image_id == first.image_id
    conn = UnixHTTPConnection(d.socket)
    conn.request("GET", "/system/df")
    usage = json.loads(conn.getresponse().read())
    assert len(usage["BuildCache"]) >= 2
    assert any(r["Size"] > 0 for r in usage["BuildCache"])
    d.cli("rmi", "dy-test-restart")
    conn = UnixHTTPConnection(d.socket)
    conn.request("POST", "/build/prune?all=1")
    pruned = json.loads(conn.getresponse().read())
    assert pruned["CachesDeleted"] and pruned["SpaceReclaimed"] >= 0
    cold = build(d, files, t="dy-test-restart")
    assert cold.cached_steps() == [] and cold.image_id != first.image_id


def test_independent_stages_run_concurrently_and_print_in_order(daemon, api):
    since = time.time()
    dockerfile = ("FROM busybox AS a\nRUN sleep 1; echo a > /a\n"
                  "FROM busybox AS b\nRUN sleep 1; echo b > /b\n"
                  "FROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n")
    b = build(daemon, {"Dockerfile": dockerfile}, nocache=True, t="dy-test-parallel")
    assert b.error is None, b.text
    steps = [line for line in b.text.splitlines() if line.startswith("Step ")]
    assert [s.split()[1] for s in steps] == ["1/7", "2/7", "3/7", "4/7", "5/7", "6/7", "7/7"]
    filters = urllib.parse.quote(json.dumps({"type": ["container"], "event": ["start", "die"]}))
    status, raw, _ = api("GET", f"/events?since={since}&until={time.time()}&filters={filters}")
    lines = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
    actions = [json.loads(line)["Action"] for line in lines.splitlines() if line.strip()]
    # Both stages' RUN containers started before either finished.
    assert actions == ["start", "start", "die", "die"], actions
    api("DELETE", "/images/dy-test-parallel")


def test_dockerignore_hides_build_files_and_copy_exclude(daemon, dy):
    files = {"Dockerfile": "FROM busybox\nCOPY --exclude=*.tmp . /ctx/\n", ".dockerignore": "Dockerfile\n.dockerignore\n",
             "keep.txt": "k", "drop.tmp": "d", "sub/also.tmp": "d", "sub/x": "x"}
    b = build(daemon, files, t="dy-test-ignore")
    assert b.error is None, b.text
    listing = run_out(dy, "dy-test-ignore", "find", "/ctx", "-type", "f").split()
    assert sorted(listing) == ["/ctx/keep.txt", "/ctx/sub/also.tmp", "/ctx/sub/x"]  # *.tmp: top level only
    dy("rmi", "dy-test-ignore")


def test_quiet_build_shows_output_only_on_failure(daemon):
    ok = build(daemon, {"Dockerfile": "FROM busybox\nRUN echo visible-output\n"}, q=True)
    assert "visible-output" not in ok.raw.decode() and ok.image_id
    assert ok.text.strip() == ok.image_id
    bad = build(daemon, {"Dockerfile": "FROM busybox\nRUN echo why-it-failed; exit 2\n"}, q=True)
    assert "why-it-failed" in bad.text and bad.error["code"] == 2


def test_shebang_heredoc_and_a_stage_copying_from_itself(daemon, dy):
    b = build(daemon, {"Dockerfile": "FROM busybox\nRUN <<EOF\n#!/bin/sh -e\necho $0 > /ran-as\nEOF\n"},
              t="dy-test-shebang")
    assert b.error is None, b.text
    assert run_out(dy, "dy-test-shebang", "cat", "/ran-as").startswith("/tmp/")
    dy("rmi", "dy-test-shebang")
    loop = build(daemon, {"Dockerfile": "FROM busybox AS me\nARG S=me\nCOPY --from=$S /bin/sh /x\n"})
    assert loop.error and "circular dependency" in loop.error["message"], loop.text


def test_unknown_stage_or_base_names_the_line(daemon):
    b = build(daemon, {"Dockerfile": "FROM busybox\nRUN true\nCOPY --from=nosuchstage /a /b\n"}, t="dy-test-nostage")
    assert b.error and b.error["message"].startswith("Dockerfile:3: invalid from flag value nosuchstage"), b.text
    b = build(daemon, {"Dockerfile": "# base\nFROM nosuchimage:9\n"})
    assert b.error and b.error["message"].startswith("Dockerfile:2: pull access denied for nosuchimage:9"), b.text
