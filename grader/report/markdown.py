"""GitHub-flavoured Markdown for a CI step summary (FORMATS.md d.5).

Every piece of text from the result (messages, details, paths, problems) is made inert and put in
a code span (`inert.md_code`): no escape stops GFM's autolinks, a code span does, and nothing in
it is a link, image, HTML, heading or table. Captured output goes in an HTML-escaped <pre>.
Every piece is bounded so the summary stays far below GitHub's 1 MiB per-step limit.
"""

from __future__ import annotations

import html
import re

from grader.report.inert import inert, md_code, neutralise
from grader.report.text import (
    MAX_PROBLEMS,
    MESSAGE_CHARS,
    MESSAGE_LINES,
    detail_items,
    fmt_points,
    outcome_counts,
    problem_line,
    protections_line,
)
from grader.results import CheckResult, GradeResult, Outcome

OUTPUT_CHARS = 20_000  # captured output kept; escaping at most sextuples it
OUTPUT_LINES = 200  # lines of captured output kept
CELL_CHARS = 500  # message shown in a table cell; the full one is in the details below
EMOJI: dict[Outcome, str] = {
    Outcome.PASSED: "✅",
    Outcome.FAILED: "❌",
    Outcome.ERROR: "💥",
    Outcome.TIMEOUT: "⏱️",
}
_NOT_ID = re.compile(r"[^\w.\-]")
# Detail labels and values that need no code span: no punctuation that Markdown could act on.
_PLAIN = re.compile(r"[A-Za-z0-9 ]{1,60}|-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?")


def text_span(text: str, limit: int = MESSAGE_CHARS, *, table: bool = False) -> str:
    """Text from the result, inert and bounded, as a code span."""
    return md_code(inert(text, limit, MESSAGE_LINES), table=table)


def code(check_id: str) -> str:
    """A check id as a code span; ids are catalog names, anything else becomes `?`."""
    return "`" + _NOT_ID.sub("?", check_id) + "`"


def render(result: GradeResult) -> str:
    """`result` as a Markdown step summary, ending in a newline."""
    parts = [_heading(result)]
    if result.ungradable is not None:
        parts.append(f"> [!CAUTION]\n> **Ungradable:** {text_span(result.ungradable)}")
    parts.append(_table(result.checks))
    parts += [_check_details(c) for c in result.checks if _worth_details(c)]
    if result.problems:
        parts.append(_problems(result))
    parts.append(text_span(protections_line(result)))
    if result.output:
        parts.append(_output(result.output))
    return neutralise("\n\n".join(parts)) + "\n"


def _heading(result: GradeResult) -> str:
    mark = "✅" if result.all_passed else "❌"
    score = f"{fmt_points(result.score)} / {fmt_points(result.max_score)}"
    counts = outcome_counts(result.checks)
    path = text_span(result.submission.path, 500)
    return f"## {mark} rnn-grader: {score}\n\n{path}: {counts}"


def _table(checks: tuple[CheckResult, ...]) -> str:
    rows = ["| | Check | Points | Message |", "|---|---|--:|---|"]
    for check in checks:
        points = f"{fmt_points(check.points)} / {fmt_points(check.max_points)}"
        message = text_span(check.message, CELL_CHARS, table=True)
        rows.append(f"| {EMOJI[check.outcome]} | {code(check.id)} | {points} | {message} |")
    return "\n".join(rows)


def _worth_details(check: CheckResult) -> bool:
    # The table already holds a short message in full; a block would only repeat it.
    if check.outcome is Outcome.PASSED:
        return False
    return bool(check.details) or len(check.message) > CELL_CHARS


def _check_details(check: CheckResult) -> str:
    points = f"{fmt_points(check.points)} / {fmt_points(check.max_points)}"
    name = _NOT_ID.sub("?", check.id)
    summary = f"{EMOJI[check.outcome]} <code>{name}</code>: {check.outcome.value}, {points}"
    lines = [f"<details><summary>{summary}</summary>", ""]
    lines.append(f"- **message**: {text_span(check.message)}")
    lines += [f"- **{plain(label)}**: {plain(value)}" for label, value in detail_items(check)]
    return "\n".join([*lines, "", "</details>"])


def plain(text: str) -> str:
    """Short plain words and numbers as they are; anything else as an inert code span."""
    return text if _PLAIN.fullmatch(text) else text_span(text)


def _problems(result: GradeResult) -> str:
    lines = ["**Notebook problems**", ""]
    lines += [f"- {text_span(problem_line(p))}" for p in result.problems[:MAX_PROBLEMS]]
    if len(result.problems) > MAX_PROBLEMS:
        lines.append(f"- … and {len(result.problems) - MAX_PROBLEMS} more")
    return "\n".join(lines)


def _output(output: str) -> str:
    shown = html.escape(inert(output, OUTPUT_CHARS, OUTPUT_LINES), quote=False)
    # A <pre> HTML block ends only at "</pre>", which escaping makes impossible inside it.
    return "\n".join(
        ["<details><summary>Captured output</summary>", "", f"<pre>{shown}</pre>", "</details>"]
    )
