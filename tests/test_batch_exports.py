"""Exports from the gradebook: grades.csv, reports, summary and charts agree with it."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import struct
from pathlib import Path

import pytest
from test_batch_gradebook import fake_result

from grader.batch import BatchSummary, Progress
from grader.catalog import CATALOG
from grader.exports import GRADES_CSV, report_folder, write_exports
from grader.gradebook import Gradebook
from grader.progress import ProgressPrinter, bar_line, final_line, plain_line
from grader.report import RENDERERS, SUFFIXES
from grader.results import Outcome

NAMES = {
    "ann": 'Doe, Ann "Annie"',
    "bo,b": "O'Brien, Bob",
    "cy": '=HYPERLINK("http://evil")',
    "dee/../x": "Dee\nNewline",
}


@pytest.fixture
def gradebook(tmp_path: Path) -> Path:
    """Four students: full marks, one failed check, a timeout, an ungradable file."""
    results = {
        "ann": fake_result("a"),
        "bo,b": fake_result("b", lost={"rnn_forward.values": Outcome.FAILED}),
        "cy": fake_result(
            "c", lost={"rnn_forward.values": Outcome.TIMEOUT, "to_nn_rnn.parity": Outcome.FAILED}
        ),
        "dee/../x": fake_result(
            "", ungradable="the file is empty", lost={s.id: Outcome.ERROR for s in CATALOG}
        ),
    }
    with Gradebook(tmp_path / "gradebook.sqlite") as book:
        for student, result in results.items():
            book.record(
                result,
                student=student,
                name=NAMES[student],
                late=student == "cy",
                file=f"{student}.ipynb",
                replace=False,
            )
    return tmp_path


def export(folder: Path) -> None:
    with Gradebook(folder / "gradebook.sqlite") as book:
        write_exports(book, folder)


def test_grades_csv_round_trips_names_with_commas_quotes_and_newlines(gradebook: Path) -> None:
    export(gradebook)
    text = (gradebook / GRADES_CSV).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [r["student"] for r in rows] == ["ann", "bo,b", "cy", "dee/../x"]
    assert rows[0]["name"] == NAMES["ann"] and rows[1]["name"] == NAMES["bo,b"]
    assert rows[3]["name"] == "Dee\nNewline"
    assert rows[2]["name"] == "'" + NAMES["cy"]  # a spreadsheet must not run it as a formula
    assert [r["total"] for r in rows] == ["100", "70", "50", "0"]
    assert [r["late"] for r in rows] == ["0", "0", "1", "0"]
    assert [r["outcome"] for r in rows] == ["passed", "failed", "timeout", "ungradable"]
    assert rows[2]["rnn_forward.values"] == "0" and rows[2]["init_hidden.shape"] == "2"
    header = next(csv.reader(io.StringIO(text)))
    assert header[4 : 4 + len(CATALOG)] == [s.id for s in CATALOG]


def test_every_student_gets_a_report_in_every_format(gradebook: Path) -> None:
    export(gradebook)
    folders = sorted(p.name for p in (gradebook / "reports").iterdir())
    assert folders == sorted(report_folder(s) for s in NAMES)
    assert all("/" not in f and not f.startswith(".") for f in folders)
    for student in NAMES:
        folder = gradebook / "reports" / report_folder(student)
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            f"report{SUFFIXES[fmt]}" for fmt in RENDERERS
        )
        canonical = json.loads((folder / "report.json").read_text())
        assert canonical["submission"]["path"] == "nb.ipynb"


def test_reports_are_written_again_only_when_needed(gradebook: Path) -> None:
    with Gradebook(gradebook / "gradebook.sqlite") as book:
        assert write_exports(book, gradebook).reports_written == 4
        assert write_exports(book, gradebook).reports_written == 0
        book.record(
            fake_result("new"),
            student="ann",
            name="Ann",
            late=False,
            file="a2.ipynb",
            replace=False,
        )
        assert write_exports(book, gradebook).reports_written == 1


def test_report_folders_are_distinct_for_distinct_ids() -> None:
    names = ["a b", "a_b", "a/b", "..", "", "ok-id_1.x@y"]
    folders = [report_folder(n) for n in names]
    assert len(set(folders)) == len(names)
    assert report_folder("ok-id_1.x@y") == "ok-id_1.x@y"


def test_summary_numbers_match_the_gradebook(gradebook: Path) -> None:
    export(gradebook)
    summary = json.loads((gradebook / "summary.json").read_text())
    with sqlite3.connect(gradebook / "gradebook.sqlite") as db:
        scores = [s for (s,) in db.execute("SELECT score FROM submissions ORDER BY student")]
        passed = dict(
            db.execute("SELECT check_id, SUM(outcome = 'passed') FROM checks GROUP BY check_id")
        )
    assert summary["students"] == len(scores) == 4
    assert summary["score"]["mean"] == pytest.approx(sum(scores) / len(scores))
    assert (summary["score"]["min"], summary["score"]["max"]) == (min(scores), max(scores))
    assert sum(b["count"] for b in summary["score"]["histogram"]) == 4
    counts = {b["from"]: b["count"] for b in summary["score"]["histogram"]}
    assert (counts[0], counts[50], counts[70], counts[90]) == (1, 1, 1, 1)
    assert {c["id"]: c["passed"] for c in summary["checks"]} == passed
    assert summary["outcomes"] == {"failed": 1, "passed": 1, "timeout": 1, "ungradable": 1}
    assert {e["student"] for e in summary["errored"]} == {"cy", "dee/../x"}
    top = summary["common_failures"][0]
    assert (top["check"], top["count"]) == ("rnn_forward.values", 2)
    markdown = (gradebook / "summary.md").read_text()
    assert "| rnn_forward.values | 1 | 25% | 7.5/30 |" in markdown
    assert "dee/../x" in markdown


def test_charts_are_png_images(gradebook: Path) -> None:
    export(gradebook)
    for name, size in (("score_histogram.png", (700, 400)), ("check_pass_rates.png", (700, 450))):
        data = (gradebook / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert struct.unpack(">II", data[16:24]) == size


def progress(done: int, total: int = 10, elapsed: float = 5.0) -> Progress:
    return Progress(phase="grading", done=done, total=total, skipped=3, failed=0, elapsed=elapsed)


def test_progress_lines_show_counts_rate_and_eta() -> None:
    assert bar_line(progress(5)).split("  ")[1:4] == ["5/10", "1.0/s", "ETA 0:05"]
    assert plain_line(progress(5)) == "graded 5/10 (50%), 1.0/s, ETA 0:05, 3 already graded"
    assert "ETA --:--" in plain_line(progress(0))


def test_a_terminal_gets_a_redrawn_bar_and_a_log_gets_lines() -> None:
    tty, log = io.StringIO(), io.StringIO()
    for stream, is_tty in ((tty, True), (log, False)):
        printer = ProgressPrinter(stream, tty=is_tty, every=0.0)
        for done in (1, 2):
            printer.update(progress(done))
        printer.update(Progress(phase="done", done=2, total=2, skipped=0, failed=0, elapsed=1))
    assert tty.getvalue().count("\r") == 3 and tty.getvalue().endswith("\n")
    assert log.getvalue().splitlines() == [plain_line(progress(1)), plain_line(progress(2))]


def test_final_line_says_what_happened() -> None:
    summary = BatchSummary(
        students=5,
        graded=4,
        skipped=1,
        failed=0,
        ungradable=1,
        set_aside=0,
        problems=(),
        interrupted=True,
        seconds=2.0,
        grading_seconds=1.0,
        exports=None,
    )
    line = final_line(summary, "out")
    assert line.startswith("interrupted: 5 students, 4 graded, 1 already graded")
    assert "run again to resume" in line
