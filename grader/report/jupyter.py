"""An HTML fragment for a Jupyter output cell: the self-check's table of checks.

Jupyter shows outputs inside its own page, so this is a fragment, not a document, styled with
inline `style` attributes only: a <style> element would restyle the whole page, and Jupyter strips
it from untrusted notebooks. Student text goes through `esc`, as in the HTML report. Not in
`RENDERERS`: it is not a file format, `grader.selfcheck` shows it.
"""

from __future__ import annotations

from typing import Any

from grader.report.html import esc
from grader.report.plot import trajectory_uri
from grader.report.text import (
    MAX_PROBLEMS,
    MESSAGE_CHARS,
    OUTPUT_CHARS,
    OUTPUT_LINES,
    detail_items,
    environment_line,
    fmt_points,
    outcome_counts,
    problem_line,
)
from grader.results import CheckResult, GradeResult, Outcome

_BADGES: dict[Outcome, tuple[str, str, str]] = {  # label, text colour, background
    Outcome.PASSED: ("✔ passed", "#1a7f37", "#dafbe1"),
    Outcome.FAILED: ("✘ failed", "#cf222e", "#ffebe9"),
    Outcome.ERROR: ("⚠ error", "#8250df", "#fbefff"),
    Outcome.TIMEOUT: ("⏱ timeout", "#9a6700", "#fff8c5"),
}
_CELL = "border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top"
_PUBLIC_NOTE = (
    "Public cases only: grading also runs hidden cases of other sizes and dtypes, so a full"
    " score here does not guarantee full marks."
)


def render(result: GradeResult) -> str:
    """`result` as an HTML fragment for a notebook output."""
    parts = [_heading(result), _ungradable(result), _table(result.checks), _plot(result.checks)]
    parts += [_problems(result), _output(result.output), _footer(result)]
    body = "\n".join(part for part in parts if part)
    return f'<div class="rnn-grader-selfcheck" style="font-family:sans-serif">\n{body}\n</div>'


def _heading(result: GradeResult) -> str:
    score = f"{fmt_points(result.score)} / {fmt_points(result.max_score)}"
    return (
        f'<p style="font-size:1.3em;margin:4px 0"><strong>Self-check: {esc(score)}</strong>'
        f" ({esc(outcome_counts(result.checks))})</p>"
    )


def _ungradable(result: GradeResult) -> str:
    if result.ungradable is None:
        return ""
    reason = esc(result.ungradable, MESSAGE_CHARS)
    return f'<p style="color:#cf222e"><strong>Could not grade the notebook:</strong> {reason}</p>'


def _table(checks: tuple[CheckResult, ...]) -> str:
    head = "".join(f'<th style="{_CELL}">{name}</th>' for name in ("Check", "Result", "Points"))
    rows = [f'<tr>{head}<th style="{_CELL}">What to look at</th></tr>']
    rows += [_row(check) for check in checks]
    return '<table style="border-collapse:collapse;margin:6px 0">' + "\n".join(rows) + "</table>"


def _row(check: CheckResult) -> str:
    label, color, background = _BADGES[check.outcome]
    badge = (
        f'<span style="color:{color};background:{background};font-weight:600;'
        f'padding:1px 5px;border-radius:4px;white-space:nowrap">{label}</span>'
    )
    points = f"{fmt_points(check.points)} / {fmt_points(check.max_points)}"
    message = esc(check.message, MESSAGE_CHARS).replace("\n", "<br>")
    return (
        f'<tr><td style="{_CELL}"><code>{esc(check.id)}</code></td>'
        f'<td style="{_CELL}">{badge}</td>'
        f'<td style="{_CELL};text-align:right;white-space:nowrap">{esc(points)}</td>'
        f'<td style="{_CELL}">{message}{_details(check)}</td></tr>'
    )


def _details(check: CheckResult) -> str:
    if check.outcome is Outcome.PASSED:
        return ""
    items = [
        f"<li><em>{esc(label)}:</em> {esc(value)}</li>" for label, value in detail_items(check)
    ]
    return f'<ul style="margin:4px 0;padding-left:18px">{"".join(items)}</ul>' if items else ""


def _plot(checks: tuple[CheckResult, ...]) -> str:
    """The first failing value check's trajectory plot (public cases only carry one)."""
    check = next((c for c in checks if c.outcome is Outcome.FAILED and _trajectory(c)), None)
    if check is None:
        return ""
    uri = trajectory_uri(_trajectory(check), check.details.get("step"))
    if uri is None:
        return ""
    case = esc(str(check.details.get("case", "")))
    caption = (
        f"<code>{esc(check.id)}</code>, {case}: your hidden states (dashed) against the"
        " reference (solid), batch row 0"
    )
    alt = esc(f"hidden-state trajectories for {check.id}")
    image = f'<img src="{uri}" alt="{alt}" style="max-width:100%">'
    return f'<figure style="margin:6px 0">{image}<figcaption>{caption}</figcaption></figure>'


def _trajectory(check: CheckResult) -> dict[str, Any] | None:
    trajectory: Any = check.details.get("trajectory")
    return trajectory if isinstance(trajectory, dict) else None


def _problems(result: GradeResult) -> str:
    if not result.problems:
        return ""
    items = [f"<li>{esc(problem_line(p))}</li>" for p in result.problems[:MAX_PROBLEMS]]
    return "<p><strong>Notebook problems</strong></p><ul>" + "".join(items) + "</ul>"


def _output(output: str) -> str:
    if not output:
        return ""
    shown = esc(output, OUTPUT_CHARS, OUTPUT_LINES)
    return f"<details><summary>What your code printed</summary><pre>{shown}</pre></details>"


def _footer(result: GradeResult) -> str:
    note = _PUBLIC_NOTE + " " if result.environment.case_set == "public" else ""
    return f'<p style="color:#656d76;font-size:0.85em">{esc(note + environment_line(result))}</p>'
