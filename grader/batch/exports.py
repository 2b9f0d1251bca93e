"""Files made from the gradebook: grades.csv, canvas.csv, per-student reports, summary, charts.

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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from grader.batch import charts, groups
from grader.batch.gradebook import Gradebook, Row
from grader.batch.students import Roster
from grader.batch.summary import summarize, to_markdown
from grader.report import NOTEBOOK_RENDERERS, RENDERERS, SUFFIXES, render
from grader.results import GradeResult, result_from_dict

GRADES_CSV = "grades.csv"
CANVAS_CSV = "canvas.csv"
CANVAS_HEADER = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
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
    canvas_csv: Path  # the same totals in the layout Canvas's gradebook import takes
    summary_md: Path  # for people
    summary_json: Path  # for tools
    charts: tuple[Path, ...]  # PNGs
    reports: Path  # folder of per-student folders
    reports_written: int  # students whose reports were (re)written in this export


def write_exports(
    book: Gradebook,
    out: Path,
    *,
    roster: Roster | None = None,
    canvas_columns: Mapping[str, str] | None = None,
    formats: tuple[str, ...] | None = None,
    asked: str = "",
) -> Exports:
    """Every export from the gradebook's current rows; student reports in `formats` (None: all);
    `canvas_columns` names each assignment's Canvas column (default: the assignment's name);
    `asked` (the batch's --assignment) lets the summary list whom metadata graded otherwise."""
    layouts = {s.student: s.layout for s in roster.submissions} if roster is not None else {}
    with _locked(out / LOCK):
        rows = book.current()
        _atomic_write(out / GRADES_CSV, grades_csv(rows))
        _atomic_write(out / CANVAS_CSV, canvas_csv(rows, layouts, canvas_columns, only=asked))
        written = _write_reports(book, rows, out, formats)
        summary = summarize(rows, roster, asked=asked)
        _atomic_write(out / SUMMARY_JSON, json.dumps(summary, indent=2) + "\n")
        _atomic_write(out / SUMMARY_MD, to_markdown(summary))
        pngs = charts.draw(summary, out)
    return Exports(
        grades_csv=out / GRADES_CSV,
        canvas_csv=out / CANVAS_CSV,
        summary_md=out / SUMMARY_MD,
        summary_json=out / SUMMARY_JSON,
        charts=pngs,
        reports=out / REPORTS,
        reports_written=written,
    )


def grades_csv(rows: list[Row]) -> str:
    """One row per student: id, name, total, the points of every check of the assignments
    present (each assignment's in its spec's order, named `assignment:id` when there are
    several), outcome, late flag, file, assignment."""
    columns, mixed = groups.columns(rows), groups.is_mixed(rows)
    labels = [groups.label(name, check, mixed) for name, check in columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180, what spreadsheets expect
    header = ["student", "name", "total", "max_score", *labels, "outcome", "late", "file"]
    writer.writerow([*header, "assignment"])  # last: the columns before keep their places
    for row in rows:
        points = [_number(row.checks[i][0]) if a == row.assignment and i in row.checks else ""
                  for a, i in columns]  # fmt: skip
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
                row.assignment,
            ]
        )
    return buffer.getvalue()


def canvas_csv(
    rows: list[Row],
    layouts: dict[str, str],
    columns: Mapping[str, str] | None = None,
    only: str = "",
) -> str:
    """Canvas's gradebook CSV: its five identity columns, one column per assignment present
    (titled by `columns`, else by its name), and the "Points Possible" row second, as a Canvas
    export has them, so its import takes the file as is. A student's score is in their
    assignment's column, the others left blank (blank everywhere when none could be told).

    A Canvas download's ids are Canvas user ids (`ID`); Gradescope's are SIS ids (`SIS User ID`,
    or `SIS Login ID` for an e-mail); folder names and file stems are taken for logins.
    With `only` (the batch's --assignment), that assignment's column alone: a notebook whose
    metadata named another must not overwrite that other assignment's grades on import.
    """
    names = [only] if only else groups.present(rows)
    titles = [(columns or {}).get(name, name) for name in names]
    possible = [max((r.max_score for r in groups.of(rows, name)), default=0) for name in names]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*CANVAS_HEADER, *(_text(title) for title in titles)])
    writer.writerow(["    Points Possible", "", "", "", "", *map(_number, possible)])
    for row in rows:
        identity = ["", "", ""]
        identity[_canvas_column(row.student, layouts.get(row.student, ""))] = _text(row.student)
        scores = [_number(row.score) if row.assignment == name else "" for name in names]
        writer.writerow([_text(row.name), *identity, "", *scores])
    return buffer.getvalue()


def _canvas_column(student: str, layout: str) -> int:
    """Which of ID, SIS User ID, SIS Login ID holds this student id."""
    if layout == "canvas":
        return 0
    if layout == "gradescope" and "@" not in student:
        return 1
    return 2


def report_folder(student: str) -> str:
    """A folder name for a student id: safe on every file system, distinct for distinct ids."""
    safe = _UNSAFE.sub("_", student).strip(".")[:80] or "_"
    if safe == student:
        return safe
    digest = hashlib.sha256(student.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{safe}-{digest[:8]}"


def render_all(
    result: GradeResult, notebook: bytes | None = None, formats: tuple[str, ...] | None = None
) -> dict[str, str]:
    """The result in each of `formats` (None: every format; the notebook formats only when the
    submitted `notebook`'s bytes are given); a writer that fails says so in its file instead."""
    shown = [fmt for fmt in NOTEBOOK_RENDERERS if fmt in SUFFIXES] if notebook is not None else []
    texts = {}
    for fmt in [*(fmt for fmt in RENDERERS if fmt in SUFFIXES), *shown]:
        if formats is not None and fmt not in formats:
            continue
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


def _write_reports(
    book: Gradebook, rows: list[Row], out: Path, formats: tuple[str, ...] | None = None
) -> int:
    """Reports the workers did not write (resumed or re-pointed students, another grader)."""
    written = 0
    for row in rows:
        if row.reports_written and (out / REPORTS / report_folder(row.student)).is_dir():
            continue
        result = result_from_dict(book.result_json(row.submission_id))
        write_student_reports(out, row.student, render_all(result, formats=formats))
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
    # a lone surrogate in student text must not stop the export: it is written escaped
    temporary.write_text(text, encoding="utf-8", errors="backslashreplace", newline="")
    os.replace(temporary, path)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # another batch exporting here: wait for it
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
