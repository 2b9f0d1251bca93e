"""Class analytics from the gradebook's current rows: distribution, pass rates, common failures.

Pure functions over `gradebook.Row`s returning plain data (the JSON form) and Markdown; the charts
and summary.json are drawn from the same numbers, so they cannot disagree. A class that mixes
assignments gets, besides the whole class's figures, each assignment's scores, check pass rates
and misconceptions over its own students.
"""

from __future__ import annotations

import collections
import re
import statistics
from typing import Any

from grader.batch import groups
from grader.batch.gradebook import Row
from grader.batch.students import Roster
from grader.report.inert import inert, md_code

HISTOGRAM_BINS = 10  # score bins across 0..max_score
TOP_FAILURES = 10  # most common failure messages listed
MAX_NAMED = 20  # students named per misconception
MAX_CELL = 300  # characters of student text kept in a Markdown table cell
NOT_IMPLEMENTED = "not implemented"  # the one row that stands for every untouched stub
ERRORED = ("ungradable", "timeout", "error")  # submission outcomes listed by name
_FIGURE = re.compile(r"[0-9][0-9.%/ -]{0,40}")  # "50%", "0-10", "8.5/10": nothing Markdown reads
_WORDS = re.compile(r"[A-Za-z0-9 ()]{1,80}")  # "Jane Doe (3000001)", "ungradable": inert as is
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", re.IGNORECASE)
_STUB = re.compile(r"NotImplementedError|\bnot implemented yet\b", re.IGNORECASE)


def summarize(rows: list[Row], roster: Roster | None = None) -> dict[str, Any]:
    """The summary.json document."""
    scores = [row.score for row in rows]
    maximum = max((row.max_score for row in rows), default=100.0)
    return {
        "students": len(rows),
        "late": sum(row.late for row in rows),
        "case_sets": sorted({row.case_set_id for row in rows}),
        "outcomes": dict(sorted(collections.Counter(row.outcome for row in rows).items())),
        "score": _distribution(scores, maximum),
        "checks": _every_pass_rate(rows),
        "common_failures": common_failures(rows),
        "misconceptions": misconceptions(rows),
        "assignments": [_assignment(name, groups.of(rows, name)) for name in groups.present(rows)],
        "errored": [
            {
                "student": r.student,
                "name": r.name,
                "outcome": r.outcome,
                "reason": r.reason,
                "file": r.file,
            }
            for r in rows
            if r.outcome in ERRORED
        ],
        "source_problems": [{"path": p.path, "reason": p.reason} for p in _problems(roster)],
        "set_aside": [
            {"student": s.student, "name": s.name, "file": s.found.label}
            for s in _set_aside(roster)
        ],
    }


def _every_pass_rate(rows: list[Row]) -> list[dict[str, Any]]:
    """Each assignment's pass rates over its own students, the assignments in order; in a mixed
    class each id is named `assignment:id`, as in grades.csv (assignments may share ids)."""
    mixed = groups.is_mixed(rows)
    return [
        {**rate, "id": groups.label(name, rate["id"], mixed)}
        for name in groups.ordered(row.assignment for row in rows)
        for rate in pass_rates(groups.of(rows, name))
    ]


def _assignment(name: str, rows: list[Row]) -> dict[str, Any]:
    """One assignment's figures, over the students it graded."""
    return {
        "assignment": name,
        "students": len(rows),
        "score": _distribution([r.score for r in rows], max(r.max_score for r in rows)),
        "checks": pass_rates(rows),
        "misconceptions": misconceptions(rows),
    }


def who(student: str, name: str) -> str:
    """A student as people know them: the name, with the id beside it when they differ."""
    return student if not name or name == student else f"{name} ({student})"


