"""What every check shares: its inputs, its verdict and the comparisons against the reference."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from grader.cases import Case, CaseSet
from grader.compare import allclose, as_float64
from grader.extract import Extracted
from grader.misconceptions import Replays, error_mistake, exception_type, tag
from grader.observations import (
    CRASHED,
    MISSING,
    RAISED,
    TIMEOUT,
    ModuleInfo,
    Observation,
    Observations,
    Other,
)
from grader.reference import Expected
from grader.results import Outcome
from grader.settings import TOLERANCES
from grader.spec import Spec


@dataclass(frozen=True, kw_only=True)
class Context:
    """Everything a check may look at; checks are pure functions of it."""

    observations: Observations  # what the student's code did
    cases: CaseSet  # the inputs
    expected: Expected  # reference answers for those inputs
    extracted: Extracted  # the source as extracted (static facts)
    device: str  # device the inputs were placed on ("cpu", "cuda")
    spec: Spec  # what the assignment declares: its checks, mistakes and hints
    known: Replays  # the spec's mistakes replayed on the reference (held by the Grader)


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """A check's answer before points are attached."""

    fraction: float  # share of the check's points earned, 0..1
    outcome: Outcome  # passed / failed / error / timeout
    message: str  # what happened, in words
    details: dict[str, Any] = field(default_factory=dict)  # structured facts for reports


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One thing found wrong: its words, and the mistake the facts behind it establish."""

    message: str  # where and by how much, rendered from the facts
    mistake: str | None = None  # id of the known mistake those facts establish, if any


def unpack(value: Any, results: str | tuple[Any, ...]) -> dict[str, Any] | None:
    """A returned value's parts by declared name, when it nests as declared (tuples or lists)."""
    if isinstance(results, str):
        return {results: value}
    if not isinstance(value, tuple | list) or len(value) != len(results):
        return None
    parts: dict[str, Any] = {}
    for item, inner in zip(value, results, strict=True):
        if (got := unpack(item, inner)) is None:
            return None
        parts.update(got)
    return parts


def first_mistake(findings: Sequence[Finding]) -> str | None:
    return next((f.mistake for f in findings if f.mistake is not None), None)


def findings_verdict(findings: Sequence[Finding], ok: str, **details: Any) -> Verdict:
    """Passed with `ok` when nothing was found, else failed on the first finding."""
    if not findings:
        return passed(ok, **details)
    more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
    problems = [f.message for f in findings[:5]]
    return failed(findings[0].message + more,
                  **tag({**details, "problems": problems}, first_mistake(findings)))  # fmt: skip


def passed(message: str, **details: Any) -> Verdict:
    return Verdict(fraction=1.0, outcome=Outcome.PASSED, message=message, details=details)


def failed(message: str, fraction: float = 0.0, **details: Any) -> Verdict:
    return Verdict(fraction=fraction, outcome=Outcome.FAILED, message=message, details=details)


def unevaluable(calls: Sequence[Observation], function: str, spec: Spec) -> Verdict | None:
    """An error/timeout verdict when no call of the function returned at all, else None."""
    if not calls:
        return Verdict(fraction=0.0, outcome=Outcome.ERROR, message=f"{function} was not called")
    if any(c.returned for c in calls):
        return None
    first = calls[0]
    outcome = Outcome.TIMEOUT if first.status == TIMEOUT else Outcome.ERROR
    details = tag(where(first), failure_finding(first, spec).mistake)
    return Verdict(fraction=0.0, outcome=outcome, message=describe_failure(first), details=details)


def failure_finding(obs: Observation, spec: Spec) -> Finding:
    """A call that gave nothing to compare, with the spec's mistake its exception establishes."""
    mistake = error_mistake(obs.error, spec) if obs.status == RAISED else None
    return Finding(message=f"{obs.call.label}: {describe_failure(obs)}", mistake=mistake)


def wrong_type(
    calls: Sequence[Observation], acceptable: Callable[[Any], bool], expected: str
) -> Verdict | None:
    """An error verdict when every call that returned gave the wrong kind of value, else None."""
    returned = [c for c in calls if c.returned]
    if not returned or any(acceptable(c.value) for c in returned):
        return None
    first = returned[0]
    message = f"{first.call.label}: returned {type_name(first.value)}; expected {expected}"
    return Verdict(fraction=0.0, outcome=Outcome.ERROR, message=message, details=where(first))


