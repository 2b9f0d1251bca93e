"""Checks of rnn_forward and rnn_forward_fused: shapes, per-step values, one product per step."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from grader import misconceptions
from grader.cases import ForwardCase
from grader.checks.common import (
    Context,
    Verdict,
    close,
    describe_failure,
    device_problem,
    failed,
    passed,
    shape_text,
    steps_close,
    tensor_problem,
    type_name,
    unevaluable,
    wrong_type,
)
from grader.misconceptions import hint_for, tag
from grader.observations import Observation
from grader.sandbox import kernels

BUILTIN_OPS = frozenset(
    {
        "rnn_tanh",
        "rnn_relu",
        "rnn_tanh_cell",
        "rnn_relu_cell",
        "lstm",
        "gru",
        "lstm_cell",
        "gru_cell",
    }
)
# How the sandbox's refusal of a built-in recurrent kernel reads: it names the kernel.
_REFUSED = re.compile(re.escape(kernels.MESSAGE) + r": ([\w.:]{1,80})")


@dataclass
class _Tally:
    """Running count of matching (case, step) pairs, with the first divergence."""

    matched: int = 0
    total: int = 0
    first: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    mistake: str | None = None  # id of the recognised misconception, if any


def _pair(obs: Observation) -> tuple[Any, Any] | None:
    value = obs.value
    if isinstance(value, tuple | list) and len(value) == 2:
        return value[0], value[1]
    return None


def forward_shape(ctx: Context) -> Verdict:
    calls = ctx.observations.of("rnn_forward")
    both = "(output, h_n), two plain torch.Tensors"
    if (verdict := unevaluable(calls, "rnn_forward") or _not_pair(calls, both, 2)) is not None:
        return verdict
    found = [p for obs in calls if (p := _shape_problem(obs)) is not None]
    if not found:
        return passed(
            f"output (batch, seq, hidden) and h_n (batch, hidden) on all {len(calls)} cases"
        )
    problems = [message for message, _ in found]
    more = f" ({len(problems) - 1} more cases also wrong)" if len(problems) > 1 else ""
    mistake = length_mistake(calls) or next((m for _, m in found if m is not None), None)
    return failed(problems[0] + more, **tag({"problems": problems[:5]}, mistake))


def length_mistake(calls: tuple[Observation, ...]) -> str | None:
    """A time-length mistake seen consistently across cases (one case alone can mislead)."""
    pairs = [
        (obs.call.case.dims[1], value[0].shape[1])
        for obs in calls
        if obs.call.case is not None and (value := _pair(obs)) is not None
        and isinstance(value[0], torch.Tensor) and value[0].dim() == 3
    ]  # fmt: skip
    if not pairs or all(t == n for t, n in pairs):
        return None
    if len({n for _, n in pairs}) == 1 and len({t for t, _ in pairs}) > 1:
        return "hard-coded-length"
    for offset, name in ((1, "output-includes-h0"), (-1, "last-step-dropped")):
        if all(n == t + offset for t, n in pairs):
            return name
    return None


def _not_pair(calls: tuple[Observation, ...], expected: str, tensors: int) -> Verdict | None:
    def acceptable(value: object) -> bool:
        pair = value if isinstance(value, tuple | list) and len(value) == 2 else None
        return pair is not None and all(isinstance(t, torch.Tensor) for t in pair[:tensors])

    return wrong_type(calls, acceptable, expected)


def _shape_problem(obs: Observation) -> tuple[str, str | None] | None:
    """What is wrong with one case's shapes, and the mistake it suggests."""
    if not obs.returned:
        return f"{obs.call.label}: {describe_failure(obs)}", None
    case = obs.call.case
    assert case is not None
    batch, seq, _, hidden = case.dims
    pair = _pair(obs)
    if pair is None:
        return f"{obs.call.label}: returned {type_name(obs.value)}; expected (output, h_n)", None
    output, h_n = pair
    for name, value, shape in (
        ("output", output, (batch, seq, hidden)),
        ("h_n", h_n, (batch, hidden)),
    ):
        if not isinstance(value, torch.Tensor):
            return f"{obs.call.label}: {name} is {type_name(value)}, not a tensor", None
        if tuple(value.shape) != shape:
            got, want = shape_text(value.shape), shape_text(shape)
            mistake = _shape_mistake(tuple(value.shape), shape)
            hint = f" ({hint_for(mistake)})" if mistake else ""
            return f"{obs.call.label}: {name} has shape {got}, expected {want}{hint}", mistake
    return None


