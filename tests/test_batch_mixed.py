"""A class that mixes RNN and LSTM notebooks: each graded by its own assignment, in one batch.

The assignment of a notebook is its metadata's first, then --assignment, then the one whose
functions it defines; a notebook none of these decides is ungradable, with a reason that lists the
assignments, and the rest of the class is graded as usual.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import pytest
from fixtures.lstm_submissions import lstm_correct_cells
from fixtures.submissions import notebook
from test_batch_gradebook import fake_result

from grader.batch.exports import write_exports
from grader.batch.gradebook import GRADEBOOK_NAME, Gradebook, Row
from grader.batch.run import BatchOptions, BatchSummary, run_batch
from grader.cli import main
from grader.load import SOLUTIONS, load_spec
from grader.results import CheckResult, GradeResult, Outcome
from grader.settings import Limits

ROOT = Path(__file__).resolve().parents[1]
LIMITS = Limits(call_seconds=5, setup_seconds=10, submission_seconds=20)


def _with_metadata(data: bytes, assignment: str) -> bytes:
    document = json.loads(data)
    document.setdefault("metadata", {})["rnn_grader"] = {"assignment": assignment}
    return json.dumps(document).encode()


def _class(folder: Path) -> Path:
    """Six students: both stubs, a correct RNN (metadata) and LSTM (none: told by its functions),
    RNN code under LSTM metadata, and a notebook that defines neither assignment's functions."""
    rnn_correct = (ROOT / "examples" / "correct.ipynb").read_bytes()
    files = {
        "rnn-stub": (ROOT / "assignment" / "rnn_forward.ipynb").read_bytes(),
        "lstm-stub": (ROOT / "assignment" / "lstm_forward.ipynb").read_bytes(),
        "rnn-correct": rnn_correct,
        "lstm-correct": notebook(lstm_correct_cells()),
        "says-lstm": _with_metadata(rnn_correct, "lstm_forward"),
        "neither": notebook(["import torch\n", "def helper(x):\n    return x + 1\n"]),
    }
    folder.mkdir()
    for student, data in files.items():
        (folder / f"{student}.ipynb").write_bytes(data)
    return folder


def _batch(source: Path, out: Path, assignment: str = "") -> BatchSummary:
    options = BatchOptions(out=out, workers=2, limits=LIMITS, assignment=assignment)
    return run_batch(source, options)


def _rows(out: Path) -> dict[str, Row]:
    with Gradebook(out / GRADEBOOK_NAME) as book:
        return {row.student: row for row in book.current()}


def _csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def _lstm_result(sha: str, lost: str = "") -> GradeResult:
    """A graded LSTM notebook: every check passed but `lost`."""
    checks = tuple(CheckResult(id=c.id, points=0.0 if c.id == lost else c.points,
                               max_points=c.points, message="said so",
                               outcome=Outcome.FAILED if c.id == lost else Outcome.PASSED)
                   for c in load_spec(SOLUTIONS / "lstm_forward").checks)  # fmt: skip
    return dataclasses.replace(fake_result(sha, case_set="lstm-cases"), checks=checks)


def test_a_mixed_gradebook_exports_each_assignment_in_its_own_columns(tmp_path: Path) -> None:
    undecided = dataclasses.replace(fake_result("c", ungradable="no assignment"), checks=())
    graded = {"ann": (fake_result("a"), "rnn_forward"),
              "bo": (_lstm_result("b", lost="init_weights.values"), "lstm_forward"),
              "cy": (undecided, "")}  # fmt: skip
    with Gradebook(tmp_path / GRADEBOOK_NAME) as book:
        for student, (result, assignment) in graded.items():
            book.record(result, student=student, name=student, late=False, file="f.ipynb",
                        replace=False, assignment=assignment)  # fmt: skip
        write_exports(book, tmp_path, formats=("json",))
    grades = {row[0]: row for row in _csv(tmp_path / "grades.csv")}
    shared = grades["student"].index("lstm_forward:init_weights.values")
    assert grades["student"][4] == "rnn_forward:init_hidden.shape"
    assert "rnn_forward:init_weights.values" in grades["student"]  # two columns for one id
    assert (grades["ann"][shared], grades["bo"][shared], grades["cy"][shared]) == ("", "0", "")
    assert [grades[s][-1] for s in ("ann", "bo", "cy")] == ["rnn_forward", "lstm_forward", ""]
    canvas = {row[0]: row[5:] for row in _csv(tmp_path / "canvas.csv")}
    assert canvas["Student"] == ["rnn_forward", "lstm_forward"]
    assert (canvas["ann"], canvas["bo"], canvas["cy"]) == (["100", ""], ["", "94"], ["", ""])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [(p["assignment"], p["students"]) for p in summary["assignments"]] == [
        ("rnn_forward", 1), ("lstm_forward", 1)]  # fmt: skip
    rates = {c["id"]: c["pass_rate"] for c in summary["checks"]}
    assert rates["rnn_forward:init_weights.values"] == 1.0
    assert rates["lstm_forward:init_weights.values"] == 0.0
    markdown = (tmp_path / "summary.md").read_text()
    assert "## Assignment rnn_forward" in markdown and "## Assignment lstm_forward" in markdown


