"""GitHub-flavoured Markdown for a CI step summary (FORMATS.md d.5).

Student text is escaped twice over: Markdown punctuation gets a backslash (so it cannot open
links, images or tables) and `<`, `>`, `&` become entities (so it cannot inject HTML). Every
piece is bounded so the summary stays far below GitHub's 1 MiB per-step limit.
"""

from __future__ import annotations

import html
import re

from grader.report.text import (
    MAX_PROBLEMS,
    MESSAGE_CHARS,
    clean,
    defang,
    detail_items,
    fmt_points,
    outcome_counts,
    problem_line,
    protections_line,
    truncate,
)
from grader.results import CheckResult, GradeResult, Outcome

OUTPUT_CHARS = 60_000  # captured output kept; escaping at most sextuples it
CELL_CHARS = 500  # message shown in a table cell; the full one is in the details below
EMOJI: dict[Outcome, str] = {
    Outcome.PASSED: "✅",
    Outcome.FAILED: "❌",
    Outcome.ERROR: "💥",
    Outcome.TIMEOUT: "⏱️",
}
# Inline markup characters; block markers (-, +, 1.) need no escape since student text never
# starts a line here: it follows a table pipe or a "- **label**:" and newlines become <br>.
_NOT_ID = re.compile(r"[^\w.\-]")
_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#!|~$])")


def escape(text: str) -> str:
    """`text` as literal inline Markdown: one line, no markup, no HTML."""
    text = _PUNCTUATION.sub(r"\\\1", clean(text))
    return html.escape(text, quote=False).replace("\n", "<br>")


def code(check_id: str) -> str:
    """A check id as a code span; ids are catalog names, anything else becomes `?`."""
    return "`" + _NOT_ID.sub("?", check_id) + "`"


def render(result: GradeResult) -> str:
    """`result` as a Markdown step summary, ending in a newline."""
    parts = [_heading(result)]
    if result.ungradable is not None:
        reason = escape(truncate(result.ungradable, MESSAGE_CHARS))
        parts.append(f"> [!CAUTION]\n> **Ungradable:** {reason}")
    parts.append(_table(result.checks))
    parts += [_check_details(c) for c in result.checks if _worth_details(c)]
    if result.problems:
        parts.append(_problems(result))
    parts.append(escape(protections_line(result)))
    if result.output:
        parts.append(_output(result.output))
    text = "\n\n".join(parts)
    return "\n".join(defang(line) for line in text.split("\n")) + "\n"


def _heading(result: GradeResult) -> str:
    mark = "✅" if result.all_passed else "❌"
    score = f"{fmt_points(result.score)} / {fmt_points(result.max_score)}"
    counts = escape(outcome_counts(result.checks))
    return f"## {mark} rnn-grader: {score}\n\n{escape(result.submission.path)}: {counts}"


def _table(checks: tuple[CheckResult, ...]) -> str:
    rows = ["| | Check | Points | Message |", "|---|---|--:|---|"]
    for check in checks:
        points = f"{fmt_points(check.points)} / {fmt_points(check.max_points)}"
        message = escape(truncate(check.message, CELL_CHARS))
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
    lines.append(f"- **message**: {escape(truncate(check.message, MESSAGE_CHARS))}")
    lines += [f"- **{escape(label)}**: {escape(value)}" for label, value in detail_items(check)]
    return "\n".join([*lines, "", "</details>"])


def _problems(result: GradeResult) -> str:
    lines = ["**Notebook problems**", ""]
    lines += [f"- {escape(problem_line(p))}" for p in result.problems[:MAX_PROBLEMS]]
    if len(result.problems) > MAX_PROBLEMS:
        lines.append(f"- … and {len(result.problems) - MAX_PROBLEMS} more")
    return "\n".join(lines)


def _output(output: str) -> str:
    shown = html.escape(clean(truncate(output, OUTPUT_CHARS)), quote=False)
    # A <pre> HTML block ends only at "</pre>", which escaping makes impossible inside it.
    return "\n".join(
        ["<details><summary>Captured output</summary>", "", f"<pre>{shown}</pre>", "</details>"]
    )
