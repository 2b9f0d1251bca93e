"""The canonical result of grading one submission; every report format is rendered from it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from grader.settings import SCHEMA_VERSION


class Outcome(enum.StrEnum):
    """What happened to one check."""

    PASSED = "passed"  # ran and gave the right answer
    FAILED = "failed"  # ran and gave a wrong answer
    ERROR = "error"  # could not be evaluated: missing function, exception, bad return type
    TIMEOUT = "timeout"  # ran out of wall-clock time


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """One scored check."""

    id: str  # stable check id, e.g. "rnn_forward.values"
    points: float  # points earned
    max_points: float  # points available
    outcome: Outcome  # passed / failed / error / timeout
    message: str  # one human sentence or short paragraph
    details: dict[str, Any] = field(default_factory=dict)  # structured: case, step, errors, hint
    duration: float = 0.0  # seconds spent evaluating the check in the grader

    @property
    def function(self) -> str:
        """The student function this check is about."""
        return self.id.split(".", 1)[0]


@dataclass(frozen=True, kw_only=True)
class SubmissionInfo:
    """Which file was graded."""

    path: str  # as given by the user
    sha256: str  # of the file's bytes; "" when the file could not be read


@dataclass(frozen=True, kw_only=True)
class Environment:
    """Where and how the grading ran."""

    grader_version: str  # version of this package
    torch_version: str  # torch in the grader's process
    python_version: str  # e.g. "3.11.7"
    device: str  # device the student's inputs were placed on
    case_set: str  # "public" or "full"
    case_set_id: str  # fingerprint of the exact cases (changes with the grading seed)
    protections: tuple[str, ...] = ()  # sandbox protections that were active
    missing_protections: tuple[str, ...] = ()  # protections asked for but unavailable, with why


@dataclass(frozen=True, kw_only=True)
class Problem:
    """A note about the notebook found while extracting or running it (not a check)."""

    message: str  # what is wrong, in words
    cell: int | None = None  # code cell number, 1-based among code cells (as a student counts)
    line: int | None = None  # 1-based line within the cell
    severity: str = "warning"  # "warning" or "error"


@dataclass(frozen=True, kw_only=True)
class GradeResult:
    """Everything a report shows about one graded submission."""

    submission: SubmissionInfo  # which file
    checks: tuple[CheckResult, ...]  # in contract order
    environment: Environment  # torch, device, case set, protections
    problems: tuple[Problem, ...] = ()  # extraction and runtime notes
    ungradable: str | None = None  # why the submission could not be graded at all
    output: str = ""  # captured stdout/stderr of the student code, capped
    duration: float = 0.0  # wall-clock seconds for the whole grade
    schema_version: int = SCHEMA_VERSION  # version of this structure's JSON form

    @property
    def score(self) -> float:
        return round(sum(c.points for c in self.checks), 4)

    @property
    def max_score(self) -> float:
        return round(sum(c.max_points for c in self.checks), 4)

    @property
    def all_passed(self) -> bool:
        return self.ungradable is None and all(c.outcome is Outcome.PASSED for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON form (see DESIGN.md §6)."""
        data = _plain(self)
        data["score"] = self.score
        data["max_score"] = self.max_score
        ordered = {
            "schema_version": data.pop("schema_version"),
            "submission": data.pop("submission"),
        }
        ordered["score"] = data.pop("score")
        ordered["max_score"] = data.pop("max_score")
        ordered.update(data)
        return ordered


def result_from_dict(data: dict[str, Any]) -> GradeResult:
    """Rebuild a GradeResult from its canonical JSON form (for re-rendering stored results)."""
    checks = tuple(
        CheckResult(**{**c, "outcome": Outcome(c["outcome"])}) for c in data.get("checks", [])
    )
    env = dict(data["environment"])
    env["protections"] = tuple(env.get("protections", ()))
    env["missing_protections"] = tuple(env.get("missing_protections", ()))
    return GradeResult(
        submission=SubmissionInfo(**data["submission"]),
        checks=checks,
        environment=Environment(**env),
        problems=tuple(Problem(**p) for p in data.get("problems", [])),
        ungradable=data.get("ungradable"),
        output=data.get("output", ""),
        duration=data.get("duration", 0.0),
        schema_version=data.get("schema_version", SCHEMA_VERSION),
    )


def _plain(value: Any) -> Any:
    """dataclasses.asdict without its deep copy of every leaf (results hold only plain data)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(item) for item in value)
    return value