def _shape_mistake(got: tuple[int, ...], want: tuple[int, ...]) -> str | None:
    if len(got) != len(want):
        return None
    if got[0] == 1 and want[0] > 1 and got[1:] == want[1:]:
        return "batch-of-one-only"
    if len(got) == 3 and got[0] == want[0] and got[2] == want[2]:
        if got[1] == want[1] + 1:
            return "output-includes-h0"
        return "last-step-dropped" if got[1] == want[1] - 1 else "hard-coded-length"
    if len(got) == 3 and got == (want[1], want[0], want[2]):
        return "time-first-output"
    return None


def uses_builtin(ctx: Context, function: str) -> bool:
    return builtin_used(ctx, function) is not None


def builtin_used(ctx: Context, function: str) -> str | None:
    """The built-in recurrence the function's code names, ran into, or was traced calling."""
    if function in ctx.extracted.builtin_rnn_users:
        return ctx.extracted.builtin_rnn_names.get(function, "a built-in RNN")
    for obs in ctx.observations.of(function):
        if not obs.returned and (refused := _REFUSED.search(obs.error)) is not None:
            return refused.group(1).rstrip(":.")  # the sandbox refused the kernel it called
        if obs.trace is not None and (ops := BUILTIN_OPS & obs.trace.counts.keys()):
            return f"torch.{min(ops)}"
    return None


def forward_values(function: str) -> Callable[[Context], Verdict]:
    """The per-step partial-credit check for rnn_forward or rnn_forward_fused."""

    def check(ctx: Context) -> Verdict:
        calls = ctx.observations.of(function)
        first = "(output, h_n) with output a plain torch.Tensor"
        if (builtin := builtin_used(ctx, function)) is not None:  # before "it raised": it's why
            return failed(
                f"{function} uses a built-in RNN ({builtin}): no credit,"
                " the point is to write the recurrence yourself",
                **tag({"builtin_rnn": True, "builtin": builtin}, "builtin-rnn"),
            )
        if (verdict := unevaluable(calls, function) or _not_pair(calls, first, 1)) is not None:
            return verdict
        tally = _Tally(mistake=length_mistake(calls))
        for obs, expected in zip(calls, ctx.expected.forward, strict=True):
            _tally_case(tally, obs, expected, ctx.device, fused=function.endswith("fused"))
        return _values_verdict(tally)

    return check


def _tally_case(
    tally: _Tally, obs: Observation, expected: torch.Tensor, device: str, *, fused: bool
) -> None:
    case = obs.call.case
    assert case is not None
    steps = case.x.shape[1]
    tally.total += steps
    output, reason = _comparable_output(obs, case, device)
    if output is None:
        tally.notes.append(f"{obs.call.label}: {reason}")
        tally.mistake = tally.mistake or _reason_mistake(obs, reason)
        return
    pair = _pair(obs)
    h_n = pair[1] if pair else None
    matches = steps_close(output, expected, case)
    for t, ok in enumerate(matches):
        last = ok and t == steps - 1
        if last and isinstance(h_n, torch.Tensor) and h_n.shape == expected[:, t].shape:
            ok = close(h_n, expected[:, t], case)
            if not ok:
                tally.notes.append(f"{obs.call.label}: h_n differs from h_T (the last output step)")
        tally.matched += ok
        if not ok and tally.first is None:
            tally.first = _divergence(obs, case, t, output, expected)
            mistake = misconceptions.diagnose(case, output, fused=fused)
            tally.mistake = tally.mistake or (mistake.name if mistake else None)


def credible_trace(obs: Observation, expected: torch.Tensor, device: str) -> str | None:
    """Why a traced call's torch calls cannot be taken as how it computed its answer, if so.

    Its output must be right on every step, or wrong the way a known mistake is (a decoy
    product beside the real work gives neither)."""
    case = obs.call.case
    assert case is not None
    output, reason = _comparable_output(obs, case, device)
    if output is None:
        return reason
    if output.shape[1] == expected.shape[1] and all(steps_close(output, expected, case)):
        return None
    if misconceptions.diagnose(case, output, fused=True) is not None:
        return None
    return "its output is wrong in a way no known mistake explains"


