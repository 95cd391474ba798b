"""Variable substitution on typed instructions, done at dispatch time.

Docker expands ``$VAR`` only in the instructions of its ``replaceEnvAllowed``
list — ADD COPY ENV EXPOSE LABEL STOPSIGNAL USER VOLUME WORKDIR ARG — and in
FROM, but there only with the meta args (the ARGs before the first FROM).
RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD and MAINTAINER are left
alone: a shell form is the shell's business, and a JSON form is literal.

:func:`expand_instruction` is pure: given the variables in scope (build args
and ENV so far, decided by the dispatcher) it returns a new instruction whose
words are processed by :class:`ShellLex` — quotes removed, escapes resolved,
variables substituted.  JSON-form sources and destinations of COPY/ADD are
expanded too, as docker does.  Heredoc bodies are not touched here: they are
expanded (or not, per ``InlineFile.expand``) when the file is written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from dockyard.build.instructions import (Add, Arg, Copy, Env, Expose, Instruction, Label,
                                         Stage, Stopsignal, User, Volume, Workdir)
from dockyard.build.shell_words import ShellLex

#: Keywords whose arguments docker runs through the word lexer.
REPLACE_ENV_ALLOWED = frozenset(
    {"add", "copy", "env", "expose", "label", "stopsignal", "user", "volume", "workdir", "arg"})


def expand_instruction(instr: Instruction, env: Mapping[str, str], lex: ShellLex) -> Instruction:
    """``instr`` with its words expanded against ``env`` (see module doc)."""
    word = lambda s: lex.process_word(s, env)  # noqa: E731
    if isinstance(instr, (Env, Label)):
        return dataclasses.replace(instr, pairs=tuple((word(k), word(v)) for k, v in instr.pairs))
    if isinstance(instr, (Copy, Add)):
        return dataclasses.replace(
            instr, sources=tuple(word(s) for s in instr.sources), dest=word(instr.dest),
            chown=word(instr.chown), chmod=word(instr.chmod))
    if isinstance(instr, Expose):
        ports = [p for raw in instr.ports for p in lex.process_words(raw, env)]
        return dataclasses.replace(instr, ports=tuple(ports))
    if isinstance(instr, Volume):
        return dataclasses.replace(instr, paths=tuple(word(p) for p in instr.paths))
    if isinstance(instr, Workdir):
        return dataclasses.replace(instr, path=word(instr.path))
    if isinstance(instr, User):
        return dataclasses.replace(instr, user=word(instr.user))
    if isinstance(instr, Stopsignal):
        return dataclasses.replace(instr, signal=word(instr.signal))
    if isinstance(instr, Arg):
        return dataclasses.replace(
            instr, name=word(instr.name),
            default=None if instr.default is None else word(instr.default))
    return instr


def expand_stage_base(stage: Stage, meta_args: Mapping[str, str], lex: ShellLex) -> Stage:
    """``stage`` with ``FROM``'s image and ``--platform`` expanded using only
    the meta args, as docker does."""
    return dataclasses.replace(stage, base=lex.process_word(stage.base, meta_args),
                               platform=lex.process_word(stage.platform, meta_args))
