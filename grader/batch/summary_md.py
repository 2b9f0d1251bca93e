"""summary.md from the summary.json document: the class at a glance, for people.

Student text in it is inert: Markdown and HTML characters escaped inside code spans, each cell cut
to MAX_CELL characters, so names and messages make no links, images, tags or autolinks.
"""

from __future__ import annotations

import re
from typing import Any

from grader.report.inert import inert, md_code

MAX_CELL = 300  # characters of student text kept in a Markdown table cell
_FIGURE = re.compile(r"[0-9][0-9.%/ -]{0,40}")  # "50%", "0-10", "8.5/10": nothing Markdown reads
_WORDS = re.compile(r"[A-Za-z0-9 ()]{1,80}")  # "Jane Doe (3000001)", "ungradable": inert as is


def to_markdown(summary: dict[str, Any]) -> str:
    """summary.md from the summary.json document."""
    parts = summary.get("assignments", [])
    mixed = len(parts) > 1  # then each assignment's figures, over its own students
    lines = _overview(summary)
    lines += [line for part in parts for line in _part(part)] if mixed else _check_table(summary)
    ids = frozenset(c["id"] for c in summary["checks"])
    lines += _section(
        "Most common failures",
        ["check", "students", "message"],
        [[f["check"], f["count"], f["message"]] for f in summary["common_failures"]],
        plain=ids,
    )
    lines += [] if mixed else _misconceptions(summary)
    lines += _section(
        "Errored, timed out or ungradable",
        ["student", "outcome", "reason"],
        [
            [who(e["student"], e.get("name", "")), e["outcome"], e["reason"]]
            for e in summary["errored"]
        ],
    )
    lines += _section(
        "Files that could not be read or were skipped",
        ["path", "reason"],
        [[p["path"], p["reason"]] for p in summary["source_problems"]],
    )
    if others := summary.get("other_assignment", []):  # a section only when it happened
        lines += _section(
            "Graded by another assignment than --assignment (their notebook's metadata names it)",
            ["student", "assignment", "file"],
            [[who(o["student"], o.get("name", "")), o["assignment"], o["file"]] for o in others],
        )
    lines += _section(
        "Other notebooks set aside (not graded)",
        ["student", "file"],
        [[who(s["student"], s.get("name", "")), s["file"]] for s in summary["set_aside"]],
    )
    if len(summary["case_sets"]) > 1:
        lines += ["", "Warning: these grades come from different case sets (grading seeds)."]
    return "\n".join(lines) + "\n"


def _overview(summary: dict[str, Any]) -> list[str]:
    score = summary["score"]
    return [
        "# Batch summary",
        "",
        f"{summary['students']} students, {summary['late']} late. Outcomes: "
        + ", ".join(f"{k} {v}" for k, v in summary["outcomes"].items()),
        "",
        f"Score out of {score['max_score']:g}: mean {score['mean']:g}, median {score['median']:g}"
        f", min {score['min']:g}, max {score['max']:g}, standard deviation {score['stdev']:g}.",
        "",
        "![score histogram](score_histogram.png) ![pass rates](check_pass_rates.png)",
        "",
        *_table(
            ["score", "students"],
            [[f"{b['from']:g}-{b['to']:g}", b["count"]] for b in score["histogram"]],
            ours=True,
        ),
    ]


def _check_table(summary: dict[str, Any], level: str = "##") -> list[str]:
    rows = [
        [c["id"], c["passed"], f"{c['pass_rate']:.0%}", f"{c['mean_points']:g}/{c['max_points']:g}"]
        for c in summary["checks"]
    ]
    header = ["check", "passed", "pass rate", "mean points"]
    return ["", f"{level} Checks", "", *_table(header, rows, ours=True)]


def _misconceptions(
    summary: dict[str, Any], title: str = "across the class", level: str = "##"
) -> list[str]:
    return _section(
        f"Misconceptions {title}",
        ["misconception", "students", "checks", "who"],
        [
            [m["misconception"], m["students"], ", ".join(m["checks"]), "; ".join(m["who"])]
            for m in summary.get("misconceptions", [])
        ],
        level=level,
    )


def _part(part: dict[str, Any]) -> list[str]:
    """One assignment of a mixed class: its students' scores, checks and misconceptions."""
    name, score = part["assignment"], part["score"]
    return [
        "",
        f"## Assignment {name}",
        "",
        f"{part['students']} students. Score out of {score['max_score']:g}: mean"
        f" {score['mean']:g}, median {score['median']:g}, min {score['min']:g}, max"
        f" {score['max']:g}, standard deviation {score['stdev']:g}.",
        *_check_table(part, "###"),
        *_misconceptions(part, f"in {name}", "###"),
    ]


def _section(
    title: str,
    header: list[str],
    rows: list[list[Any]],
    *,
    plain: frozenset[str] = frozenset(),
    level: str = "##",
) -> list[str]:
    """A titled table (`plain`: the grader's own texts among its cells, the check ids)."""
    table = _table(header, rows, plain=plain) if rows else ["None."]
    return ["", f"{level} {title}", "", *table]


def _table(
    header: list[str],
    rows: list[list[Any]],
    *,
    ours: bool = False,
    plain: frozenset[str] = frozenset(),
) -> list[str]:
    """A table; `ours` when every cell is the grader's own text (ids, numbers), not a student's."""

    def cell(value: Any) -> str:
        return _own_cell(value) if ours or value in plain else _cell(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]


def _own_cell(value: Any) -> str:
    return str(value).replace("|", "\\|")


def _cell(value: Any) -> str:
    """Markdown table cells: numbers as they are, text inert in a code span (no live links)."""
    plain = _FIGURE.fullmatch(str(value)) or _WORDS.fullmatch(str(value))
    if isinstance(value, int | float) or plain:
        return str(value)
    return md_code(inert(" ".join(str(value).split()), MAX_CELL, 1), table=True)


def who(student: str, name: str) -> str:
    """A student as people know them: the name, with the id beside it when they differ."""
    return student if not name or name == student else f"{name} ({student})"
