"""Feedback inside the student's own notebook: a summary cell on top, and after each graded
function's cell a markdown cell with that function's checks, points, where it went wrong, the
hint and, for the forward functions, the per-step plot (a cell attachment).

The student's cells are kept exactly as submitted, outputs included; only markdown cells are
added, tagged `rnn-grader-feedback`, so the notebook opens and runs as the student left it.
Student text goes in inert code spans, as in the Markdown report: no links, images or HTML.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import nbformat
from nbformat import NotebookNode

from grader.report import markdown
from grader.report.plot import trajectory_uri
from grader.report.text import (
    MAX_PROBLEMS,
    detail_items,
    fmt_points,
    outcome_counts,
    problem_line,
    protections_line,
)
from grader.results import CheckResult, GradeResult, Outcome

__all__ = ["FEEDBACK_TAG", "feedback_notebook", "render"]

FEEDBACK_TAG = "rnn-grader-feedback"
_DEF = re.compile(r"^def\s+([A-Za-z_]\w*)\s*\(", re.MULTILINE)  # top-level definitions only
_SVG_PREFIX = "data:image/svg+xml;base64,"
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")  # nbformat cell ids: [a-zA-Z0-9-_]{1,64}
# Marks every font has (colour emoji are missing on many systems).
_MARK: dict[Outcome, str] = {
    Outcome.PASSED: "✔",
    Outcome.FAILED: "✘",
    Outcome.ERROR: "⚠",
    Outcome.TIMEOUT: "⏱",
}


def render(result: GradeResult, notebook: bytes) -> str:
    """The submitted notebook (`notebook`, its bytes) with feedback cells, as .ipynb JSON."""
    try:
        built = feedback_notebook(result, notebook)
        text: str = nbformat.writes(built)  # type: ignore[no-untyped-call]
    except Exception:  # whatever the student's notebook holds, the feedback still comes
        text = nbformat.writes(feedback_notebook(result, b""))  # type: ignore[no-untyped-call]
    return text + "\n"


def feedback_notebook(result: GradeResult, notebook: bytes) -> NotebookNode:
    """The feedback notebook as an object; a notebook that cannot be read gets a fresh one."""
    student = _read(notebook)
    cells: list[NotebookNode] = list(student.cells)
    placed = _function_cells(cells)
    by_function: dict[str, list[CheckResult]] = {}
    for check in result.checks:
        by_function.setdefault(check.function, []).append(check)
    out: list[NotebookNode] = [_summary_cell(result, sorted(set(by_function) - set(placed)))]
    after = {index: name for name, index in placed.items() if name in by_function}
    for index, cell in enumerate(cells):
        out.append(cell)
        if index in after:
            out.append(_function_cell(after[index], by_function[after[index]]))
    out += [_function_cell(name, by_function[name]) for name in by_function if name not in placed]
    student.cells = out
    _settle_ids(student, taken={str(c.get("id")) for c in cells if c.get("id")})
    return student


def _settle_ids(notebook: NotebookNode, taken: set[str]) -> None:
    """Cell ids exist from nbformat 4.5 on and must be unique: ours give way to the student's."""
    for cell in notebook.cells:
        if FEEDBACK_TAG not in cell.get("metadata", {}).get("tags", []):
            continue
        if notebook.get("nbformat_minor", 0) < 5:
            cell.pop("id", None)
            continue
        while cell.id in taken:
            cell.id = cell.id[:60] + "-" + str(len(taken) % 1000)
        taken.add(cell.id)


def _read(data: bytes) -> NotebookNode:
    """The student's notebook, or an empty one when it is not a valid nbformat 4 notebook."""
    try:
        text = data.decode("utf-8", errors="replace")
        notebook = nbformat.convert(nbformat.reader.reads(text), 4)  # type: ignore[no-untyped-call]
        if _valid(notebook):
            for cell in notebook.cells:
                cell.setdefault("metadata", {})
            return notebook  # type: ignore[no-any-return]
    except Exception:  # nbformat's readers raise anything on odd input (AssertionError too)
        pass
    return _fresh()


def _valid(notebook: Any) -> bool:
    """Whether nbformat's own schema accepts it as version 4 (4.0, "4" or True are not 4)."""
    version, minor = notebook.get("nbformat"), notebook.get("nbformat_minor")
    if type(version) is not int or version != 4 or type(minor) is not int or not 0 <= minor < 100:
        return False
    try:
        with warnings.catch_warnings():  # its notes on the student's notebook are not ours to show
            warnings.simplefilter("ignore")
            nbformat.validate(notebook)
    except Exception:  # the validator asserts, recurses and raises its own errors
        return False
    return isinstance(notebook.get("cells"), list) and all(
        isinstance(c, dict) and isinstance(c.get("source", ""), str) for c in notebook.cells
    )


