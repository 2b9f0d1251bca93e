"""Checks of init_hidden and init_weights."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from grader import reference
from grader.checks.common import (
    Context,
    Verdict,
    describe_failure,
    failed,
    passed,
    shape_mismatch,
    shape_text,
    type_name,
    unevaluable,
    wrong_type,
)
from grader.compare import allclose
from grader.misconceptions import tag
from grader.observations import Observation

_WEIGHT_NAMES = ("W_xh", "W_hh", "b_h")


def _not_tensor(calls: tuple[Observation, ...]) -> Verdict | None:
    return wrong_type(calls, lambda v: isinstance(v, torch.Tensor), "a torch.Tensor")


def _not_triple(calls: tuple[Observation, ...]) -> Verdict | None:
    def triple(value: object) -> bool:
        items = value if isinstance(value, tuple | list) else ()
        return len(items) == 3 and all(isinstance(t, torch.Tensor) for t in items)

    return wrong_type(calls, triple, "a tuple of three tensors (W_xh, W_hh, b_h)")


def _verdict(problems: list[str], ok: str, total: int, mistake: str | None = None) -> Verdict:
    if not problems:
        return passed(ok, calls=total)
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return failed(problems[0] + more, **tag({"problems": problems[:5]}, mistake))


def init_hidden_shape(ctx: Context) -> Verdict:
    calls = ctx.observations.of("init_hidden")
    if (verdict := unevaluable(calls, "init_hidden") or _not_tensor(calls)) is not None:
        return verdict
    problems = list(_hidden_shape_problems(calls))
    tensors = [obs.value for obs in calls if isinstance(obs.value, torch.Tensor)]
    rows = {t.shape[0] for t in tensors if t.dim() == 2}
    mistake = "init-hidden-fixed-rows" if problems and len(rows) == 1 else None
    ok = "shape (batch_size, hidden_size) for every size tried"
    return _verdict(problems, ok, len(calls), mistake)


def _hidden_shape_problems(calls: tuple[Observation, ...]) -> Iterator[str]:
    for obs in calls:
        batch, hidden = obs.call.args
        if not obs.returned:
            yield describe_failure(obs)
        elif not isinstance(obs.value, torch.Tensor):
            yield f"{obs.call.label} returned {type_name(obs.value)}, not a tensor"
        elif tuple(obs.value.shape) != (batch, hidden):
            hint = " (one hidden state per sequence: batch_size rows)"
            got, want = shape_text(obs.value.shape), shape_text((int(batch), int(hidden)))
            yield f"{obs.call.label} returned shape {got}; expected {want}{hint}"


def init_hidden_values(ctx: Context) -> Verdict:
    calls = ctx.observations.of("init_hidden")
    if (verdict := unevaluable(calls, "init_hidden") or _not_tensor(calls)) is not None:
        return verdict
    problems = []
    for obs in calls:
        value = obs.value
        if not obs.returned or not isinstance(value, torch.Tensor):
            wrong_type = f"{obs.call.label} returned {type_name(value)}, not a tensor"
            problems.append(describe_failure(obs) if not obs.returned else wrong_type)
        elif not value.is_floating_point():
            problems.append(f"{obs.call.label} has dtype {value.dtype}: use a floating-point dtype")
        elif bool(value.ne(0).any()):
            problems.append(
                f"{obs.call.label} is not all zeros (max |value| {value.abs().max():.4g})"
            )
    return _verdict(problems, "all zeros, floating point", len(calls))


def _weights(obs: Observation) -> tuple[torch.Tensor, ...] | str:
    value = obs.value
    if not obs.returned:
        return describe_failure(obs)
    if not isinstance(value, tuple | list) or len(value) != 3:
        return f"{obs.call.label} returned {type_name(value)}; expected a tuple (W_xh, W_hh, b_h)"
    for name, item in zip(_WEIGHT_NAMES, value, strict=True):
        if not isinstance(item, torch.Tensor):
            return f"{obs.call.label}: {name} is {type_name(item)}, not a tensor"
    return tuple(value)


def init_weights_shape(ctx: Context) -> Verdict:
    calls = ctx.observations.of("init_weights")
    if (verdict := unevaluable(calls, "init_weights") or _not_triple(calls)) is not None:
        return verdict
    problems = []
    for obs in calls:
        got = _weights(obs)
        if isinstance(got, str):
            problems.append(got)
            continue
        inputs, hidden = int(obs.call.args[0]), int(obs.call.args[1])
        wanted: tuple[tuple[int, ...], ...] = ((inputs, hidden), (hidden, hidden), (hidden,))
        for name, tensor, shape in zip(_WEIGHT_NAMES, got, wanted, strict=True):
            hint = "that is nn.Linear's (out, in) layout"
            if problem := shape_mismatch(obs.call.label, name, tensor.shape, shape, hint):
                problems.append(problem)
    linear = any("nn.Linear" in p for p in problems)
    ok = "W_xh (input, hidden), W_hh (hidden, hidden), b_h (hidden,)"
    return _verdict(problems, ok, len(calls), "nn-linear-layout" if linear else None)


def init_weights_values(ctx: Context) -> Verdict:
    calls = ctx.observations.of("init_weights")
    if (verdict := unevaluable(calls, "init_weights") or _not_triple(calls)) is not None:
        return verdict
    problems = []
    mistake = None
    for obs, expected in zip(calls, ctx.expected.weights, strict=True):
        got = _weights(obs)
        if isinstance(got, str):
            problems.append(got)
            continue
        wrong = [n for n, a, e in zip(_WEIGHT_NAMES, got, expected, strict=True) if not _same(a, e)]
        if wrong:
            problems.append(f"{obs.call.label}: {', '.join(wrong)} differ from the seeded draws")
            mistake = mistake or _weights_mistake(obs, got)
    ok = "equal to torch.manual_seed(seed) then randn, randn, zeros"
    verdict = _verdict(problems, ok, len(calls), mistake)
    if problems and mistake is None:
        verdict.details["hint"] = "seed with torch.manual_seed(seed), then randn W_xh, then W_hh"
    return verdict


def _same(actual: torch.Tensor, expected: torch.Tensor) -> bool:
    return allclose(actual, expected, atol=1e-6, rtol=0)


def _weights_mistake(obs: Observation, got: tuple[torch.Tensor, ...]) -> str | None:
    inputs, hidden, seed = (int(a) for a in obs.call.args)
    swapped = reference.init_weights(inputs, hidden, seed, hidden_first=True)
    if all(_same(a, e) for a, e in zip(got, swapped, strict=True)):
        return "init-weights-order"
    if any(
        tuple(a.shape) == tuple(e.shape)[::-1] != tuple(e.shape)
        for a, e in zip(got, swapped, strict=True)
    ):
        return "nn-linear-layout"
    return None
