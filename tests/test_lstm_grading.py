"""The LSTM assignment, graded end to end by the engine from its folder alone.

Its spec waits in solutions/lstm_forward/spec.pending.py: as spec.py it would make a second
assignment, and every caller that names none (tests, examples, the CLI without metadata) would
get the usage error that lists them. Here it is graded from a copy of the folder, as spec.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

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
def lstm(tmp_path_factory: pytest.TempPathFactory) -> Assignment:
    folder = Path(tmp_path_factory.mktemp("lstm")) / "lstm_forward"
    shutil.copytree(SOLUTIONS / "lstm_forward", folder)
    (folder / "spec.pending.py").rename(folder / "spec.py")
    return load_assignment(folder)


def _grade(assignment: Assignment, sandbox: Sandbox, data: bytes) -> GradeResult:
    with Grader(GradeOptions(), sandbox=sandbox, assignment=assignment) as grader:
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
