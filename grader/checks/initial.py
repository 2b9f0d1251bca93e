"""Checks of functions returning a tensor (zeros of the asked shape) or a tuple of tensors (each
as the reference draws it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from grader.checks.common import (
    Context,
    Finding,
    Verdict,
    describe_failure,
    failure_finding,
    findings_verdict,
    shape_mismatch,
    shape_text,
    type_name,
    unevaluable,
    unpack,
    wrong_type,
)
from grader.compare import allclose
from grader.misconceptions import Replays, tag
from grader.observations import Observation
from grader.spec import Spec, result_names

# What a tensors-returning function gives when its spec declares no results: the RNN's weights.
_WEIGHT_SHAPES = {"W_xh": ("input", "hidden"), "W_hh": ("hidden", "hidden"), "b_h": ("hidden",)}
_COUNTS = {2: "two", 3: "three", 4: "four"}
ONE_TENSOR = "one-tensor-for-several"  # the known mistake of one tensor for a declared tuple


def _declared(ctx: Context, function: str) -> dict[str, tuple[str, ...]]:
    """The tensors a function returns, in order, with their shapes in dimension names."""
    declared = ctx.spec.function(function)
    return dict(declared.shapes) if declared.shapes else dict(_WEIGHT_SHAPES)


def _sizes(obs: Observation, wanted: dict[str, tuple[str, ...]]) -> list[tuple[int, ...]]:
    """Each tensor's shape for this call: dimension "hidden" is the argument hidden_size."""
    named = zip(obs.call.arg_names, obs.call.args, strict=True)
    sizes = {name.removesuffix("_size"): int(value) for name, value in named}

    def size(name: str) -> int:
        factor, _, dim = name.rpartition("*")
        return int(factor or 1) * sizes[dim]

    return [tuple(size(d) for d in dims) for dims in wanted.values()]


def _dims_text(dims: tuple[str, ...]) -> str:
    return f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"


def _states(value: Any, names: tuple[str, ...]) -> list[Any] | None:
    """The returned tensors: the value itself for one name, a tuple's items for several."""
    parts = unpack(value, names if len(names) > 1 else names[0]) if names else {"": value}
    return None if parts is None else list(parts.values())


def _not_tensor(
    calls: tuple[Observation, ...], names: tuple[str, ...], spec: Spec
) -> Verdict | None:
    def acceptable(value: object) -> bool:
        items = _states(value, names)
        return items is not None and all(isinstance(t, torch.Tensor) for t in items)

    several = f"a tuple of {len(names)} tensors ({', '.join(names)})"
    verdict = wrong_type(calls, acceptable, several if len(names) > 1 else "a torch.Tensor")
    returned = [obs.value for obs in calls if obs.returned]
    alone = len(names) > 1 and all(isinstance(value, torch.Tensor) for value in returned)
    if verdict is not None and alone and ONE_TENSOR in {m.id for m in spec.mistakes}:
        tag(verdict.details, ONE_TENSOR)  # a declared tuple of tensors came back as one
    return verdict


def _named(label: str, names: tuple[str, ...], index: int) -> str:
    """How a message names one of the returned tensors: the call alone when there is one."""
    return f"{label}: {names[index]}" if len(names) > 1 else label


def _not_triple(calls: tuple[Observation, ...], names: tuple[str, ...]) -> Verdict | None:
    def triple(value: object) -> bool:
        items = value if isinstance(value, tuple | list) else ()
        return len(items) == len(names) and all(isinstance(t, torch.Tensor) for t in items)

    count = _COUNTS.get(len(names), str(len(names)))
    return wrong_type(calls, triple, f"a tuple of {count} tensors ({', '.join(names)})")