def describe_failure(obs: Observation) -> str:
    """One sentence on why a call gave nothing to compare."""
    name = obs.call.function
    if obs.status == MISSING:
        return f"not found: {obs.error}" if obs.error else f"{name} is not defined"
    if obs.status == RAISED:
        if exception_type(obs.error) == "NotImplementedError":
            return f"{name} is not implemented yet (it raises NotImplementedError)"
        return f"{name} raised {obs.error}{at(obs)}"
    if obs.status == TIMEOUT:
        return f"{name} did not finish: {obs.error}"
    if obs.status == CRASHED:
        return f"{name} ended its sandboxed process abnormally: {obs.error}"
    return f"{name} gave no usable result ({obs.status}{': ' + obs.error if obs.error else ''})"


def at(obs: Observation) -> str:
    return f" (code cell {obs.where[0]}, line {obs.where[1]})" if obs.where else ""


def where(obs: Observation) -> dict[str, Any]:
    details: dict[str, Any] = {"call": obs.call.label}
    if obs.where:
        details.update(code_cell=obs.where[0], line=obs.where[1])
    if obs.traceback and exception_type(obs.error) != "NotImplementedError":
        details["traceback"] = obs.traceback
    return details


def type_name(value: Any) -> str:
    if isinstance(value, tuple | list) and value:
        inner = ", ".join(type_name(v) for v in value[:4])
        return f"{type(value).__name__} of ({inner}{', ...' if len(value) > 4 else ''})"
    if isinstance(value, Other):
        suffix = " (a torch.Tensor subclass; return a plain torch.Tensor)"
        return value.type + (suffix if value.tensor_subclass else "")
    if isinstance(value, ModuleInfo):
        return value.type  # the module's own class, not how the grader holds it
    return type(value).__name__


def tensor_problem(value: Any, dtype: str | None, device: str) -> Finding | None:
    """Why a returned value is not an acceptable tensor (None when it is)."""
    if not isinstance(value, torch.Tensor):
        return Finding(message=f"returned {type_name(value)}, not a torch.Tensor")
    got = str(value.dtype).removeprefix("torch.")
    if dtype is not None and got != dtype:
        message = f"returned dtype {got} for {dtype} input: follow x's dtype"
        return Finding(message=message, mistake="ignores-input-dtype")
    return None


def device_problem(obs: Observation, device: str) -> Finding | None:
    kind = device.split(":")[0]
    stray = sorted(d for d in obs.devices if d.split(":")[0] != kind)
    if not stray:
        return None
    message = f"returned tensors on {', '.join(stray)} for inputs on {device}"
    return Finding(message=message, mistake="ignores-input-dtype")


def tolerance(case: Case) -> tuple[float, float]:
    tol = TOLERANCES[case.dtype]
    return tol.rtol, tol.atol


def close(actual: torch.Tensor, expected: torch.Tensor, case: Case) -> bool:
    rtol, atol = tolerance(case)
    return allclose(actual, expected, rtol=rtol, atol=atol)


def steps_close(actual: torch.Tensor, expected: torch.Tensor, case: Case) -> list[bool]:
    """Per time step of `expected`, whether that (batch, hidden) slice matches (allclose rule)."""
    steps = min(actual.shape[1], expected.shape[1])
    rtol, atol = tolerance(case)
    ours = as_float64(actual)[:, :steps]
    theirs = as_float64(expected)[:, :steps]
    ok = np.abs(ours - theirs) <= atol + rtol * np.abs(theirs)  # NaN compares False: a mismatch
    return [bool(v) for v in ok.all(axis=(0, 2))] + [False] * (expected.shape[1] - steps)


def shape_mismatch(
    label: str, name: str, got: Sequence[int], want: Sequence[int], transposed: str | None
) -> Finding | None:
    """A finding when shapes differ; one shape the other reversed establishes `transposed`."""
    if tuple(got) == tuple(want):
        return None
    message = f"{label}: {name} has shape {shape_text(got)}, expected {shape_text(want)}"
    flipped = tuple(got) == tuple(want)[::-1]
    return Finding(message=message, mistake=transposed if flipped else None)


def shape_text(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"
