"""The GitHub Classroom result: what `classroom-resources/autograding-grading-reporter` reads.

The reporter takes, per runner, the base64 of a JSON object `{version, status, max_score,
tests}`, each test `{name, status, score, message, ...}` with status `pass`, `fail` or `error`,
the same shape Classroom's own command and I/O graders give as their `result` output. It sums the
tests' scores against `max_score` and posts the points to the Classroom dashboard.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from grader.results import GradeResult, Outcome

__all__ = ["MESSAGE_LIMIT", "classroom_result", "render"]

MESSAGE_LIMIT = 1000  # characters of a check's message kept: the reporter prints each one
_STATUS = {Outcome.PASSED: "pass", Outcome.FAILED: "fail", Outcome.ERROR: "error",
           Outcome.TIMEOUT: "error"}  # fmt: skip


def classroom_result(result: GradeResult) -> dict[str, Any]:
    """The reporter's JSON object for `result`: one test per check, points as scored."""
    tests = [
        {
            "name": check.id,
            "status": _STATUS[check.outcome],
            "score": check.points,
            "max_score": check.max_points,
            "message": _message(check.message, result.ungradable),
            "test_code": f"python -m grader check {result.submission.path}",
            "filename": result.submission.path,
            "line_no": 0,
            "duration": round(check.duration * 1000),
        }
        for check in result.checks
    ]
    return {
        "version": 1,
        "status": "pass" if result.all_passed else "fail",
        "max_score": result.max_score,
        "tests": tests,
    }


def render(result: GradeResult) -> str:
    """The base64 text a step sets as its `result` output for the reporter."""
    text = json.dumps(classroom_result(result), ensure_ascii=True, allow_nan=False)
    return base64.b64encode(text.encode("ascii")).decode("ascii")


def _message(message: str, ungradable: str | None) -> str:
    """One inert line: the reporter prints it to the job log, where `::` and `##[` are commands."""
    text = message if ungradable is None else f"not graded: {ungradable}"
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    text = re.sub(r":(?=:)", ": ", text).replace("##[", "# #[")
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."
