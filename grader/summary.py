"""Class analytics from the gradebook's current rows: distribution, pass rates, common failures.

Pure functions over `gradebook.Row`s returning plain data (the JSON form) and Markdown; the charts
and summary.json are drawn from the same numbers, so they cannot disagree.
"""

from __future__ import annotations

import collections
import re
import statistics
from typing import Any

from grader.catalog import CATALOG
from grader.gradebook import Row
from grader.report.inert import inert, md_code
from grader.students import Roster

HISTOGRAM_BINS = 10  # score bins across 0..max_score
TOP_FAILURES = 10  # most common failure messages listed
ERRORED = ("ungradable", "timeout", "error")  # submission outcomes listed by name
_FIGURE = re.compile(r"[0-9][0-9.%/ -]{0,40}")  # "50%", "0-10", "8.5/10": nothing Markdown reads
_CHECK_IDS = frozenset(spec.id for spec in CATALOG)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", re.IGNORECASE)


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
        "checks": pass_rates(rows),
        "common_failures": common_failures(rows),
        "errored": [
            {"student": r.student, "outcome": r.outcome, "reason": r.reason, "file": r.file}
            for r in rows
            if r.outcome in ERRORED
        ],
        "source_problems": [{"path": p.path, "reason": p.reason} for p in _problems(roster)],
        "set_aside": [{"student": s.student, "file": s.found.label} for s in _set_aside(roster)],
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
    """Per check: how many students passed it and the mean points, in contract order."""
    rates = []
    for spec in CATALOG:
        results = [row.checks[spec.id] for row in rows if spec.id in row.checks]
        passed = sum(outcome == "passed" for _, outcome, _ in results)
        points = [p for p, _, _ in results]
        rates.append(
            {
                "id": spec.id,
                "max_points": spec.points,
                "passed": passed,
                "pass_rate": round(passed / len(rows), 4) if rows else 0.0,
                "mean_points": round(statistics.fmean(points), 4) if points else 0.0,
            }
        )
    return rates


def common_failures(rows: list[Row]) -> list[dict[str, Any]]:
    """Failure messages with numbers masked, most frequent first (ungradable files left out)."""
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    examples: dict[tuple[str, str], str] = {}
    for row in rows:
        if row.outcome == "ungradable":
            continue  # its ten identical messages are listed once, under "errored"
        for check_id, (_, outcome, message) in row.checks.items():
            if outcome != "passed":
                key = (check_id, _NUMBER.sub("#", message.splitlines()[0] if message else ""))
                counts[key] += 1
                examples.setdefault(key, message)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_FAILURES]
    return [
        {"check": check, "message": pattern, "count": count, "example": examples[(check, pattern)]}
        for (check, pattern), count in ranked
    ]


def to_markdown(summary: dict[str, Any]) -> str:
    """summary.md from the summary.json document."""
    lines = [*_overview(summary), *_check_table(summary)]
    lines += _section(
        "Most common failures",
        ["check", "students", "message"],
        [[f["check"], f["count"], f["message"]] for f in summary["common_failures"]],
    )
    lines += _section(
        "Errored, timed out or ungradable",
        ["student", "outcome", "reason"],
        [[e["student"], e["outcome"], e["reason"]] for e in summary["errored"]],
    )
    lines += _section(
        "Files that could not be read",
        ["path", "reason"],
        [[p["path"], p["reason"]] for p in summary["source_problems"]],
    )
    lines += _section(
        "Other notebooks set aside (not graded)",
        ["student", "file"],
        [[s["student"], s["file"]] for s in summary["set_aside"]],
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
        ),
    ]


def _check_table(summary: dict[str, Any]) -> list[str]:
    rows = [
        [c["id"], c["passed"], f"{c['pass_rate']:.0%}", f"{c['mean_points']:g}/{c['max_points']:g}"]
        for c in summary["checks"]
    ]
    return ["", "## Checks", "", *_table(["check", "passed", "pass rate", "mean points"], rows)]


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


def _section(title: str, header: list[str], rows: list[list[Any]]) -> list[str]:
    return ["", f"## {title}", "", *(_table(header, rows) if rows else ["None."])]


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]


def _cell(value: Any) -> str:
    """Markdown table cells: numbers as they are, text inert in a code span (no live links)."""
    if isinstance(value, int | float) or _FIGURE.fullmatch(str(value)) or value in _CHECK_IDS:
        return str(value)
    return md_code(inert(" ".join(str(value).split()), 300, 1), table=True)


def _problems(roster: Roster | None) -> tuple[Any, ...]:
    return roster.problems if roster is not None else ()


def _set_aside(roster: Roster | None) -> tuple[Any, ...]:
    return roster.set_aside if roster is not None else ()