def _reason_mistake(obs: Observation, reason: str) -> str | None:
    if obs.mutated:
        return "overwrites-argument"
    return (
        "ignores-input-dtype" if "follow x's dtype" in reason or " on cpu for" in reason else None
    )


def _comparable_output(
    obs: Observation, case: ForwardCase, device: str
) -> tuple[torch.Tensor | None, str]:
    if not obs.returned:
        return None, describe_failure(obs)
    if obs.mutated:
        return None, f"wrote into its argument {', '.join(obs.mutated)}: no credit for this case" \
                     " (work on new tensors, never modify the caller's)"  # fmt: skip
    pair = _pair(obs)
    if pair is None:
        return None, f"returned {type_name(obs.value)}; expected (output, h_n)"
    output = pair[0]
    problem = tensor_problem(output, case.dtype, device) or device_problem(obs, device)
    if problem:
        return None, f"output {problem}"
    batch, _, _, hidden = case.dims
    if output.dim() != 3 or output.shape[0] != batch or output.shape[2] != hidden:
        return None, f"output shape {shape_text(output.shape)} cannot be compared step by step"
    return output, ""


def _divergence(
    obs: Observation, case: ForwardCase, t: int, output: torch.Tensor, expected: torch.Tensor
) -> dict[str, Any]:
    details: dict[str, Any] = {"case": obs.call.label, "step": t + 1}
    got = output[:, t] if t < output.shape[1] else None
    if got is None:
        details["problem"] = f"step {t + 1} is missing from output"
    else:
        error = (got.to(torch.float64) - expected[:, t]).abs()
        flat = int(torch.nan_to_num(error, nan=float("inf")).argmax())
        batch, unit = divmod(flat, error.shape[1])
        details.update(unit=unit, batch=batch, abs_error=float(error.flatten()[flat]))
        if case.public:
            details.update(
                expected=round(float(expected[batch, t, unit]), 6),
                actual=round(float(got[batch, unit]), 6),
            )
    details["step_errors"] = step_errors(output, expected)
    if case.public:  # hidden cases never show values
        details["trajectory"] = trajectory(output, expected)
    return details


def step_errors(output: torch.Tensor, expected: torch.Tensor) -> list[float]:
    """Max |error| over batch and units at each step both tensors have, rounded to 6 digits."""
    steps = min(output.shape[1], expected.shape[1])
    diff = (output[:, :steps].to(torch.float64).cpu() - expected[:, :steps].cpu()).abs()
    worst = torch.nan_to_num(diff, nan=float("inf")).amax(dim=(0, 2))
    return [round(float(e), 6) for e in worst]


def trajectory(output: torch.Tensor, expected: torch.Tensor) -> dict[str, list[list[float]]]:
    """Batch row 0 of both, per step per unit, rounded to 6 digits (for plots of public cases)."""

    def rows(tensor: torch.Tensor) -> list[list[float]]:
        return [[round(float(v), 6) for v in step] for step in tensor[0].detach().cpu()]

    return {"expected": rows(expected), "actual": rows(output)}


def _values_verdict(tally: _Tally) -> Verdict:
    fraction = tally.matched / tally.total if tally.total else 0.0
    summary = f"h_t matches on {tally.matched} of {tally.total} (case, step) pairs"
    if fraction == 1.0:
        return passed(summary)
    details: dict[str, Any] = dict(tally.first or {})
    text = summary
    if tally.first and "unit" in tally.first:
        first = tally.first
        text += f"; first divergence: {first['case']}, step {first['step']}, unit {first['unit']}"
        if "expected" in first:
            text += f" (expected {first['expected']:.4f}, got {first['actual']:.4f})"
        text += f", |error| {first['abs_error']:.3g}"
    elif tally.first:
        text += f"; {tally.first['case']}: {tally.first['problem']}"
    if tally.notes:
        text += f". {tally.notes[0]}"
        details["notes"] = tally.notes[:5]
    return failed(text, fraction=fraction, **tag(details, tally.mistake))
