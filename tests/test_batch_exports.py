"""Exports from the gradebook: grades.csv, reports, summary and charts agree with it."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import sqlite3
import struct
from pathlib import Path
from typing import Any

import pytest
from fixtures.submissions import CATALOG
from test_batch_gradebook import fake_result

from grader.batch.exports import GRADES_CSV, canvas_csv, report_folder, write_exports
from grader.batch.gradebook import Gradebook
from grader.batch.progress import ProgressPrinter, bar_line, final_line, plain_line
from grader.batch.run import BatchSummary, Progress
from grader.report import RENDERERS, SUFFIXES
from grader.results import GradeResult, Outcome

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
                assignment="rnn_forward",
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
    # The assignment column came last, so every column of round 1 kept its place.
    assert header[4 + len(CATALOG) :] == ["outcome", "late", "file", "assignment"]
    assert {r["assignment"] for r in rows} == {"rnn_forward"}


def test_every_student_gets_a_report_in_every_format(gradebook: Path) -> None:
    export(gradebook)
    folders = sorted(p.name for p in (gradebook / "reports").iterdir())
    assert folders == sorted(report_folder(s) for s in NAMES)
    assert all("/" not in f and not f.startswith(".") for f in folders)
    for student in NAMES:
        folder = gradebook / "reports" / report_folder(student)
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            f"report{SUFFIXES[fmt]}" for fmt in RENDERERS if fmt in SUFFIXES
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
            assignment="rnn_forward",
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


# ---------------------------------------------------------------------------------------------
# What an instructor teaches from: grouped stubs, misconceptions, names; inert student text


def with_checks(result: GradeResult, **changes: dict[str, Any]) -> GradeResult:
    """`result` with some checks changed: check id (dots as __) -> fields to replace."""
    wanted = {key.replace("__", "."): value for key, value in changes.items()}
    checks = tuple(dataclasses.replace(c, **wanted.get(c.id, {})) for c in result.checks)
    return dataclasses.replace(result, checks=checks)


def exported(tmp_path: Path, students: dict[str, tuple[str, GradeResult]]) -> dict[str, Any]:
    """Record each student (id -> (name, result)), export, and return summary.json."""
    with Gradebook(tmp_path / "gradebook.sqlite") as book:
        for student, (name, result) in students.items():
            book.record(result, student=student, name=name, late=False,
                        file=f"{student}.ipynb", replace=False,
                        assignment="rnn_forward")  # fmt: skip
        write_exports(book, tmp_path)
    summary: dict[str, Any] = json.loads((tmp_path / "summary.json").read_text())
    return summary


STUBBED = {"outcome": Outcome.ERROR, "points": 0.0}


def stub(function: str) -> dict[str, Any]:
    return {
        **STUBBED,
        "message": f"{function} is not implemented yet (it raises NotImplementedError)",
    }


def test_untouched_stubs_are_one_not_implemented_row(tmp_path: Path) -> None:
    stubs = {"init_hidden__shape": stub("init_hidden"), "init_hidden__values": stub("init_hidden"),
             "rnn_forward__values": stub("rnn_forward")}  # fmt: skip
    wrong = {"rnn_forward__values": {"outcome": Outcome.FAILED, "points": 0.0,
                                     "message": "step 2 differs by 0.5"}}  # fmt: skip
    summary = exported(tmp_path, {
        "ann": ("Ann", with_checks(fake_result("a"), **stubs)),
        "bo": ("Bo", with_checks(fake_result("b"), **stubs)),
        "cy": ("Cy", with_checks(fake_result("c"), **wrong)),
    })  # fmt: skip
    failures = summary["common_failures"]
    (grouped,) = [f for f in failures if "NotImplementedError" in f["message"]]
    assert (grouped["check"], grouped["count"]) == ("not implemented", 2)
    assert grouped["functions"] == {"init_hidden": 2, "rnn_forward": 2}
    assert ("rnn_forward.values", 1) in [(f["check"], f["count"]) for f in failures]


def test_misconceptions_are_counted_across_the_class_with_names(tmp_path: Path) -> None:
    def mistake(name: str) -> dict[str, Any]:
        return {"outcome": Outcome.FAILED, "points": 0.0, "message": "differs",
                "details": {"misconception": name, "hint": "look"}}  # fmt: skip

    h0 = {"rnn_forward__shape": mistake("output-starts-with-h0"),
          "rnn_forward__values": mistake("output-starts-with-h0")}  # fmt: skip
    summary = exported(tmp_path, {
        "1001": ("Ann Lee", with_checks(fake_result("a"), **h0)),
        "1002": ("Bo Chan", with_checks(fake_result("b"), **h0)),
        "1003": ("Cy", with_checks(fake_result("c"), to_nn_rnn__parity=mistake("w-transposed"))),
        "1004": ("Dee", fake_result("d")),
    })  # fmt: skip
    assert [(m["misconception"], m["students"]) for m in summary["misconceptions"]] == [
        ("output-starts-with-h0", 2),
        ("w-transposed", 1),
    ]
    first = summary["misconceptions"][0]
    assert first["checks"] == ["rnn_forward.shape", "rnn_forward.values"]
    assert first["who"] == ["Ann Lee (1001)", "Bo Chan (1002)"]
    markdown = (tmp_path / "summary.md").read_text()
    assert "## Misconceptions across the class" in markdown
    assert "Ann Lee (1001)" in markdown


def test_errored_students_are_named_next_to_their_ids(tmp_path: Path) -> None:
    broken = fake_result(
        "a", ungradable="the file is empty", lost={s.id: Outcome.ERROR for s in CATALOG}
    )
    summary = exported(tmp_path, {"3000001": ("Jane Doe", broken)})
    assert summary["errored"][0]["name"] == "Jane Doe"
    assert "| Jane Doe (3000001) | ungradable |" in (tmp_path / "summary.md").read_text()


def test_student_text_in_summary_md_is_inert(tmp_path: Path) -> None:
    evil = (
        "[click](http://evil.example/x) ![](http://evil.example/i.png) <img src=x onerror=1>"
        " <a href='javascript:x'>y</a> www.evil.example mail@evil.example *bold* `code` |"
    )
    failing = {"outcome": Outcome.ERROR, "points": 0.0, "message": evil}
    broken = fake_result("b", ungradable=evil, lost={s.id: Outcome.ERROR for s in CATALOG})
    exported(tmp_path, {
        evil: (evil, with_checks(fake_result("a"), rnn_forward__values=failing)),
        "bo": (evil, broken),
    })  # fmt: skip
    markdown = (tmp_path / "summary.md").read_text()
    body = markdown.split("## Most common failures", 1)[1]
    assert "[click](http://evil" in body  # the text is there, inside code spans
    visible = re.sub(r"(`+) .*? \1", "", body)  # a code span shows text, never markup
    for live in (r"\]\(", r"!\[", r"<img", r"<a ", r"https?:", r"www\.", r"@", r"\*bold"):
        assert not re.search(live, visible), live
    assert all(line.count("|") - line.count("\\|") in (0, 4, 5) for line in body.splitlines())


def test_canvas_csv_is_in_the_layout_canvas_imports(tmp_path: Path) -> None:
    with Gradebook(tmp_path / "gradebook.sqlite") as book:
        for student, name, sha in (("1001", "Lee, Ann", "a"), ("3000002", "=Bo", "b"),
                                   ("carol", "carol", "c")):  # fmt: skip
            lost = {"rnn_forward.values": Outcome.FAILED} if sha == "b" else None
            book.record(fake_result(sha, lost=lost), student=student, name=name, late=False,
                        file=f"{student}.ipynb", replace=False,
                        assignment="rnn_forward")  # fmt: skip
        rows = book.current()
        layouts = {"1001": "canvas", "3000002": "gradescope", "carol": "folder"}
        text = canvas_csv(rows, layouts, {"rnn_forward": "rnn_forward (4242)"})
        write_exports(book, tmp_path)
    table = list(csv.reader(io.StringIO(text, newline="")))
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                        "rnn_forward (4242)"]  # fmt: skip
    assert table[1][0].strip() == "Points Possible" and table[1][5] == "100"
    assert table[2] == ["Lee, Ann", "1001", "", "", "", "100"]
    assert table[3] == ["'=Bo", "", "3000002", "", "", "70"]
    assert table[4] == ["carol", "", "", "carol", "", "100"]
    assert (tmp_path / "canvas.csv").read_text().startswith("Student,ID,SIS User ID")
    assert (tmp_path / "grades.csv").exists()
