"""Gradescope `results.json` (FORMATS.md d.1): one test per check, numbered in its spec's order.

Test names take each check's title from the result (its spec's); a report written before results
carried titles is matched with an installed spec by its check ids, else named by ids alone.

Outputs use the "text" format so student text is shown verbatim, never rendered as Markdown or
HTML; every text field goes through `inert` as in the terminal view (bounded, control characters
visible, no workflow commands). Hidden cases' student text never arrives here at all
(`grader.withhold`), so the visible output cannot quote hidden inputs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from grader.report.canonical import strict_json
from grader.report.inert import inert, json_safe
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
from grader.spec import Check, Spec

TEST_OUTPUT_CHARS = 8_000  # longest per-test output: messages plus details
TEST_OUTPUT_LINES = 80  # lines of per-test output
SUMMARY_CHARS = 16_000  # longest top-level output


def render(result: GradeResult) -> str:
    """`result` as Gradescope's results.json, with "\\n" line endings."""
    document: dict[str, Any] = {
        "score": result.score,
        "execution_time": round(result.duration, 3),
        "output": _summary(result),
        "output_format": "text",
        "test_output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": _tests(result.checks),
        "extra_data": _extra_data(result),
    }
    return json_safe(json.dumps(strict_json(document), indent=2, allow_nan=False)) + "\n"


def _tests(checks: Sequence[CheckResult]) -> list[dict[str, Any]]:
    if all(c.title for c in checks):  # the result names its checks, in its spec's order
        return [_test(c, str(n), inert(c.title)) for n, c in enumerate(checks, start=1)]
    declared = _declared([c.id for c in checks])  # a report from before results carried titles
    numbers = {check.id: str(index) for index, check in enumerate(declared, start=1)}
    titles = {check.id: check.title for check in declared}
    # Ids outside the spec (should not happen) still sort after it, in result order.
    return [
        _test(check, numbers.get(check.id, str(len(declared) + index + 1)), titles.get(check.id))
        for index, check in enumerate(checks)
    ]


def _declared(ids: list[str]) -> tuple[Check, ...]:
    """The checks of the spec that declares the most of `ids`: among the specs this process has
    loaded (a Grader's, an assignment given by path), else the installed ones; none: ()."""
    best = _best(_loaded_specs(), ids)
    if best or not ids:
        return best
    from grader.load import SOLUTIONS, assignment_names, load_spec  # the specs import torch

    return _best([load_spec(SOLUTIONS / name) for name in assignment_names()], ids)


def _best(specs: Iterable[Spec], ids: list[str]) -> tuple[Check, ...]:
    wanted = set(ids)
    ranked = sorted(((len(wanted.intersection(c.id for c in s.checks)), s.name, s.checks)
                     for s in specs), key=lambda item: (-item[0], item[1]))  # fmt: skip
    return ranked[0][2] if ranked and ranked[0][0] else ()


def _loaded_specs() -> list[Spec]:
    """Every `SPEC` bound by a module already imported: an assignment's spec, loaded by path."""
    found = (getattr(module, "__dict__", {}).get("SPEC") for module in list(sys.modules.values()))
    return [spec for spec in found if isinstance(spec, Spec)]  # __dict__: no module __getattr__


def _test(check: CheckResult, number: str, title: str | None) -> dict[str, Any]:
    return {
        "name": f"{check.id}: {title}" if title else check.id,
        "number": number,
        "score": check.points,
        "max_score": check.max_points,
        "status": "passed" if check.outcome is Outcome.PASSED else "failed",
        "output": _test_output(check),
        "output_format": "text",
        "tags": [check.function],
        "visibility": "visible",
    }


def _test_output(check: CheckResult) -> str:
    message = inert(check.message, MESSAGE_CHARS, MESSAGE_LINES)
    # Gradescope has only passed/failed; say when the check could not be evaluated at all.
    if check.outcome in (Outcome.ERROR, Outcome.TIMEOUT):
        message = f"[{check.outcome.value}] {message}"
    lines = [message] + [f"{inert(label)}: {inert(value)}" for label, value in detail_items(check)]
    return inert("\n".join(lines), TEST_OUTPUT_CHARS, TEST_OUTPUT_LINES)


def _summary(result: GradeResult) -> str:
    score = f"{fmt_points(result.score)} / {fmt_points(result.max_score)}"
    lines = [f"Score: {score} ({outcome_counts(result.checks)})"]
    if result.ungradable is not None:
        reason = inert(result.ungradable, MESSAGE_CHARS, MESSAGE_LINES)
        lines += ["", f"UNGRADABLE: {reason}"]
    if result.problems:
        lines += ["", "Notebook problems:"]
        lines += [
            f"- {inert(problem_line(p), MESSAGE_CHARS, 5)}" for p in result.problems[:MAX_PROBLEMS]
        ]
    lines += ["", inert(protections_line(result))]
    return inert("\n".join(lines), SUMMARY_CHARS, 2 * MAX_PROBLEMS + 20)


def _extra_data(result: GradeResult) -> dict[str, Any]:
    env = result.environment
    return {
        "schema_version": result.schema_version,
        "score": result.score,
        "max_score": result.max_score,
        "ungradable": _bounded(result.ungradable),
        "sha256": result.submission.sha256,
        "protections": list(env.protections),
        "missing_protections": list(env.missing_protections),
        "case_set": env.case_set,
        "case_set_id": env.case_set_id,
        "device": env.device,
        "torch_version": env.torch_version,
        "grader_version": env.grader_version,
    }


def _bounded(text: str | None) -> str | None:
    return None if text is None else inert(text, MESSAGE_CHARS, MESSAGE_LINES)
