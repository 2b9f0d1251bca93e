"""The LSTM assignment, graded end to end by the engine from its folder alone.

With two assignments, a Grader that names none is a usage error: every grade here names it.
Each known mistake is graded in test_lstm_mistakes.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fixtures.lstm_submissions import (
    LSTM_CORRECT,
    LSTM_SOLUTION_PATH,
    lstm_correct_cells,
)
from fixtures.submissions import notebook

from grader.grading import GradeOptions, Grader
from grader.load import SOLUTIONS, load_assignment
from grader.results import GradeResult
from grader.sandbox.client import Sandbox


@pytest.fixture(scope="module")
def grader(sandbox: Sandbox) -> Iterator[Grader]:
    assignment = load_assignment(SOLUTIONS / "lstm_forward")
    with Grader(GradeOptions(assignment="lstm_forward"), sandbox, assignment) as grader:
        yield grader


def _grade(grader: Grader, data: bytes) -> GradeResult:
    return grader.grade_bytes(data, name="lstm_forward.ipynb")


def test_the_lstm_solution_notebook_scores_full_marks(grader: Grader) -> None:
    result = _grade(grader, LSTM_SOLUTION_PATH.read_bytes())
    assert (result.score, result.max_score) == (100, 100), [
        (c.id, c.message) for c in result.checks if c.points < c.max_points
    ]


def test_correct_cells_score_full_marks(grader: Grader) -> None:
    result = _grade(grader, notebook(lstm_correct_cells()))
    lost = [(c.id, c.message) for c in result.checks if c.points < c.max_points]
    assert result.score == 100, lost


def test_a_wrong_c_n_costs_the_values_with_right_hidden_states(grader: Grader) -> None:
    returned = "return torch.stack(states, dim=1), (h, c)"
    source = LSTM_CORRECT["lstm_forward"]
    assert returned in source
    wrong = source.replace(returned, "return torch.stack(states, dim=1), (h, c + 1)")
    result = _grade(grader, notebook(lstm_correct_cells(lstm_forward=wrong)))
    lost = {c.id: c for c in result.checks if c.points < c.max_points}
    assert set(lost) == {"lstm_forward.values"}
    assert "c_n differs" in lost["lstm_forward.values"].message
    assert "misconception" not in lost["lstm_forward.values"].details  # not h_n, c_n swapped
