"""The LSTM assignment, graded end to end by the engine from its folder alone.

With two assignments, a Grader that names none is a usage error: every grade here names it.
"""

from __future__ import annotations

import pytest
from fixtures.lstm_submissions import (
    LSTM_CORRECT,
    LSTM_MISTAKES,
    LSTM_SOLUTION_PATH,
    lstm_correct_cells,
)
from fixtures.submissions import notebook

from grader.grading import GradeOptions, Grader
from grader.load import SOLUTIONS, Assignment, load_assignment
from grader.results import GradeResult
from grader.sandbox.client import Sandbox

# Mistakes whose replay the spec declares: each must cost its checks and be named.
NAMED = ("gate-order-ifog", "sigmoid-on-g", "forget-gate-dropped", "c0-ignored", "missing-bias",
         "to-nn-lstm-untransposed", "to-nn-lstm-not-batch-first",
         "init-weights-whh-drawn-first")  # fmt: skip


@pytest.fixture(scope="module")
def lstm() -> Assignment:
    return load_assignment(SOLUTIONS / "lstm_forward")


def _grade(assignment: Assignment, sandbox: Sandbox, data: bytes) -> GradeResult:
    with Grader(GradeOptions(assignment="lstm_forward"), sandbox, assignment) as grader:
        return grader.grade_bytes(data, name="lstm_forward.ipynb")


def test_the_lstm_solution_notebook_scores_full_marks(lstm: Assignment, sandbox: Sandbox) -> None:
    result = _grade(lstm, sandbox, LSTM_SOLUTION_PATH.read_bytes())
    assert (result.score, result.max_score) == (100, 100), [
        (c.id, c.message) for c in result.checks if c.points < c.max_points
    ]


def test_correct_cells_score_full_marks(lstm: Assignment, sandbox: Sandbox) -> None:
    result = _grade(lstm, sandbox, notebook(lstm_correct_cells()))
    lost = [(c.id, c.message) for c in result.checks if c.points < c.max_points]
    assert result.score == 100, lost


@pytest.mark.parametrize("name", NAMED)
def test_an_lstm_mistake_loses_its_checks_and_is_named(
    lstm: Assignment, sandbox: Sandbox, name: str
) -> None:
    mistake = LSTM_MISTAKES[name]
    result = _grade(lstm, sandbox, notebook(lstm_correct_cells(**mistake.overrides)))
    lost = {c.id for c in result.checks if c.points < c.max_points}
    assert lost == mistake.failing, [(c.id, c.message) for c in result.checks]
    named = {c.details.get("misconception") for c in result.checks if c.id in lost}
    assert mistake.misconception in named


def test_a_wrong_c_n_costs_the_values_with_right_hidden_states(
    lstm: Assignment, sandbox: Sandbox
) -> None:
    returned = "return torch.stack(states, dim=1), (h, c)"
    source = LSTM_CORRECT["lstm_forward"]
    assert returned in source
    wrong = source.replace(returned, "return torch.stack(states, dim=1), (h, c + 1)")
    result = _grade(lstm, sandbox, notebook(lstm_correct_cells(lstm_forward=wrong)))
    lost = {c.id: c.message for c in result.checks if c.points < c.max_points}
    assert set(lost) == {"lstm_forward.values"}
    assert "c_n differs" in lost["lstm_forward.values"]
