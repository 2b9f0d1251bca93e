"""Run every check, wrap each into a CheckResult with points; nothing a check raises escapes."""

from __future__ import annotations

import time
from typing import Any

from grader.checks import Context, run_check
from grader.results import CheckResult, Outcome, bounded_check
from grader.spec import Check, Spec
from grader.withhold import withhold_numbers


def score(context: Context) -> tuple[CheckResult, ...]:
    """All checks the assignment declares, in its order."""
    checks = tuple(_run(c, context) for c in context.spec.checks)
    if all(obs.call.public for obs in context.observations.calls):
        return checks
    # Even a public call's numbers can carry hidden inputs (all calls share one process).
    return tuple(withhold_numbers(c) for c in checks)


def _run(declared: Check, context: Context) -> CheckResult:
    check_id, points = declared.id, declared.points
    began = time.perf_counter()
    try:
        verdict = run_check(declared, context.spec, context)
    except Exception as exc:  # a grader bug must cost one check, not the report
        failure = CheckResult(
            id=check_id,
            title=declared.title,
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
        title=declared.title,
        points=round(points * fraction, 4),
        max_points=points,
        outcome=verdict.outcome,
        message=verdict.message,
        details=with_hint(verdict.details, context.spec),
        duration=round(time.perf_counter() - began, 6),
    )
    return bounded_check(check)  # a 250,000-step output must not make a 26 MB result


def with_hint(details: dict[str, Any], spec: Spec) -> dict[str, Any]:
    """The details with the spec's hint for the mistake they name, right after its id."""
    mistake = details.get("misconception")
    if not isinstance(mistake, str) or "hint" in details:
        return details
    hinted: dict[str, Any] = {}
    for key, value in details.items():
        hinted[key] = value
        if key == "misconception":
            hinted["hint"] = spec.hint(mistake)
    return hinted


def ungradable(reason: str, spec: Spec) -> tuple[CheckResult, ...]:
    """Every check as an error when the notebook could not be read at all."""
    return tuple(
        CheckResult(
            id=c.id,
            title=c.title,
            points=0.0,
            max_points=c.points,
            outcome=Outcome.ERROR,
            message=reason,
        )
        for c in spec.checks
    )