def tensor_shape(ctx: Context, function: str) -> Verdict:
    calls, names = ctx.observations.of(function), result_names(ctx.spec.function(function).results)
    if (
        verdict := unevaluable(calls, function, ctx.spec) or _not_tensor(calls, names, ctx.spec)
    ) is not None:
        return verdict
    findings = list(_hidden_shape_problems(calls, names, ctx.spec))
    if findings and _rows_fixed(calls, names):
        findings = [Finding(message=f.message, mistake="init-hidden-fixed-rows") for f in findings]
    ok = "shape (batch_size, hidden_size) for every size tried"
    return findings_verdict(findings, ok, calls=len(calls))


def _rows_fixed(calls: tuple[Observation, ...], names: tuple[str, ...]) -> bool:
    """The same number of rows came back for two or more different batch sizes."""
    firsts = [(obs, items[0]) for obs in calls if (items := _states(obs.value, names))]
    seen = [(int(obs.call.args[0]), first.shape[0]) for obs, first in firsts
            if isinstance(first, torch.Tensor) and first.dim() == 2]  # fmt: skip
    return len({b for b, _ in seen}) > 1 and len({rows for _, rows in seen}) == 1


def _hidden_shape_problems(
    calls: tuple[Observation, ...], names: tuple[str, ...], spec: Spec
) -> Iterator[Finding]:
    for obs in calls:
        batch, hidden = obs.call.args
        items = _states(obs.value, names) if obs.returned else None
        if not obs.returned:
            yield failure_finding(obs, spec)
        elif items is None:
            expected = f"a tuple ({', '.join(names)})"
            yield Finding(message=f"{obs.call.label} returned {type_name(obs.value)}; {expected}")
        for index, value in enumerate(items or ()):
            label = _named(obs.call.label, names, index)
            if not isinstance(value, torch.Tensor):
                yield Finding(message=f"{label} returned {type_name(value)}, not a tensor")
            elif tuple(value.shape) != (batch, hidden):
                got, want = shape_text(value.shape), shape_text((int(batch), int(hidden)))
                yield Finding(message=f"{label} returned shape {got}; expected {want}")
                break


def tensor_zeros(ctx: Context, function: str) -> Verdict:
    calls, names = ctx.observations.of(function), result_names(ctx.spec.function(function).results)
    if (
        verdict := unevaluable(calls, function, ctx.spec) or _not_tensor(calls, names, ctx.spec)
    ) is not None:
        return verdict
    findings = []
    for obs in calls:
        items = _states(obs.value, names) if obs.returned else None
        if not obs.returned:
            findings.append(failure_finding(obs, ctx.spec))
        elif items is None:
            message = f"{obs.call.label} returned {type_name(obs.value)}, not a tensor"
            findings.append(Finding(message=message))
        problems = (_zeros_problem(_named(obs.call.label, names, i), v)
                    for i, v in enumerate(items or ()))  # fmt: skip
        if (problem := next((p for p in problems if p is not None), None)) is not None:
            findings.append(Finding(message=problem))
    return findings_verdict(findings, "all zeros, floating point", calls=len(calls))


def _zeros_problem(label: str, value: Any) -> str | None:
    if not isinstance(value, torch.Tensor):
        return f"{label} returned {type_name(value)}, not a tensor"
    if not value.is_floating_point():
        return f"{label} has dtype {value.dtype}: use a floating-point dtype"
    if bool(value.ne(0).any()):
        return f"{label} is not all zeros (max |value| {value.abs().max():.4g})"
    return None


def _weights(obs: Observation, names: tuple[str, ...]) -> tuple[torch.Tensor, ...] | str:
    value = obs.value
    if not obs.returned:
        return describe_failure(obs)
    if not isinstance(value, tuple | list) or len(value) != len(names):
        expected = f"expected a tuple ({', '.join(names)})"
        return f"{obs.call.label} returned {type_name(value)}; {expected}"
    for name, item in zip(names, value, strict=True):
        if not isinstance(item, torch.Tensor):
            return f"{obs.call.label}: {name} is {type_name(item)}, not a tensor"
    return tuple(value)


