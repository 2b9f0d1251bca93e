"""The terminal report a student reads, plus the plain-text pieces the other writers reuse.

Everything taken from the result may be student-controlled (messages carry their exception
text, output is whatever they printed), so it is passed through `clean` before it reaches a
terminal: control characters and bidi overrides become visible escapes, and no line of the
report can start with a GitHub Actions workflow command (`::error::…`), since CI echoes it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from grader.results import CheckResult, GradeResult, Outcome, Problem

MESSAGE_CHARS = 2_000  # longest message kept: a student's exception text can be huge
VALUE_CHARS = 300  # longest rendering of one detail value
LABEL_CHARS = 60  # longest detail key shown
MAX_DETAILS = 12  # detail entries shown per check
MAX_PROBLEMS = 50  # notebook problems listed
OUTPUT_CHARS = 4_000  # captured output shown in the terminal (the file keeps more)
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
# Terminal-reordering characters (the "Trojan Source" set) that could disguise a message.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


# --- shared plain-text helpers -------------------------------------------------------------


def clean(text: str) -> str:
    """Make `text` inert in a terminal: escape control and bidi characters, keep \\n and \\t."""
    text = text.replace("\r\n", "\n")
    if text.replace("\n", "").replace("\t", "").isprintable():  # bidi marks are not printable
        return text
    return "".join(_escape_char(ch) for ch in text)


def _escape_char(ch: str) -> str:
    if ch in "\n\t" or (ch.isprintable() and ch not in _BIDI):
        return ch
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


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
        for key, value in check.details.items()
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
    """Break a leading `::` so CI runners do not read the line as a workflow command."""
    body = line.lstrip()
    if not body.startswith("::"):
        return line
    return line[: len(line) - len(body)] + ": :" + body[2:]


# --- the terminal report -------------------------------------------------------------------


def render(result: GradeResult, *, color: bool = False) -> str:
    """The student's terminal view of `result`; ANSI colours only when `color` is true."""
    paint = _painter(color)
    lines = [f"rnn-grader report for {clean(result.submission.path)}", _score_line(result)]
    if result.ungradable is not None:
        reason = clean(truncate(result.ungradable, MESSAGE_CHARS))
        lines += ["", paint("1;31", f"UNGRADABLE: {reason}")]
    lines.append("")
    lines += _check_lines(result.checks, paint)
    lines += _problem_lines(result.problems)
    lines += ["", protections_line(result), environment_line(result)]
    lines += _output_lines(result.output)
    return "\n".join(defang(line) for line in "\n".join(lines).split("\n")) + "\n"


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
        first, *rest = clean(truncate(check.message, MESSAGE_CHARS)).split("\n")
        lines.append(f"  {mark} {points:>{pts_width}}  {clean(check.id):<{id_width}}  {first}")
        indent = " " * (pts_width + 12)  # under the id column
        lines += [f"{indent}{more}" for more in rest]
        lines += [f"{indent}{clean(label)}: {clean(value)}" for label, value in detail_items(check)]
    return lines


def _problem_lines(problems: tuple[Problem, ...]) -> list[str]:
    if not problems:
        return []
    lines = ["", "Notebook problems:"]
    lines += [f"  - {clean(problem_line(p))}" for p in problems[:MAX_PROBLEMS]]
    if len(problems) > MAX_PROBLEMS:
        lines.append(f"  ... and {len(problems) - MAX_PROBLEMS} more")
    return lines


def _output_lines(output: str) -> list[str]:
    if not output:
        return []
    shown = output if len(output) <= OUTPUT_CHARS else output[:OUTPUT_CHARS]
    title = "Captured output"
    if len(shown) < len(output):
        title += f" (first {len(shown):,} of {len(output):,} characters)"
    return ["", f"{title}:"] + [f"  | {line}" for line in clean(shown).rstrip("\n").split("\n")]
