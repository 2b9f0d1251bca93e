"""LSTM fairness, as a skeptical TA grades it: every correct LSTM scores 100/100 however it is
written, and one mistake costs only its checks, with a hint only when the hint is the mistake.

Both the grade (hidden cases) and the self-check (public cases) are held to it: a hint named by a
hidden case's coincidence (a sequence of one step, where ignoring h0 and dropping the recurrent
term give the same output) is a wrong hint.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fixtures.helpers import below_full, describe
from fixtures.lstm_fairness import FAIR_MISTAKES, FAIR_STYLES
from fixtures.lstm_submissions import lstm_correct_cells
from fixtures.submissions import notebook

from grader.grading import GradeOptions, Grader
from grader.load import SOLUTIONS, load_assignment
from grader.results import GradeResult
from grader.sandbox.client import Sandbox

MODES = ("grade", "check")


@pytest.fixture(scope="module")
def graders(sandbox: Sandbox) -> Iterator[dict[str, Grader]]:
    """One Grader per mode: `grade` (public and hidden cases) and `check` (public only)."""
    assignment = load_assignment(SOLUTIONS / "lstm_forward")
    full = GradeOptions(assignment="lstm_forward")
    public = GradeOptions(assignment="lstm_forward", public_only=True)
    with Grader(full, sandbox, assignment) as grade, Grader(public, sandbox, assignment) as check:
        yield {"grade": grade, "check": check}


def _grade(grader: Grader, overrides: dict[str, str]) -> GradeResult:
    return grader.grade_bytes(notebook(lstm_correct_cells(**overrides)), name="lstm_forward.ipynb")


def _hints(result: GradeResult) -> set[str]:
    return {c.details["misconception"] for c in result.checks if "misconception" in c.details}


def test_there_are_at_least_12_new_styles_and_8_new_mistakes() -> None:
    assert len(FAIR_STYLES) >= 12
    assert len(FAIR_MISTAKES) >= 8
    hinted = {m.hint for m in FAIR_MISTAKES.values()}
    assert None in hinted and len(hinted) > 2, "both named and unnamed mistakes are tried"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("style", sorted(FAIR_STYLES))
def test_a_correct_lstm_in_any_style_scores_full_marks(
    graders: dict[str, Grader], style: str, mode: str
) -> None:
    result = _grade(graders[mode], FAIR_STYLES[style])
    assert (result.score, result.max_score) == (100, 100), describe(result)
    assert not _hints(result), describe(result)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(FAIR_MISTAKES))
def test_one_lstm_mistake_costs_only_its_checks_and_is_named_only_when_it_is_the_mistake(
    graders: dict[str, Grader], name: str, mode: str
) -> None:
    mistake = FAIR_MISTAKES[name]
    result = _grade(graders[mode], mistake.overrides)
    assert below_full(result) == mistake.failing, describe(result)
    assert _hints(result) == ({mistake.hint} if mistake.hint else set()), describe(result)


def test_the_hidden_cases_hold_a_one_step_sequence_where_the_coincidences_happen(
    graders: dict[str, Grader],
) -> None:
    """The unnamed-mistake tests above mean something only if such a case is graded."""
    cases = graders["grade"].cases.forward
    assert any(c.x.shape[1] == 1 and float(c["h0"].abs().sum()) > 0 for c in cases)
