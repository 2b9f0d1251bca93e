"""The terminal report a student reads, plus the plain-text pieces the other writers reuse.

Everything taken from the result may be student-controlled (messages carry their exception
text, output is whatever they printed), so it goes through `inert` before it reaches a terminal:
bounded, control characters and bidi overrides visible, and no GitHub Actions workflow command
(`::error::…`, `##[error]…`) in any line, since CI echoes the report into its log.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from grader.report.inert import inert, neutralise
from grader.results import CheckResult, GradeResult, Outcome, Problem, bound

MESSAGE_CHARS = 2_000  # longest message kept: a student's exception text can be huge
VALUE_CHARS = 300  # longest rendering of one detail value
LABEL_CHARS = 60  # longest detail key shown
MAX_DETAILS = 12  # detail entries shown per check
MAX_PROBLEMS = 50  # notebook problems listed
MESSAGE_LINES = 40  # lines kept of a message
OUTPUT_CHARS = 4_000  # captured output shown in the terminal (the file keeps more)
OUTPUT_LINES = 100  # lines of captured output shown
PLOT_ONLY = frozenset({"trajectory"})  # detail keys only plots show (too long for text)

MARKS: dict[Outcome, str] = {
    Outcome.PASSED: "PASS",
    Outcome.FAILED: "FAIL",
    Outcome.ERROR: "ERROR",
    Outcome.TIMEOUT: "TIMEOUT",
}
_COLORS: dict[Outcome, str] = {
    Outcome.PASSED: "32",  # green
    Outcome.FAILED: "31",  # red
    Outcome.ERROR: "35",  # magenta: could not run, not a wrong answer
    Outcome.TIMEOUT: "33",  # yellow
}
Paint = Callable[[str, str], str]  # (ANSI SGR code, text) -> text, coloured or not
_PLURALS = {Outcome.ERROR: "errors", Outcome.TIMEOUT: "timeouts"}


# --- shared plain-text helpers -------------------------------------------------------------


def truncate(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, saying how much was dropped."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit:,} more characters]"


def fmt_points(value: float) -> str:
    """Points as people write them: 30, 22.5, 17.14."""
    if not math.isfinite(value):
        return str(value)
    return f"{value:.2f}".rstrip("0").rstrip(".")


def fmt_value(value: Any) -> str:
    """A compact, bounded, one-line rendering of a detail value (floats may be nan or inf)."""
    return truncate(_fmt(value), VALUE_CHARS)


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def detail_items(check: CheckResult) -> list[tuple[str, str]]:
    """(label, value) pairs worth showing, in the check's own order, the hint last."""
    items = [
        (truncate(str(key), LABEL_CHARS).replace("_", " "), fmt_value(value))
        for key, value in bound(check.details).items()  # a result built by hand may be huge
        if key != "hint" and key not in PLOT_ONLY and value is not None
    ][:MAX_DETAILS]
    hint = check.details.get("hint")
    if hint:
        items.append(("hint", fmt_value(hint)))
    return items


def problem_line(problem: Problem) -> str:
    """`code cell 3, line 2: error: message` (where known), bounded."""
    where = []
    if problem.cell is not None:
        where.append(f"code cell {problem.cell}")
    if problem.line is not None:
        where.append(f"line {problem.line}")
    prefix = ", ".join(where)
    body = f"{problem.severity}: {truncate(problem.message, MESSAGE_CHARS)}"
    return f"{prefix}: {body}" if prefix else body


def outcome_counts(checks: Iterable[CheckResult]) -> str:
    """`7 passed, 1 failed, 1 error, 1 timeout`, leaving out zeros."""
    counts = {outcome: 0 for outcome in Outcome}
    for check in checks:
        counts[check.outcome] += 1
    parts = [
        f"{n} {_PLURALS.get(outcome, outcome.value) if n > 1 else outcome.value}"
        for outcome, n in counts.items()
        if n
    ]
    return ", ".join(parts) or "no checks"


