"""Expansion of typed instructions, on the golden ``expand-defaults`` case."""

from pathlib import Path

from dockyard.build.expand import REPLACE_ENV_ALLOWED, expand_instruction, expand_stage_base
from dockyard.build.instructions import Cmd, Copy, Env, Expose, Label, Run, User, Workdir, parse_instructions
from dockyard.build.parser import parse
from dockyard.build.shell_words import ShellLex

CASE = Path(__file__).parent / "testfiles" / "expand-defaults" / "Dockerfile"


def _staged():
    return parse_instructions(parse(CASE.read_bytes()))


def test_from_uses_meta_args_with_defaults():
    staged = _staged()
    meta = {a.name: a.default for a in staged.meta_args if a.default is not None}
    stage = expand_stage_base(staged.stages[0], meta, ShellLex())
    assert stage.base == "alpine:3.19"


def test_instructions_expand_with_defaults_and_quotes():
    lex = ShellLex()
    env = {"HOME": "/root", "EXTRA_PORT": "9000 9001"}
    got = [expand_instruction(i, env, lex) for i in _staged().stages[0].instructions]
    by_kind = {}
    for instr in got:
        by_kind.setdefault(type(instr), []).append(instr)
    assert by_kind[Workdir][0].path == "/srv/app"
    copy = by_kind[Copy][0]
    assert (copy.sources, copy.dest) == (("./src",), "/srv/app/")
    assert by_kind[Env][0].pairs == (("HOME_DIR", "/root"), ("GREETING", "hello world"),
                                      ("QUOTED", "$NOT"))
    assert by_kind[Label][0].pairs == (("com.example.vendor", "ACME"), ("version", "1.0"))
    assert by_kind[Label][1].pairs == (("legacy", "value with spaces"),)
    # docker sorts the raw words, before expansion
    assert by_kind[Expose][0].ports == ("9000", "9001", "443", "80/tcp")
    assert by_kind[User][0].user == ""


def test_shell_and_exec_forms_are_left_alone():
    lex = ShellLex()
    run = Run(("echo $HOME",))
    cmd = Cmd(("echo", "$HOME"), json=True)
    assert expand_instruction(run, {"HOME": "/x"}, lex) is run
    assert expand_instruction(cmd, {"HOME": "/x"}, lex) is cmd
    assert "run" not in REPLACE_ENV_ALLOWED and "cmd" not in REPLACE_ENV_ALLOWED
