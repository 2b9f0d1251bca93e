"""Class analytics from the gradebook's current rows: distribution, pass rates, common failures.

Pure functions over `gradebook.Row`s returning plain data (the JSON form; `summary_md` makes the
Markdown from it); the charts and summary.json are drawn from the same numbers, so they cannot
disagree. A class that mixes
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
from grader.batch.summary_md import to_markdown, who

__all__ = ["common_failures", "histogram", "misconceptions", "pass_rates", "summarize",
           "to_markdown", "who"]  # fmt: skip

HISTOGRAM_BINS = 10  # score bins across 0..max_score
TOP_FAILURES = 10  # most common failure messages listed
MAX_NAMED = 20  # students named per misconception
NOT_IMPLEMENTED = "not implemented"  # the one row that stands for every untouched stub
ERRORED = ("ungradable", "timeout", "error")  # submission outcomes listed by name
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", re.IGNORECASE)
_STUB = re.compile(r"NotImplementedError|\bnot implemented yet\b", re.IGNORECASE)


def summarize(rows: list[Row], roster: Roster | None = None, *, asked: str = "") -> dict[str, Any]:
    """The summary.json document; `asked` is the batch's --assignment ("": none given)."""
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
        # Metadata comes before --assignment: an instructor must see whom it graded otherwise.
        "other_assignment": [
            {"student": r.student, "name": r.name, "assignment": r.assignment, "file": r.file}
            for r in rows
            if asked and r.assignment and r.assignment != asked
        ],
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
            continue  # its identical messages are listed once, under "errored"
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


def _problems(roster: Roster | None) -> tuple[Any, ...]:
    return roster.problems if roster is not None else ()


def _set_aside(roster: Roster | None) -> tuple[Any, ...]:
    return roster.set_aside if roster is not None else ()