def _fresh() -> NotebookNode:
    return nbformat.v4.new_notebook()  # type: ignore[no-untyped-call,no-any-return]


def _function_cells(cells: list[NotebookNode]) -> dict[str, int]:
    """Graded-function name -> index of the last code cell defining it at top level."""
    found: dict[str, int] = {}
    for index, cell in enumerate(cells):
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            text = source if isinstance(source, str) else "".join(map(str, source))
            for name in _DEF.findall(text):
                found[name] = index
    return found


def _markdown_cell(
    source: str, name: str, attachments: dict[str, Any] | None = None
) -> NotebookNode:
    """A feedback cell; its id is derived from what it is about, so the output is reproducible."""
    cell = nbformat.v4.new_markdown_cell(source)  # type: ignore[no-untyped-call]
    cell.id = f"{FEEDBACK_TAG}-{_ID_UNSAFE.sub('-', name)}"[:64]
    cell.metadata = {"tags": [FEEDBACK_TAG], "editable": False}
    if attachments:
        cell.attachments = attachments
    return cell  # type: ignore[no-any-return]


def _summary_cell(result: GradeResult, unplaced: list[str]) -> NotebookNode:
    score = f"{fmt_points(result.score)} / {fmt_points(result.max_score)}"
    lines = [
        f"# Feedback: {score}",
        "",
        f"{outcome_counts(result.checks)}. Each graded function's feedback is in"
        " the cell right after its definition; your own cells are unchanged.",
    ]
    if result.ungradable is not None:
        reason = markdown.text_span(result.ungradable)
        lines += ["", f"**This notebook could not be graded:** {reason}"]
    if unplaced:
        names = ", ".join(markdown.code(name) for name in unplaced)
        lines += ["", f"Not found as a top-level `def` in any cell: {names} (feedback at the end)."]
    lines += ["", _table(result.checks)]
    if result.problems:
        lines += ["", "**Notebook problems**", ""]
        lines += [
            f"- {markdown.text_span(problem_line(p))}" for p in result.problems[:MAX_PROBLEMS]
        ]
    lines += ["", markdown.text_span(protections_line(result))]
    return _markdown_cell("\n".join(lines), "summary")


def _table(checks: list[CheckResult] | tuple[CheckResult, ...]) -> str:
    rows = ["| | Check | Points |", "|---|---|--:|"]
    for check in checks:
        points = f"{fmt_points(check.points)} / {fmt_points(check.max_points)}"
        rows.append(f"| {_MARK[check.outcome]} | {markdown.code(check.id)} | {points} |")
    return "\n".join(rows)


def _function_cell(name: str, checks: list[CheckResult]) -> NotebookNode:
    earned = fmt_points(sum(c.points for c in checks))
    total = fmt_points(sum(c.max_points for c in checks))
    lines = [f"### Feedback on {markdown.code(name)}: {earned} / {total}", "", _table(checks)]
    for check in checks:
        lines += ["", *_check_lines(check)]
    attachments: dict[str, Any] = {}
    plot = _plot(checks)
    if plot is not None:
        attachments["steps.svg"] = {"image/svg+xml": plot}
        lines += ["", "Hidden state per step, expected (solid) and yours (dashed):", ""]
        lines.append("![per-step plot](attachment:steps.svg)")
    return _markdown_cell("\n".join(lines), name, attachments)


def _check_lines(check: CheckResult) -> list[str]:
    message = markdown.text_span(check.message)
    head = f"- {_MARK[check.outcome]} {markdown.code(check.id)}: {message}"
    if check.outcome is Outcome.PASSED:
        return [head]
    items = [f"  - **{markdown.plain(k)}**: {markdown.plain(v)}" for k, v in detail_items(check)]
    return [head, *items]


def _plot(checks: list[CheckResult]) -> str | None:
    """The first failing check's trajectory as base64 SVG (attachments hold base64)."""
    for check in checks:
        if check.outcome is not Outcome.PASSED and "trajectory" in check.details:
            uri = trajectory_uri(check.details["trajectory"], check.details.get("step"))
            if uri is not None and uri.startswith(_SVG_PREFIX):
                return uri[len(_SVG_PREFIX) :]
    return None
