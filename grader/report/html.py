"""A self-contained HTML feedback page: inline CSS, no scripts, no network assets.

Every piece of text from the result goes through `esc`: `inert` (bounded, control characters
visible, no workflow commands), then `html.escape`. The first failing value check that carries a
`trajectory` (public cases only) gets a plot of the student's hidden states against the
reference, an SVG in a data: URI.
"""

from __future__ import annotations

import html
from typing import Any

from grader.report.inert import TEXT_CHARS, TEXT_LINES, inert
from grader.report.plot import MAX_STEPS, trajectory_uri
from grader.report.text import (
    MAX_PROBLEMS,
    MESSAGE_CHARS,
    detail_items,
    fmt_points,
    fmt_value,
    outcome_counts,
    problem_line,
    protections_line,
)
from grader.results import CheckResult, GradeResult, Outcome

OUTPUT_CHARS = 20_000  # captured output kept in the page
OUTPUT_LINES = 400  # lines of captured output kept
_SYMBOLS: dict[Outcome, str] = {
    Outcome.PASSED: "✔ passed",
    Outcome.FAILED: "✘ failed",
    Outcome.ERROR: "⚠ error",
    Outcome.TIMEOUT: "⏱ timeout",
}
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:60rem;
color:#1f2328;padding:0 1rem}
h1{font-size:1.5rem}.score{font-size:2.2rem;font-weight:700}
table{border-collapse:collapse;width:100%;margin:1rem 0}
th,td{border:1px solid #d0d7de;padding:.4rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.pts{text-align:right;white-space:nowrap}
.outcome{font-weight:600;white-space:nowrap;border-radius:4px;padding:.1rem .4rem}
.passed .outcome{color:#1a7f37;background:#dafbe1}.failed .outcome{color:#cf222e;background:#ffebe9}
.error .outcome{color:#8250df;background:#fbefff}
.timeout .outcome{color:#9a6700;background:#fff8c5}
code{font-family:ui-monospace,monospace}dl{margin:.3rem 0 0}
dt{font-weight:600;float:left;margin-right:.4rem}dd{margin:0 0 .2rem}
.hint{background:#ddf4ff;padding:.3rem .5rem;border-radius:4px}
.caution{background:#ffebe9;border:1px solid #cf222e;padding:.6rem;border-radius:6px}
pre{background:#f6f8fa;padding:.6rem;overflow:auto;max-height:30rem;white-space:pre-wrap}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #d0d7de}
.muted{color:#656d76;font-size:.9rem}table.steps{width:auto;font-size:.85rem}
"""


def esc(text: str, chars: int = TEXT_CHARS, lines: int = TEXT_LINES) -> str:
    """`text` inert, bounded and safe as HTML element content or a quoted attribute value."""
    return html.escape(inert(text, chars, lines), quote=True)


def render(result: GradeResult) -> str:
    """`result` as one self-contained HTML document, ending in a newline."""
    body = [_heading(result)]
    if result.ungradable is not None:
        reason = esc(result.ungradable, MESSAGE_CHARS)
        body.append(f'<p class="caution"><strong>Ungradable:</strong> {reason}</p>')
    body.append(_table(result.checks))
    body.append(_plot(result.checks))
    if result.problems:
        body.append(_problems(result))
    body.append(f'<p class="muted">{esc(protections_line(result))}</p>')
    if result.output:
        shown = esc(result.output, OUTPUT_CHARS, OUTPUT_LINES)
        body.append(f"<details><summary>Captured output</summary><pre>{shown}</pre></details>")
    title = f"rnn-grader: {fmt_points(result.score)} / {fmt_points(result.max_score)}"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">\n"
        f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(part for part in body if part)
        + "\n</body>\n</html>\n"
    )


def _heading(result: GradeResult) -> str:
    score = f"{fmt_points(result.score)} / {fmt_points(result.max_score)}"
    return (
        f'<h1>rnn-grader report</h1>\n<p class="score" id="score">{esc(score)}</p>\n'
        f"<p><code>{esc(result.submission.path)}</code>: {esc(outcome_counts(result.checks))}</p>"
    )


def _table(checks: tuple[CheckResult, ...]) -> str:
    rows = ["<table>", "<tr><th>Check</th><th>Outcome</th><th>Points</th><th>Details</th></tr>"]
    rows += [_row(check) for check in checks]
    return "\n".join([*rows, "</table>"])


def _row(check: CheckResult) -> str:
    points = f"{fmt_points(check.points)} / {fmt_points(check.max_points)}"
    message = esc(check.message, MESSAGE_CHARS)
    return (
        f'<tr class="{check.outcome.value}"><td><code>{esc(check.id)}</code></td>'
        f'<td><span class="outcome">{_SYMBOLS[check.outcome]}</span></td>'
        f'<td class="pts">{esc(points)}</td><td>{message}{_details(check)}</td></tr>'
    )


def _details(check: CheckResult) -> str:
    if check.outcome is Outcome.PASSED:
        return ""
    items = []
    for label, value in detail_items(check):
        css = ' class="hint"' if label == "hint" else ""
        items.append(f"<dt>{esc(label)}:</dt><dd{css}>{esc(value)}</dd>")
    return f"<dl>{''.join(items)}</dl>" if items else ""


def _plot(checks: tuple[CheckResult, ...]) -> str:
    check = _first_plottable(checks)
    if check is None:
        return ""
    uri = trajectory_uri(check.details["trajectory"], check.details.get("step"))
    if uri is None:
        return ""
    case = esc(str(check.details.get("case", "")))
    caption = (
        f"<code>{esc(check.id)}</code>, {case}: your hidden states (dashed) against the "
        "reference (solid), batch row 0, one colour per hidden unit"
    )
    alt = esc(f"hidden-state trajectories for {check.id}")
    figure = f'<figure><img src="{uri}" alt="{alt}"><figcaption>{caption}</figcaption></figure>'
    return "<h2>Where it diverges</h2>\n" + figure + _step_table(check.details.get("step_errors"))


def _step_table(errors: Any) -> str:
    if not isinstance(errors, list) or not errors:
        return ""
    shown = errors[: MAX_STEPS + 1]  # a bounded list's last item says how many more there were
    steps = "".join(f"<th>{t if t <= MAX_STEPS else '…'}</th>" for t in range(1, len(shown) + 1))
    values = "".join(f"<td>{esc(fmt_value(e))}</td>" for e in shown)
    return (
        '<table class="steps"><tr><th>step</th>' + steps + "</tr>"
        "<tr><th>max |error|</th>" + values + "</tr></table>"
    )


def _first_plottable(checks: tuple[CheckResult, ...]) -> CheckResult | None:
    for check in checks:
        trajectory: Any = check.details.get("trajectory")
        if check.outcome is Outcome.FAILED and isinstance(trajectory, dict):
            return check
    return None


def _problems(result: GradeResult) -> str:
    items = [f"<li>{esc(problem_line(p))}</li>" for p in result.problems[:MAX_PROBLEMS]]
    if len(result.problems) > MAX_PROBLEMS:
        items.append(f"<li>… and {len(result.problems) - MAX_PROBLEMS} more</li>")
    return "<h2>Notebook problems</h2>\n<ul>" + "".join(items) + "</ul>"