def histogram(scores: list[float], maximum: float) -> list[dict[str, float]]:
    """Counts per bin [from, to); the last bin includes the maximum."""
    width = maximum / HISTOGRAM_BINS if maximum > 0 else 1.0
    counts = [0] * HISTOGRAM_BINS
    for score in scores:
        counts[min(int(score // width), HISTOGRAM_BINS - 1) if score > 0 else 0] += 1
    return [
        {"from": round(i * width, 4), "to": round((i + 1) * width, 4), "count": counts[i]}
        for i in range(HISTOGRAM_BINS)
    ]


def pass_rates(rows: list[Row]) -> list[dict[str, Any]]:
    """Per check of one assignment's `rows`: how many passed it and the mean points, in its
    spec's order."""
    rates = []
    for check_id in dict.fromkeys(check for row in rows for check in row.checks):
        results = [row.checks[check_id] for row in rows if check_id in row.checks]
        passed = sum(outcome == "passed" for _, outcome, _ in results)
        points = [p for p, _, _ in results]
        rates.append(
            {
                "id": check_id,
                "max_points": groups.max_points(rows, check_id),
                "passed": passed,
                "pass_rate": round(passed / len(rows), 4) if rows else 0.0,
                "mean_points": round(statistics.fmean(points), 4) if points else 0.0,
            }
        )
    return rates


def common_failures(rows: list[Row]) -> list[dict[str, Any]]:
    """Failure messages with numbers masked, most frequent first (ungradable files left out).

    Untouched stubs (NotImplementedError) are one row, "not implemented", counting students.
    """
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    examples: dict[tuple[str, str], str] = {}
    stubbed: dict[str, set[str]] = {}  # function -> students who left it a stub
    mixed = groups.is_mixed(rows)
    for row in rows:
        if row.outcome == "ungradable":
            continue  # its ten identical messages are listed once, under "errored"
        for check_id, (_, outcome, message) in row.checks.items():
            if outcome == "passed":
                continue
            if _STUB.search(message):
                stubbed.setdefault(check_id.split(".")[0], set()).add(row.student)
                continue
            check = groups.label(row.assignment, check_id, mixed)
            key = (check, _NUMBER.sub("#", message.splitlines()[0] if message else ""))
            counts[key] += 1
            examples.setdefault(key, message)
    found: list[dict[str, Any]] = [
        {"check": check, "message": pattern, "count": count, "example": examples[(check, pattern)]}
        for (check, pattern), count in counts.items()
    ]
    if stubbed:
        found.append(_stub_row(stubbed))
    found.sort(key=lambda f: (-f["count"], f["check"], f["message"]))
    return found[:TOP_FAILURES]


def _stub_row(stubbed: dict[str, set[str]]) -> dict[str, Any]:
    functions = ", ".join(f"{name} ({len(who)})" for name, who in sorted(stubbed.items()))
    return {
        "check": NOT_IMPLEMENTED,
        "message": f"still raises NotImplementedError: {functions}",
        "count": len(set().union(*stubbed.values())),
        "example": "the function is the stub the assignment handed out",
        "functions": {name: len(who) for name, who in sorted(stubbed.items())},
    }


def misconceptions(rows: list[Row]) -> list[dict[str, Any]]:
    """Known mistakes across the class: which, how many students, in which checks, who."""
    students: dict[str, dict[str, Row]] = {}  # misconception -> student id -> row
    checks: dict[str, set[str]] = {}
    for row in rows:
        for check_id, mistake in sorted(row.mistakes.items()):
            students.setdefault(mistake, {})[row.student] = row
            checks.setdefault(mistake, set()).add(check_id)
    ranked = sorted(students.items(), key=lambda item: (-len(item[1]), item[0]))
    return [
        {
            "misconception": mistake,
            "students": len(made),
            "checks": sorted(checks[mistake]),
            "who": [who(r.student, r.name) for r in list(made.values())[:MAX_NAMED]],
        }
        for mistake, made in ranked
    ]


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
    lines += _section(
        "Other notebooks set aside (not graded)",
        ["student", "file"],
        [[who(s["student"], s.get("name", "")), s["file"]] for s in summary["set_aside"]],
    )
    if len(summary["case_sets"]) > 1:
        lines += ["", "Warning: these grades come from different case sets (grading seeds)."]
    return "\n".join(lines) + "\n"


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


def _distribution(scores: list[float], maximum: float) -> dict[str, Any]:
    return {
        "max_score": maximum,
        "mean": round(statistics.fmean(scores), 4) if scores else 0.0,
        "median": round(statistics.median(scores), 4) if scores else 0.0,
        "min": min(scores, default=0.0),
        "max": max(scores, default=0.0),
        "stdev": round(statistics.pstdev(scores), 4) if scores else 0.0,
        "histogram": histogram(scores, maximum),
    }


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


def _problems(roster: Roster | None) -> tuple[Any, ...]:
    return roster.problems if roster is not None else ()


def _set_aside(roster: Roster | None) -> tuple[Any, ...]:
    return roster.set_aside if roster is not None else ()
