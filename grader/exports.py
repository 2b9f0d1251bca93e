"""Files made from the gradebook: grades.csv, per-student reports, summary.md/json, charts.

Every file is written to a temporary name and renamed into place, under a lock file, so two
batches exporting into one folder never leave a half-written or interleaved file behind.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from grader import charts
from grader.catalog import CATALOG
from grader.gradebook import Gradebook, Row
from grader.report import NOTEBOOK_RENDERERS, RENDERERS, SUFFIXES, render
from grader.results import GradeResult, result_from_dict
from grader.students import Roster
from grader.summary import summarize, to_markdown

GRADES_CSV = "grades.csv"
SUMMARY_MD = "summary.md"
SUMMARY_JSON = "summary.json"
REPORTS = "reports"
LOCK = ".exports.lock"
REPORT_STEM = "report"  # reports/<student>/report.txt, report.json, ...
_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, kw_only=True)
class Exports:
    """What was written."""

    grades_csv: Path  # one row per student
    summary_md: Path  # for people
    summary_json: Path  # for tools
    charts: tuple[Path, ...]  # PNGs
    reports: Path  # folder of per-student folders
    reports_written: int  # students whose reports were (re)written in this export


def write_exports(book: Gradebook, out: Path, *, roster: Roster | None = None) -> Exports:
    """Every export from the gradebook's current rows."""
    with _locked(out / LOCK):
        rows = book.current()
        _atomic_write(out / GRADES_CSV, grades_csv(rows))
        written = _write_reports(book, rows, out)
        summary = summarize(rows, roster)
        _atomic_write(out / SUMMARY_JSON, json.dumps(summary, indent=2) + "\n")
        _atomic_write(out / SUMMARY_MD, to_markdown(summary))
        pngs = charts.draw(summary, out)
    return Exports(
        grades_csv=out / GRADES_CSV,
        summary_md=out / SUMMARY_MD,
        summary_json=out / SUMMARY_JSON,
        charts=pngs,
        reports=out / REPORTS,
        reports_written=written,
    )


def grades_csv(rows: list[Row]) -> str:
    """One row per student: id, name, total, every check's points, outcome, late flag, file."""
    ids = [spec.id for spec in CATALOG]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180, what spreadsheets expect
    writer.writerow(["student", "name", "total", "max_score", *ids, "outcome", "late", "file"])
    for row in rows:
        points = [_number(row.checks[i][0]) if i in row.checks else "" for i in ids]
        writer.writerow(
            [
                _text(row.student),
                _text(row.name),
                _number(row.score),
                _number(row.max_score),
                *points,
                row.outcome,
                int(row.late),
                _text(row.file),
            ]
        )
    return buffer.getvalue()


def report_folder(student: str) -> str:
    """A folder name for a student id: safe on every file system, distinct for distinct ids."""
    safe = _UNSAFE.sub("_", student).strip(".")[:80] or "_"
    if safe == student:
        return safe
    return f"{safe}-{hashlib.sha256(student.encode()).hexdigest()[:8]}"


def render_all(result: GradeResult, notebook: bytes | None = None) -> dict[str, str]:
    """The result in every report format, and in the notebook formats when the submitted
    `notebook`'s bytes are given; a writer that fails says so in its file instead."""
    texts = {}
    shown = [fmt for fmt in NOTEBOOK_RENDERERS if fmt in SUFFIXES] if notebook is not None else []
    for fmt in [*RENDERERS, *shown]:
        try:
            texts[fmt] = render(result, fmt, notebook or b"")
        except Exception as exc:  # one writer's bug must not cost the student the others
            texts[fmt] = f"this report could not be rendered ({type(exc).__name__}: {exc})\n"
    return texts


def write_student_reports(out: Path, student: str, texts: dict[str, str]) -> None:
    """reports/<student>/report.<suffix> for each rendered format."""
    folder = out / REPORTS / report_folder(student)
    folder.mkdir(parents=True, exist_ok=True)
    for fmt, text in texts.items():
        if fmt in SUFFIXES:
            _atomic_write(folder / f"{REPORT_STEM}{SUFFIXES[fmt]}", text)


def _write_reports(book: Gradebook, rows: list[Row], out: Path) -> int:
    """Reports the workers did not write (resumed or re-pointed students, another grader)."""
    written = 0
    for row in rows:
        if row.reports_written and (out / REPORTS / report_folder(row.student)).is_dir():
            continue
        result = result_from_dict(book.result_json(row.submission_id))
        write_student_reports(out, row.student, render_all(result))
        book.mark_reports_written(row.student, row.submission_id)
        written += 1
    return written


def _number(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


def _text(value: str) -> str:
    """Text a spreadsheet would run as a formula (`=HYPERLINK(...)`) gets a leading quote."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _atomic_write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8", newline="")
    os.replace(temporary, path)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # another batch exporting here: wait for it
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
