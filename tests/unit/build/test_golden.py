"""Golden files for the Dockerfile front end, BuildKit-style.

``testfiles/<case>/Dockerfile`` is parsed; ``tree.json`` holds the expected
syntax tree and ``instructions.json`` the expected typed stages.  Every
``testfiles/negative/<case>/Dockerfile`` must fail with exactly the message
in ``error.txt`` (``Dockerfile:LINE: message``).

To regenerate after a deliberate change: ``DOCKYARD_UPDATE_GOLDEN=1 pytest
tests/unit/build`` — then read the diff before committing it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dockyard.build.instructions import parse_instructions
from dockyard.build.parser import DockerfileError, parse

TESTFILES = Path(__file__).parent / "testfiles"
NEGATIVE = TESTFILES / "negative"
UPDATE = os.environ.get("DOCKYARD_UPDATE_GOLDEN") == "1"

CASES = sorted(p.name for p in TESTFILES.iterdir() if (p / "Dockerfile").is_file())
NEGATIVES = sorted(p.name for p in NEGATIVE.iterdir() if (p / "Dockerfile").is_file())


def _check(path: Path, actual: object) -> None:
    text = json.dumps(actual, indent=2, ensure_ascii=False) + "\n"
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert json.loads(path.read_text(encoding="utf-8")) == actual, path


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    folder = TESTFILES / case
    tree = parse((folder / "Dockerfile").read_bytes())
    _check(folder / "tree.json", tree.to_dict())
    _check(folder / "instructions.json", parse_instructions(tree).to_dict())


@pytest.mark.parametrize("case", NEGATIVES)
def test_negative(case: str) -> None:
    folder = NEGATIVE / case
    expected = (folder / "error.txt").read_text(encoding="utf-8").rstrip("\n")
    with pytest.raises(DockerfileError) as info:
        parse_instructions(parse((folder / "Dockerfile").read_bytes()))
    assert str(info.value) == expected
    assert info.value.line == int(expected.split(":")[1])


def test_every_case_has_expectations() -> None:
    for case in CASES:
        assert (TESTFILES / case / "tree.json").is_file(), case
    assert len(CASES) >= 10 and len(NEGATIVES) >= 10
