"""Each known mistake costs exactly its checks; every other check keeps full points."""

from __future__ import annotations

import pytest
from fixtures.helpers import below_full, by_id, describe
from fixtures.submissions import CHECK_IDS, MISTAKES, notebook

from grader.grading import grade_bytes
from grader.results import GradeResult, Outcome
from grader.sandbox.client import Sandbox


@pytest.fixture(scope="module")
def graded(sandbox: Sandbox) -> dict[str, GradeResult]:
    """Every mistake graded once on the full case set."""
    return {
        name: grade_bytes(notebook(m.cells), name=f"{name}.ipynb", sandbox=sandbox)
        for name, m in MISTAKES.items()
    }


def test_the_catalogue_of_mistakes_is_consistent() -> None:
    assert len(MISTAKES) >= 12
    for name, mistake in MISTAKES.items():
        assert len(mistake.overrides) == 1, f"{name} must change exactly one function"
        assert mistake.failing and mistake.failing <= CHECK_IDS, name
        assert mistake.partial | mistake.zero <= mistake.failing, name
        assert not mistake.partial & mistake.zero, name


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_mistake_costs_exactly_its_checks(name: str, graded: dict[str, GradeResult]) -> None:
    result = graded[name]
    assert below_full(result) == MISTAKES[name].failing, describe(result)
    assert result.ungradable is None


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_mistake_is_reported_as_a_failure_with_a_reason(
    name: str, graded: dict[str, GradeResult]
) -> None:
    mistake = MISTAKES[name]
    checks = by_id(graded[name])
    for check_id in mistake.failing:
        check = checks[check_id]
        assert check.outcome in (Outcome.FAILED, Outcome.ERROR), describe(graded[name])
        assert check.message.strip(), f"{check_id} fails without saying why"
        assert mistake.mentions in check.message, describe(graded[name])


@pytest.mark.parametrize("name", sorted(n for n, m in MISTAKES.items() if m.partial))
def test_partial_credit_for_what_is_still_right(name: str, graded: dict[str, GradeResult]) -> None:
    checks = by_id(graded[name])
    for check_id in MISTAKES[name].partial:
        assert 0 < checks[check_id].points < checks[check_id].max_points, describe(graded[name])


@pytest.mark.parametrize("name", sorted(n for n, m in MISTAKES.items() if m.zero))
def test_no_credit_where_nothing_is_right(name: str, graded: dict[str, GradeResult]) -> None:
    checks = by_id(graded[name])
    for check_id in MISTAKES[name].zero:
        assert checks[check_id].points == 0, describe(graded[name])


def test_wrong_values_say_where_they_first_go_wrong(graded: dict[str, GradeResult]) -> None:
    check = by_id(graded["whh-transposed"])["rnn_forward.values"]
    assert check.outcome is Outcome.FAILED
    assert check.details, "a value failure carries structured details (case, step, error)"
    assert "case" in check.message


def test_transposed_whh_is_recognised_as_that_misconception(
    graded: dict[str, GradeResult],
) -> None:
    check = by_id(graded["whh-transposed"])["rnn_forward.values"]
    assert "W_hh" in check.message or "W_hh" in str(check.details), describe(
        graded["whh-transposed"]
    )
