"""`--assignment` on grade, check and batch: by name or folder, else metadata, else the only one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fixtures.lstm_submissions import lstm_correct_cells
from fixtures.submissions import correct_cells, notebook

from grader import load
from grader.cli import main

RNN = load.SOLUTIONS / "rnn_forward"


def _write(path: Path, assignment: str | None = None) -> Path:
    data = json.loads(notebook(correct_cells()))
    if assignment is not None:
        data["metadata"]["rnn_grader"] = {"assignment": assignment}
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def two_assignments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "solutions"
    for name in ("alpha", "beta"):
        shutil.copytree(RNN, root / name)
    monkeypatch.setattr(load, "SOLUTIONS", root)
    return root


@pytest.mark.parametrize("command", ["grade", "check", "batch"])
def test_an_unknown_assignment_is_a_usage_error_naming_the_known_ones(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = _write(tmp_path / "a.ipynb")
    extra = ["--out", str(tmp_path / "out")] if command == "batch" else []
    assert main([command, str(target), *extra, "--assignment", "no_such"]) == 4
    assert "rnn_forward" in capsys.readouterr().err


def test_an_assignment_folder_can_be_given_by_path(tmp_path: Path) -> None:
    folder = shutil.copytree(RNN, tmp_path / "elsewhere")
    target = _write(tmp_path / "a.ipynb")
    assert main(["check", str(target), "--assignment", str(folder)]) == 0


def test_with_several_assignments_a_notebook_naming_none_is_a_usage_error(
    two_assignments: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(_write(tmp_path / "a.ipynb"))]) == 4
    assert "alpha, beta" in capsys.readouterr().err


def test_with_several_assignments_the_notebooks_metadata_chooses(
    two_assignments: Path, tmp_path: Path
) -> None:
    target = _write(tmp_path / "a.ipynb", assignment="beta")
    assert main(["check", str(target), "--format", "json"]) == 0


def test_metadata_naming_no_known_assignment_is_ignored(tmp_path: Path) -> None:
    assert load.declared_assignment(_write(tmp_path / "a.ipynb", "nope").read_bytes()) == ""
    assert load.declared_assignment(b"not json") == ""
    assert load.declared_assignment(b'{"metadata": []}') == ""


# --- the two assignments that ship: rnn_forward and lstm_forward --------------------------------


def _ids(report: Path) -> set[str]:
    return {check["id"] for check in json.loads(report.read_text())["checks"]}


def test_a_notebook_without_metadata_is_graded_by_the_assignment_whose_functions_it_defines(
    tmp_path: Path,
) -> None:
    lstm = tmp_path / "lstm.ipynb"
    lstm.write_bytes(notebook(lstm_correct_cells()))
    rnn = _write(tmp_path / "rnn.ipynb")
    assert main(["check", str(lstm), str(rnn), "--format", "json", "--out", str(tmp_path)]) == 0
    assert "lstm_forward.values" in _ids(tmp_path / "lstm.json")
    assert "rnn_forward.values" in _ids(tmp_path / "rnn.json")


def test_a_notebook_that_defines_only_what_both_share_is_a_usage_error_listing_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = tmp_path / "shared.ipynb"
    shared.write_bytes(notebook(["def init_weights(input_size, hidden_size, seed=0):\n    pass"]))
    assert main(["check", str(shared)]) == 4
    assert "lstm_forward, rnn_forward" in capsys.readouterr().err


def test_the_metadata_beats_what_the_functions_suggest_and_assignment_beats_both(
    tmp_path: Path,
) -> None:
    data = _write(tmp_path / "a.ipynb", assignment="lstm_forward").read_bytes()
    assert load.choose_assignment(data) == "lstm_forward"
    assert load.choose_assignment(data, "rnn_forward") == "rnn_forward"
    assert load.choose_assignment(data, "rnn_forward", metadata_first=True) == "lstm_forward"
    assert load.choose_assignment(notebook(correct_cells())) == "rnn_forward"
    assert load.choose_assignment(b"not a notebook") in load.assignment_names()