def tensors_shape(ctx: Context, function: str) -> Verdict:
    calls, declared = ctx.observations.of(function), _declared(ctx, function)
    names = tuple(declared)
    if (verdict := unevaluable(calls, function, ctx.spec) or _not_triple(calls, names)) is not None:
        return verdict
    findings = []
    for obs in calls:
        got = _weights(obs, names)
        if isinstance(got, str):
            findings.append(
                failure_finding(obs, ctx.spec) if not obs.returned else Finding(message=got)
            )
            continue
        for name, tensor, shape in zip(names, got, _sizes(obs, declared), strict=True):
            label = obs.call.label
            if found := shape_mismatch(label, name, tensor.shape, shape, "nn-linear-layout"):
                findings.append(found)
    ok = ", ".join(f"{name} {_dims_text(dims)}" for name, dims in declared.items())
    return findings_verdict(findings, ok, calls=len(calls))


def tensors_exact(ctx: Context, function: str) -> Verdict:
    calls, names = ctx.observations.of(function), tuple(_declared(ctx, function))
    if (verdict := unevaluable(calls, function, ctx.spec) or _not_triple(calls, names)) is not None:
        return verdict
    findings = []
    for obs, expected in zip(calls, ctx.expected.of(function), strict=True):
        got = _weights(obs, names)
        if isinstance(got, str):
            findings.append(
                failure_finding(obs, ctx.spec) if not obs.returned else Finding(message=got)
            )
        elif found := _draws_differ(obs, (names, got), expected, ctx.known):
            findings.append(found)
    ok = "equal to torch.manual_seed(seed) then randn, randn, zeros"
    return findings_verdict(findings, ok, calls=len(calls))


def _draws_differ(
    obs: Observation,
    named: tuple[tuple[str, ...], tuple[torch.Tensor, ...]],
    expected: tuple[torch.Tensor, ...],
    known: Replays,
) -> Finding | None:
    """Which of the tensors differ from the seeded draws, and by how much."""
    names, got = named
    wrong = []
    pairs = list(zip(names, got, expected, strict=True))
    if all(_same(a, e) or _resized_constant(a, e) for _, a, e in pairs):
        return None  # only a zero bias of the wrong size: the shape check's charge alone
    for name, actual, want in pairs:
        if _same(actual, want):
            continue
        if actual.shape != want.shape:
            wrong.append(f"{name} has shape {shape_text(actual.shape)}")
        else:
            error = float((actual.to(torch.float64) - want.to(torch.float64)).abs().max())
            wrong.append(f"{name} differs by up to {error:.3g}")
    if not wrong:
        return None
    message = f"{obs.call.label}: {', '.join(wrong)} from the seeded draws"
    return Finding(message=message, mistake=_weights_mistake(obs, got, known))


def _same(actual: torch.Tensor, expected: torch.Tensor) -> bool:
    """Equal to the draw; a draw laid out reversed is charged by the shape check, not here."""
    if actual.shape != expected.shape and tuple(actual.shape) == tuple(expected.shape)[::-1]:
        drawn = actual.T if actual.dim() == 2 else actual
        as_drawn = actual.flatten().reshape(expected.shape)  # randn(hidden, input): same stream
        return _same(drawn, expected) or _same(as_drawn, expected)
    return allclose(actual, expected, atol=1e-6, rtol=0)


def _resized_constant(actual: torch.Tensor, expected: torch.Tensor) -> bool:
    """Both hold one same value throughout (zeros), at different sizes."""
    if actual.shape == expected.shape or not actual.numel() or not expected.numel():
        return False
    values = torch.cat([actual.detach().flatten(), expected.detach().flatten()])
    return bool((values.to(torch.float64) == float(values[0])).all())


def _weights_mistake(obs: Observation, got: tuple[torch.Tensor, ...], known: Replays) -> str | None:
    """A known mistake of the draws (such as their order), established by replaying it."""
    args = tuple(int(a) for a in obs.call.args)

    def same(replayed: Any) -> bool:
        return all(_same(a, e) for a, e in zip(got, replayed, strict=True))

    return known.replays_call(obs.call.function, args, same)
