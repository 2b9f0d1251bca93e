"""Run every check, wrap each into a CheckResult with points; nothing a check raises escapes."""

from __future__ import annotations

import time

from grader.catalog import CATALOG
from grader.checks import CHECKS, Context
from grader.results import CheckResult, Outcome, bounded_check
from grader.withhold import withhold_numbers


def score(context: Context) -> tuple[CheckResult, ...]:
    """All checks of the catalog, in contract order."""
    checks = tuple(_run(spec.id, spec.points, context) for spec in CATALOG)
    if all(obs.call.public for obs in context.observations.calls):
        return checks
    # Even a public call's numbers can carry hidden inputs (all calls share one process).
    return tuple(withhold_numbers(c) for c in checks)


def _run(check_id: str, points: float, context: Context) -> CheckResult:
    began = time.perf_counter()
    try:
        verdict = CHECKS[check_id](context)
    except Exception as exc:  # a grader bug must cost one check, not the report
        failure = CheckResult(
            id=check_id,
            points=0.0,
            max_points=points,
            outcome=Outcome.ERROR,
            message=f"internal grader error in this check ({type(exc).__name__}: {exc});"
            " please report it",
            details={"internal": True},
            duration=time.perf_counter() - began,
        )
        return bounded_check(failure)
    fraction = min(max(verdict.fraction, 0.0), 1.0)
    check = CheckResult(
        id=check_id,
        points=round(points * fraction, 4),
        max_points=points,
        outcome=verdict.outcome,
        message=verdict.message,
        details=verdict.details,
        duration=round(time.perf_counter() - began, 6),
    )
    return bounded_check(check)  # a 250,000-step output must not make a 26 MB result


def ungradable(reason: str) -> tuple[CheckResult, ...]:
    """Every check as an error when the notebook could not be read at all."""
    return tuple(
        CheckResult(
            id=spec.id, points=0.0, max_points=spec.points, outcome=Outcome.ERROR, message=reason
        )
        for spec in CATALOG
    )
