"""The Gradescope bundle of the second assignment: built with --assignment lstm_forward, it grades
an LSTM notebook by the LSTM's spec and solution, with nothing of the RNN in the results."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.lstm_submissions import LSTM_MISTAKES, lstm_correct_cells
from fixtures.submissions import notebook
from test_gradescope_bundle import autograder_root, run_autograder

from grader.bundle import build_bundle
from grader.load import SOLUTIONS, load_spec

LSTM = load_spec(SOLUTIONS / "lstm_forward")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("lstm-bundle")
    (work / "seed.txt").write_text("an lstm seed\n")
    return build_bundle(
        work / "autograder.zip", seed_file=work / "seed.txt", assignment="lstm_forward"
    ).path


def _names(results: dict[str, object]) -> str:
    return " ".join(str(test["name"]) for test in results["tests"])  # type: ignore[index, attr-defined]


def test_a_correct_lstm_notebook_gets_full_marks_on_every_lstm_check(
    bundle: Path, tmp_path: Path
) -> None:
    upload = (LSTM.notebook, notebook(lstm_correct_cells()))
    results = run_autograder(autograder_root(tmp_path, bundle, upload), tmp_path)
    assert results["score"] == pytest.approx(100)
    names = _names(results)
    assert all(check.id in names for check in LSTM.checks)
    assert "rnn_forward" not in names and "init_hidden" not in names


def test_a_known_lstm_mistake_costs_its_checks_in_the_bundle(bundle: Path, tmp_path: Path) -> None:
    mistake = LSTM_MISTAKES["sigmoid-on-g"]
    upload = (LSTM.notebook, notebook(lstm_correct_cells(**mistake.overrides)))
    results = run_autograder(autograder_root(tmp_path, bundle, upload), tmp_path)
    lost = {t["name"].partition(":")[0] for t in results["tests"] if t["score"] < t["max_score"]}
    assert lost == set(mistake.failing)
    assert results["score"] == pytest.approx(100 - sum(LSTM.check(i).points for i in lost))
