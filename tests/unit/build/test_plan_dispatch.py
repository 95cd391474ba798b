"""The pure parts of a build: which stages run, step numbers, and what each
metadata instruction does to the config and history."""

from __future__ import annotations

import os

import pytest

from dockyard.build.dispatch import (BuildArgs, StageState, apply_metadata, expose_ports, run_argv,
                                     run_created_by, run_env, workdir_path)
from dockyard.build.instructions import parse_instructions
from dockyard.build.parser import parse
from dockyard.build.plan import plan_build
from dockyard.build.shell_words import ShellLex
from dockyard.errors import InvalidArgument
from dockyard.images.config import ContainerConfig


def staged(text: str):
    return parse_instructions(parse(text))


MULTI = """ARG IMG=busybox
FROM ${IMG} AS broken
RUN exit 1
FROM busybox AS builder
RUN echo built > /out
FROM builder AS tested
RUN test -e /out
FROM busybox
COPY --from=builder /out /out
"""


def test_plan_skips_stages_the_target_does_not_reach():
    plan = plan_build(staged(MULTI), "", {"IMG": "busybox"}, ShellLex())
    assert [sp.stage.index for sp in plan.stages] == [1, 3]
    assert plan.by_index(3).deps == frozenset({1})
    assert [sp.first_step for sp in plan.stages] == [1, 3]
    assert plan.total_steps == 4


def test_plan_follows_from_stage_and_target():
    plan = plan_build(staged(MULTI), "tested", {}, ShellLex())
    assert [sp.stage.index for sp in plan.stages] == [1, 2]
    assert plan.by_index(2).base_stage == 1
    assert plan.target == 2
    with pytest.raises(InvalidArgument, match="failed to reach build target nope"):
        plan_build(staged(MULTI), "nope", {}, ShellLex())


def test_plan_expands_meta_args_in_from_and_counts_label_step():
    plan = plan_build(staged(MULTI), "broken", {"IMG": "alpine"}, ShellLex(), extra_steps=1)
    assert plan.stages[0].base == "alpine"
    assert plan.total_steps == 3


def test_copy_from_a_later_stage_is_refused():
    with pytest.raises(InvalidArgument, match="line 2"):
        plan_build(staged("FROM busybox\nCOPY --from=later /a /b\nFROM busybox AS later\n"), "", {}, ShellLex())


def state(**config) -> StageState:
    return StageState("sha256:parent", ContainerConfig(**config))


def test_env_and_labels_and_history_text():
    env = staged("FROM x\nENV A=1 B=two\n").stages[0].instructions[0]
    cfg, created_by, _ = apply_metadata(state(env=("A=0", "PATH=/bin")), env)
    assert cfg.env == ("A=1", "PATH=/bin", "B=two")
    assert created_by == "/bin/sh -c #(nop)  ENV A=1 B=two"


def test_entrypoint_resets_inherited_cmd_but_not_own():
    ep = staged("FROM x\nENTRYPOINT [\"run\"]\n").stages[0].instructions[0]
    s = state(cmd=("base",))
    cfg, created_by, _ = apply_metadata(s, ep)
    assert cfg.cmd is None and cfg.entrypoint == ("run",)
    assert created_by == '/bin/sh -c #(nop)  ENTRYPOINT ["run"]'
    s.cmd_set = True
    assert apply_metadata(s, ep)[0].cmd == ("base",)


def test_shell_form_uses_the_stage_shell():
    cmd = staged("FROM x\nCMD echo hi\n").stages[0].instructions[0]
    cfg, _, _ = apply_metadata(state(shell=("/bin/bash", "-ec")), cmd)
    assert cfg.cmd == ("/bin/bash", "-ec", "echo hi")


def test_expose_ranges_and_protocols():
    assert expose_ports(("80", "53/udp", "8000-8002")) == ["80/tcp", "53/udp", "8000/tcp", "8001/tcp", "8002/tcp"]
    with pytest.raises(InvalidArgument):
        expose_ports(("80/bogus",))


def test_healthcheck_replaces_the_base_check_whole():
    hc = staged("FROM x\nHEALTHCHECK CMD true\n").stages[0].instructions[0]
    cfg, _, _ = apply_metadata(state(healthcheck={"Test": ["CMD", "old"], "Interval": 5}), hc)
    assert cfg.healthcheck == {"Test": ["CMD-SHELL", "true"]}
    none = staged("FROM x\nHEALTHCHECK NONE\n").stages[0].instructions[0]
    assert apply_metadata(state(), none)[0].healthcheck == {"Test": ["NONE"]}


def test_run_env_args_and_created_by():
    args = BuildArgs({"FLAVOR": "spicy", "HTTP_PROXY": "http://proxy:3128"})
    s = state(env=("PATH=/bin", "MODE=env"))
    s.args = {"FLAVOR": args.value_for("FLAVOR", "plain"), "MODE": args.value_for("MODE", "arg"),
              "UNSET": args.value_for("UNSET", None)}
    run = staged("FROM x\nRUN make\n").stages[0].instructions[0]
    argv = run_argv(s, run)
    assert argv == ("/bin/sh", "-c", "make")
    assert run_created_by(s, argv) == "|1 FLAVOR=spicy /bin/sh -c make"
    assert run_env(s, args) == ["PATH=/bin", "MODE=env", "HTTP_PROXY=http://proxy:3128", "FLAVOR=spicy"]
    assert args.unused() == []


def test_run_heredoc_forms():
    doc = staged("FROM x\nRUN <<EOF\necho a\nEOF\n").stages[0].instructions[0]
    assert run_argv(state(), doc) == ("/bin/sh", "-c", "echo a\n")
    fed = staged("FROM x\nRUN cat <<EOF > /f\nhi\nEOF\n").stages[0].instructions[0]
    assert run_argv(state(), fed) == ("/bin/sh", "-c", "cat <<EOF > /f\nhi\nEOF")


def test_meta_arg_given_without_a_value_keeps_its_default():
    args = BuildArgs({"V": None})
    args.declare_meta("V", "1")
    assert args.meta_values() == {"V": "1"}


def test_shebang_heredoc_runs_as_its_program():
    doc = staged("FROM x\nRUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n").stages[0].instructions[0]
    argv = run_argv(state(), doc)
    assert argv[:2] == ("/bin/sh", "-c") and "#!/usr/bin/env python3\nprint(1)\n" in argv[2]
    assert '"$f"; rc=$?' in argv[2]


def test_workdir_paths():
    assert workdir_path("", "app") == "/app"
    assert workdir_path("/srv", "sub/../x") == "/srv/x"
    assert workdir_path("/srv", "/abs/") == "/abs"


def test_hiding_build_files_never_leaves_the_context(tmp_path):
    from dockyard.services.builds import _hide_build_files

    victim = tmp_path / "victim"
    victim.write_text("keep")
    ctx = tmp_path / "a" / "ctx"
    ctx.mkdir(parents=True)
    (ctx / ".dockerignore").write_text("*\n**\n")
    (ctx / "Dockerfile").write_text("FROM x\n")
    os.symlink("/", ctx / "up")
    _hide_build_files(str(ctx), "../../victim")
    (ctx / ".dockerignore").write_text("*\n**\n")
    _hide_build_files(str(ctx), "up/" + str(victim).lstrip("/"))
    assert victim.read_text() == "keep"
    (ctx / ".dockerignore").write_text("Dockerfile\n.dockerignore\n")
    _hide_build_files(str(ctx), "Dockerfile")
    assert not (ctx / "Dockerfile").exists() and not (ctx / ".dockerignore").exists()
