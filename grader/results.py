"""The canonical result of grading one submission; every report format is rendered from it."""

from __future__ import annotations

import enum
import numbers
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any

from grader.settings import SCHEMA_VERSION

# What a stored result keeps of unbounded data (a 250,000-step output once made a 26 MB row).
MESSAGE_KEPT = 4_000  # characters of a check message or of the ungradable reason
TEXT_KEPT = 1_000  # characters of any other string in details or problems
DETAILS_KEPT = 8_000  # characters (a number counts 10) of one check's details in all
OUTPUT_KEPT = 20_000  # characters of captured output
ITEMS_KEPT = 64  # items of any list in details (steps, units, notes)
KEYS_KEPT = 32  # entries of any mapping in details
DEPTH_KEPT = 4  # nesting of details; deeper values become their (bounded) text
PROBLEMS_KEPT = 50  # notebook problems
PROBLEM_KEPT = 500  # characters of one problem's message
_MORE = "... and "
_NOTE_CHARS = 40  # room for the "... [N more characters]" note, so cutting twice changes nothing


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
    title: str = ""  # the spec's short description: every format can name the check from here
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
    assignment: str = ""  # the assignment that graded it (its spec's name)
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
        """The canonical JSON form (see DESIGN.md §6), bounded in size whatever the input."""
        data = _plain(bounded(self))
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


def cap(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, saying how many were dropped; a cut text stays as is."""
    if len(text) <= limit + _NOTE_CHARS:
        return text
    return f"{text[:limit]}... [{len(text) - limit:,} more characters]"


def bound(value: Any) -> Any:
    """A detail value cut to a fixed size: strings, lists, mappings, nesting, and a budget of
    characters for all of it together; a cut list ends in a "... and K more" string."""
    return _bound(value, 0, [DETAILS_KEPT])


def _bound(value: Any, depth: int, budget: list[int]) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        value = f"(an integer of {value.bit_length():,} bits)"  # str() of one can take forever
    if value is None or isinstance(value, numbers.Number):
        budget[0] -= 10
        return value
    if isinstance(value, str) or depth >= DEPTH_KEPT:
        text = cap(value if isinstance(value, str) else str(value), min(TEXT_KEPT, budget[0]))
        budget[0] -= len(text)
        return text
    if isinstance(value, dict):
        items = list(value.items())[:KEYS_KEPT]
        return {cap(str(key), 100): _bound(item, depth + 1, budget) for key, item in items}
    if isinstance(value, list | tuple):
        return type(value)(_bound_items(value, depth, budget))
    return _bound(str(value), depth, budget)


def _bound_items(value: list[Any] | tuple[Any, ...], depth: int, budget: list[int]) -> list[Any]:
    kept: list[Any] = []
    for index, item in enumerate(value[: ITEMS_KEPT + 1]):
        if index == len(value) - 1 and isinstance(item, str) and item.startswith(_MORE):
            kept.append(item)  # the note of an earlier cut: cutting again changes nothing
            break
        if budget[0] <= 0 or index == ITEMS_KEPT:
            break
        kept.append(_bound(item, depth + 1, budget))
    if len(kept) < len(value):
        kept.append(f"{_MORE}{len(value) - len(kept):,} more")
    return kept


def bounded_check(check: CheckResult) -> CheckResult:
    """`check` with its message and details bounded."""
    return replace(
        check, message=cap(check.message, MESSAGE_KEPT), details=bound(dict(check.details))
    )


def bounded(result: GradeResult) -> GradeResult:
    """`result` with every unbounded part cut to a fixed size (idempotent)."""
    kept = result.problems
    if len(kept) > PROBLEMS_KEPT + 1:
        kept = kept[:PROBLEMS_KEPT]
    problems = tuple(replace(p, message=cap(p.message, PROBLEM_KEPT)) for p in kept)
    if len(result.problems) > len(kept):
        more = len(result.problems) - PROBLEMS_KEPT
        problems += (Problem(message=f"... and {more:,} more problems"),)
    reason = result.ungradable
    return replace(
        result,
        checks=tuple(bounded_check(c) for c in result.checks),
        problems=problems,
        ungradable=None if reason is None else cap(reason, MESSAGE_KEPT),
        output=cap(result.output, OUTPUT_KEPT),
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
