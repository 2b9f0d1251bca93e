"""Broken files give a report with a clear reason and a score, never an exception."""

from __future__ import annotations

import nbformat
import pytest
from fixtures.helpers import below_full, by_id, describe
from fixtures.malformed import DEGRADED, UNGRADABLE
from fixtures.submissions import CATALOG, CHECK_IDS, correct_cells, notebook

from grader.grading import grade_bytes
from grader.results import Outcome
from grader.sandbox.client import Sandbox


def test_the_fixture_builder_writes_valid_nbformat_4() -> None:
    """So that the faults below are the only faults in their files."""
    data = notebook(correct_cells(), markdown=["# Title"])
    nbformat.validate(nbformat.reads(data.decode(), as_version=nbformat.NO_CONVERT))


@pytest.mark.parametrize("name", sorted(UNGRADABLE))
def test_ungradable_file_gives_a_zero_report(name: str, sandbox: Sandbox) -> None:
    build, reason = UNGRADABLE[name]
    result = grade_bytes(build(), name=f"{name}.ipynb", sandbox=sandbox, assignment="rnn_forward")
    assert result.ungradable is not None and reason.lower() in result.ungradable.lower()
    assert result.score == 0
    assert [c.id for c in result.checks] == [spec.id for spec in CATALOG]
    assert all(c.outcome is Outcome.ERROR and c.message for c in result.checks)
    assert result.max_score == 100


@pytest.mark.parametrize("name", sorted(DEGRADED))
def test_damaged_notebook_loses_only_the_broken_part(name: str, sandbox: Sandbox) -> None:
    case = DEGRADED[name]
    result = grade_bytes(case.data(), name=f"{name}.ipynb", sandbox=sandbox)
    assert result.ungradable is None, describe(result)
    assert below_full(result) == case.failing, describe(result)
    for check_id in case.failing:
        assert case.mentions in by_id(result)[check_id].message, describe(result)


@pytest.mark.parametrize("name", sorted(n for n, c in DEGRADED.items() if c.problem))
def test_damage_is_noted_with_its_cell(name: str, sandbox: Sandbox) -> None:
    case = DEGRADED[name]
    result = grade_bytes(case.data(), sandbox=sandbox)
    notes = [p for p in result.problems if case.problem in p.message]
    assert notes, describe(result)
    if case.problem_cell is not None:
        assert case.problem_cell in {p.cell for p in notes}, describe(result)


def test_a_missing_function_is_an_error_not_a_wrong_answer(sandbox: Sandbox) -> None:
    result = grade_bytes(DEGRADED["function-missing"].data(), sandbox=sandbox)
    for check_id in DEGRADED["function-missing"].failing:
        assert by_id(result)[check_id].outcome is Outcome.ERROR


def test_the_catalogue_of_broken_files_is_broad() -> None:
    assert len(UNGRADABLE) + len(DEGRADED) >= 12
    assert all(case.failing <= CHECK_IDS for case in DEGRADED.values())


def test_a_batch_goes_on_after_broken_files(sandbox: Sandbox) -> None:
    for build, _ in UNGRADABLE.values():
        grade_bytes(build(), sandbox=sandbox)
    result = grade_bytes(notebook(correct_cells()), sandbox=sandbox)
    assert result.all_passed, describe(result)