@pytest.mark.slow
def test_a_mixed_class_is_graded_each_notebook_by_its_own_assignment(tmp_path: Path) -> None:
    source, out = _class(tmp_path / "class"), tmp_path / "out"
    summary = _batch(source, out)
    assert (summary.students, summary.graded, summary.failed) == (6, 6, 0)
    rows = _rows(out)
    assert {s: (r.assignment, r.score) for s, r in rows.items() if s != "says-lstm"} == {
        "rnn-stub": ("rnn_forward", 0),
        "lstm-stub": ("lstm_forward", 0),
        "rnn-correct": ("rnn_forward", 100),
        "lstm-correct": ("lstm_forward", 100),
        "neither": ("", 0),
    }
    said = rows["says-lstm"]  # the metadata wins over the functions it defines
    assert said.assignment == "lstm_forward" and said.score < 100
    assert set(said.checks) == set(rows["lstm-correct"].checks)
    neither = rows["neither"]
    assert neither.outcome == "ungradable" and not neither.checks
    assert "lstm_forward, rnn_forward" in neither.reason and "--assignment" in neither.reason

    grades = {row[0]: row for row in _csv(out / "grades.csv")}
    header = grades["student"]
    rnn_ids, lstm_ids = list(rows["rnn-correct"].checks), list(rows["lstm-correct"].checks)
    # Each assignment's checks in its spec's order, the RNN's first, named by assignment: the
    # RNN and the LSTM share some ids (init_weights.values).
    assert header[4:-4] == [f"rnn_forward:{i}" for i in rnn_ids] + [
        f"lstm_forward:{i}" for i in lstm_ids
    ]
    assert header[-1] == "assignment" and grades["lstm-correct"][-1] == "lstm_forward"
    assert grades["lstm-correct"][4 : 4 + len(rnn_ids)] == [""] * len(rnn_ids)

    canvas = {row[0]: row[5:] for row in _csv(out / "canvas.csv")}
    assert canvas["Student"] == ["rnn_forward", "lstm_forward"]
    assert canvas["rnn-correct"] == ["100", ""] and canvas["lstm-correct"] == ["", "100"]
    assert canvas["neither"] == ["", ""]

    document = json.loads((out / "summary.json").read_text())
    parts = {part["assignment"]: part for part in document["assignments"]}
    assert (parts["rnn_forward"]["students"], parts["lstm_forward"]["students"]) == (2, 3)
    assert [c["id"] for c in parts["lstm_forward"]["checks"]] == lstm_ids
    assert "## Assignment lstm_forward" in (out / "summary.md").read_text()
    report = json.loads((out / "reports" / "lstm-correct" / "report.gradescope.json").read_text())
    assert report["tests"][0]["name"].startswith("init_state.shape: ")

    again = _batch(source, out)  # nothing changed: nothing graded
    assert (again.graded, again.skipped) == (0, 6)
    (source / "lstm-stub.ipynb").write_bytes(notebook(lstm_correct_cells()) + b"\n")
    changed = _batch(source, out)  # one notebook changed: only it is graded
    assert (changed.graded, changed.skipped) == (1, 5)
    assert _rows(out)["lstm-stub"].score == 100


@pytest.mark.slow
def test_the_assignment_option_decides_only_what_the_metadata_leaves_open(tmp_path: Path) -> None:
    source, out = _class(tmp_path / "class"), tmp_path / "out"
    for student in ("rnn-stub", "lstm-stub", "rnn-correct", "lstm-correct"):
        (source / f"{student}.ipynb").unlink()
    summary = _batch(source, out, assignment="rnn_forward")
    assert (summary.graded, summary.failed) == (2, 0)
    rows = _rows(out)
    assert rows["says-lstm"].assignment == "lstm_forward"  # its metadata, not the option
    assert rows["neither"].assignment == "rnn_forward"  # decided: graded, not left undecided
    assert rows["neither"].outcome != "ungradable" and len(rows["neither"].checks) == 10
    # The instructor is told whom the metadata graded otherwise than the option said.
    others = json.loads((out / "summary.json").read_text())["other_assignment"]
    assert [(o["student"], o["assignment"]) for o in others] == [("says-lstm", "lstm_forward")]
    assert "says-lstm" in (out / "summary.md").read_text().split("another assignment")[1]
    # Canvas gets the asked assignment's column alone: no import overwrites the other's grades.
    canvas = {row[0]: row[5:] for row in _csv(out / "canvas.csv")}
    assert canvas["Student"] == ["rnn_forward"] and canvas["says-lstm"] == [""]


@pytest.mark.slow
def test_the_examples_folder_is_a_mixed_class_the_cli_grades_without_options(
    tmp_path: Path,
) -> None:
    out = str(tmp_path / "out")
    assert main(["batch", str(ROOT / "examples"), "--out", out, "--workers", "2"]) == 0
    rows = _rows(tmp_path / "out")  # W_hh transposed still matches h_1: partial credit
    assert {s: (r.assignment, round(r.score)) for s, r in rows.items()} == {
        "stub": ("rnn_forward", 0),
        "correct": ("rnn_forward", 100),
        "buggy-whh-transposed": ("rnn_forward", 70),
        "lstm-correct": ("lstm_forward", 100),
        "lstm-buggy-sigmoid-on-g": ("lstm_forward", 70),
    }
