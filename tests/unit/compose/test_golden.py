"""Golden tests: each testfiles/<case>/ is a project and its expected config.

A case holds compose.yaml, optionally compose.override.yaml (merged after it)
and .env (the project's), optionally caller.env (the environment the caller
passes), and expected.yaml: ``to_config_yaml`` with the case directory shown
as /project.  testfiles/invalid/<case>/ holds compose files that must fail
and error.txt, a substring of the expected message.

Set DOCKYARD_REGOLDEN=1 to rewrite expected.yaml files (then read the diff).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.compose import load_project, to_config_yaml
from dockyard.compose.loader import parse_env_file
from dockyard.errors import DockyardError

TESTFILES = Path(__file__).parent / "testfiles"
VALID = sorted(p for p in TESTFILES.iterdir() if p.is_dir() and p.name != "invalid")
INVALID = sorted(p for p in (TESTFILES / "invalid").iterdir() if p.is_dir())


def _files(case: Path) -> list[str]:
    files = [str(case / "compose.yaml")]
    if (case / "compose.override.yaml").exists():
        files.append(str(case / "compose.override.yaml"))
    return files


def _caller_env(case: Path) -> dict[str, str]:
    path = case / "caller.env"
    return parse_env_file(path.read_text()) if path.exists() else {}


@pytest.mark.parametrize("case", VALID, ids=lambda p: p.name)
def test_valid(case: Path) -> None:
    project = load_project(_files(case), _caller_env(case), None)
    got = to_config_yaml(project).replace(str(case), "/project")
    expected = case / "expected.yaml"
    if os.environ.get("DOCKYARD_REGOLDEN"):
        expected.write_text(got)
    assert got == expected.read_text()


@pytest.mark.parametrize("case", INVALID, ids=lambda p: p.name)
def test_invalid(case: Path) -> None:
    with pytest.raises(DockyardError) as info:
        load_project(_files(case), _caller_env(case), None)
    assert (case / "error.txt").read_text().strip() in str(info.value)


@pytest.mark.parametrize("case", [c for c in VALID if c.name != "interpolation"], ids=lambda p: p.name)
def test_config_output_loads_back_to_itself(case: Path, tmp_path: Path) -> None:
    """``config`` prints a fixed point: loading its output changes nothing.

    (Not for the interpolation case: ``$$`` is unescaped once.)
    """
    project = load_project(_files(case), _caller_env(case), None)
    printed = to_config_yaml(project)
    again = tmp_path / "compose.yaml"
    again.write_text(printed)
    reloaded = load_project([str(again)], _caller_env(case), project.name)
    assert to_config_yaml(reloaded) == printed