def protections_line(result: GradeResult) -> str:
    """Which sandbox protections were active, and which were asked for but missing."""
    env = result.environment
    line = "Protections: " + (", ".join(env.protections) or "none")
    if env.missing_protections:
        line += " (missing: " + "; ".join(env.missing_protections) + ")"
    return line


def environment_line(result: GradeResult) -> str:
    """Device, torch and case set: what a rerun needs to match."""
    env = result.environment
    return (
        f"Device {env.device}, torch {env.torch_version}, python {env.python_version}, "
        f"{env.case_set} cases ({env.case_set_id}), grader {env.grader_version}"
    )


def defang(line: str) -> str:
    """Break workflow commands in `line` (see `inert.neutralise`)."""
    return neutralise(line)


# --- the terminal report -------------------------------------------------------------------


def render(result: GradeResult, *, color: bool = False) -> str:
    """The student's terminal view of `result`; ANSI colours only when `color` is true."""
    paint = _painter(color)
    graded_as = result.environment.assignment
    header = f"rnn-grader report for {inert(result.submission.path, 500, 1)}"
    header += f" (assignment {inert(graded_as, 100, 1)})" if graded_as else ""
    lines = [header, _score_line(result)]
    if result.ungradable is not None:
        reason = inert(result.ungradable, MESSAGE_CHARS, MESSAGE_LINES)
        lines += ["", paint("1;31", f"UNGRADABLE: {reason}")]
    lines.append("")
    lines += _check_lines(result.checks, paint)
    lines += _problem_lines(result.problems)
    lines += ["", inert(protections_line(result)), inert(environment_line(result))]
    lines += _output_lines(result.output)
    return neutralise("\n".join(lines)) + "\n"  # again: joining must not make a command


def _painter(color: bool) -> Paint:
    def paint(code: str, text: str) -> str:
        """`text` in ANSI colour `code` when colours are on."""
        return f"\x1b[{code}m{text}\x1b[0m" if color else text

    return paint


def _score_line(result: GradeResult) -> str:
    score = f"Score: {fmt_points(result.score)} / {fmt_points(result.max_score)}"
    return f"{score}  ({outcome_counts(result.checks)})"


def _check_lines(checks: tuple[CheckResult, ...], paint: Paint) -> list[str]:
    id_width = max((len(c.id) for c in checks), default=0)
    pts = [f"{fmt_points(c.points)}/{fmt_points(c.max_points)}" for c in checks]
    pts_width = max((len(p) for p in pts), default=0)
    lines: list[str] = []
    for check, points in zip(checks, pts, strict=True):
        mark = paint(_COLORS[check.outcome], f"{MARKS[check.outcome]:<7}")
        first, *rest = inert(check.message, MESSAGE_CHARS, MESSAGE_LINES).split("\n")
        lines.append(f"  {mark} {points:>{pts_width}}  {inert(check.id):<{id_width}}  {first}")
        indent = " " * (pts_width + 12)  # under the id column
        lines += [f"{indent}{more}" for more in rest]
        for label, value in detail_items(check):
            first, *rest = inert(value).split("\n")
            lines += [f"{indent}{inert(label)}: {first}", *(f"{indent}  {more}" for more in rest)]
    return lines


def _problem_lines(problems: tuple[Problem, ...]) -> list[str]:
    if not problems:
        return []
    lines = ["", "Notebook problems:"]
    lines += [f"  - {inert(problem_line(p), MESSAGE_CHARS, 5)}" for p in problems[:MAX_PROBLEMS]]
    if len(problems) > MAX_PROBLEMS:
        lines.append(f"  ... and {len(problems) - MAX_PROBLEMS} more")
    return lines


def _output_lines(output: str) -> list[str]:
    if not output:
        return []
    shown = inert(output, OUTPUT_CHARS, OUTPUT_LINES).rstrip("\n")
    title = "Captured output"
    if len(output) > OUTPUT_CHARS or output.count("\n") > OUTPUT_LINES:
        title += f" (cut: {len(output):,} characters, {output.count(chr(10)) + 1:,} lines in all)"
    return ["", f"{title}:"] + [f"  | {line}" for line in shown.split("\n")]
