"""Which stages a build runs, what each waits for, and how steps are numbered.

The target stage (``--target``, else the last) and every stage it reaches
through ``FROM <stage>``, ``COPY --from=<stage>`` or ``RUN --mount=from=…``
are needed; the others are skipped, as BuildKit skips them (the classic
builder ran every stage up to the target).  Needed stages run concurrently,
each waiting only for the stages it names, so the plan records those edges.

Steps are numbered as the classic builder numbers them — ``Step 3/12`` —
over the needed stages in file order, each stage's FROM counting as a step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from dockyard.build.instructions import Copy, Instruction, Run, Stage, StagedDockerfile
from dockyard.build.shell_words import ShellLex
from dockyard.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class StagePlan:
    stage: Stage
    base: str             # FROM's image, expanded with the meta args
    base_stage: int | None  # the stage FROM names, if it names one
    deps: frozenset[int]  # every stage this one waits for
    first_step: int       # the number of its FROM step


@dataclass(frozen=True, slots=True)
class BuildPlan:
    stages: tuple[StagePlan, ...]  # needed stages, in file order
    target: int                    # index of the stage whose image is the result
    total_steps: int

    def by_index(self, index: int) -> StagePlan:
        for sp in self.stages:
            if sp.stage.index == index:
                return sp
        raise KeyError(index)


def _stage_ref(df: StagedDockerfile, ref: str, before: int) -> int | None:
    """The index of the stage ``ref`` names, if it names one defined before ``before``."""
    stage = df.stage(ref)
    if stage is not None and stage.index < before:
        return stage.index
    return None


def _copy_sources(instr: Instruction) -> list[str]:
    refs: list[str] = []
    if isinstance(instr, Copy) and instr.from_:
        refs.append(instr.from_)
    if isinstance(instr, Run):
        refs.extend(m["from"] for m in instr.mounts if m.get("from"))
    return refs


def plan_build(df: StagedDockerfile, target: str, meta_args: Mapping[str, str], lex: ShellLex,
               extra_steps: int = 0) -> BuildPlan:
    """The plan for building ``target`` (``""``: the last stage).

    ``extra_steps`` are steps appended to the target stage (``--label``).
    Raises InvalidArgument for an unknown target, or a ``--from`` naming
    the stage itself or a later one.
    """
    if not df.stages:
        raise InvalidArgument("Dockerfile contains no stages to build")
    if target:
        found = df.stage(target) if not target.isdigit() else None
        if found is None:
            raise InvalidArgument(f"failed to reach build target {target} in Dockerfile")
        target_index = found.index
    else:
        target_index = len(df.stages) - 1
    edges: dict[int, tuple[str, int | None, frozenset[int]]] = {}
    for stage in df.stages[: target_index + 1]:
        base = lex.process_word(stage.base, meta_args)
        base_stage = _stage_ref(df, base, stage.index)
        deps = {base_stage} if base_stage is not None else set()
        for instr in stage.instructions:
            for ref in _copy_sources(instr):
                if "$" in ref:  # depends on args known only while building: wait for all before
                    deps.update(range(stage.index))
                    continue
                named = df.stage(ref)
                if named is not None and named.index >= stage.index:
                    raise InvalidArgument(
                        f"dockerfile parse error on line {instr.line}: invalid from flag value {ref}: "
                        "a stage can only copy from stages defined before it")
                if named is not None:
                    deps.add(named.index)
        edges[stage.index] = (base, base_stage, frozenset(deps))
    needed: set[int] = set()
    todo = [target_index]
    while todo:
        index = todo.pop()
        if index in needed:
            continue
        needed.add(index)
        todo.extend(edges[index][2])
    plans: list[StagePlan] = []
    step = 1
    for index in sorted(needed):
        stage = df.stages[index]
        base, base_stage, deps = edges[index]
        plans.append(StagePlan(stage, base, base_stage, deps, step))
        step += 1 + len(stage.instructions) + (extra_steps if index == target_index else 0)
    return BuildPlan(tuple(plans), target_index, step - 1)


__all__ = ["BuildPlan", "StagePlan", "plan_build"]
