"""Checks of a module-returning function: the module, and parity of a fresh one built here."""

from __future__ import annotations

from typing import Any

import torch

from grader.cases import Case
from grader.checks.common import (
    Context,
    Finding,
    Verdict,
    failed,
    failure_finding,
    findings_verdict,
    first_mistake,
    passed,
    shape_mismatch,
    shape_text,
    type_name,
    unevaluable,
    wrong_type,
)
from grader.compare import allclose
from grader.misconceptions import Replays, tag
from grader.observations import ModuleInfo, Observation
from grader.settings import Tolerance
from grader.spec import Module, Spec

_WEIGHTS = ("weight_ih_l0", "weight_hh_l0")  # torch's names in every recurrent module


def _shapes(module: Module, inputs: int, hidden: int) -> dict[str, tuple[int, ...]]:
    """Each parameter's shape, from the spec's dimension names ("hidden", "4*hidden")."""
    sizes = {"input": inputs, "hidden": hidden}

    def size(name: str) -> int:
        factor, _, dim = name.rpartition("*")
        return int(factor or 1) * sizes[dim]

    return {param: tuple(size(d) for d in dims) for param, dims in module.params.items()}


def _not_module(calls: tuple[Observation, ...], wanted: Module) -> Verdict | None:
    return wrong_type(calls, lambda v: isinstance(v, ModuleInfo), f"a {wanted.type}")


def _slip(wanted: Module, slip: str) -> str | None:
    """The id of the mistake the spec names for one of the engine's module slips, if any."""
    return wanted.mistakes.get(slip)


def _qualified(name: str) -> str:
    """A class's reported name ("torch.nn.modules.rnn.RNN") from its public one ("torch.nn.RNN")."""
    kind: Any = torch
    for part in name.split(".")[1:]:
        kind = getattr(kind, part, None)
    return f"{kind.__module__}.{kind.__qualname__}" if isinstance(kind, type) else name


def module_check(ctx: Context, function: str) -> Verdict:
    calls, wanted = ctx.observations.of(function), _module(ctx)
    if (
        verdict := unevaluable(calls, function, ctx.spec) or _not_module(calls, wanted)
    ) is not None:
        return verdict
    ok = f"an exact {wanted.type}: {wanted.summary}, right parameter shapes, the weights' dtype"
    arguments = ctx.spec.function(function).args
    return findings_verdict(module_findings(calls, ctx.spec, arguments), ok)


def _module(ctx: Context) -> Module:
    assert ctx.spec.module is not None, "the module kinds need the spec's module"
    return ctx.spec.module


def module_findings(
    calls: tuple[Observation, ...], spec: Spec, arguments: tuple[str, ...]
) -> list[Finding]:
    """What is wrong with each returned module (the module check's charges)."""
    return [f for obs in calls if (f := _module_problem(obs, spec, arguments)) is not None]


def _module_problem(obs: Observation, spec: Spec, arguments: tuple[str, ...]) -> Finding | None:
    if not obs.returned:
        return failure_finding(obs, spec)
    assert spec.module is not None, "the module kinds need the spec's module"
    wanted = spec.module
    module, label = obs.value, obs.call.label
    if not isinstance(module, ModuleInfo):
        return Finding(message=f"{label}: returned {type_name(module)}, not a {wanted.type}")
    if not module.exact or module.type != _qualified(wanted.type):
        return Finding(message=f"{label}: returned {module.type}; expected exactly {wanted.type}")
    case = obs.call.case
    assert case is not None
    return (
        _config_problem(label, module, wanted)
        or _layout_problem(label, module, case, wanted, arguments[-1])
        or (_dtype_problem(label, module, case, wanted, arguments[0]))
    )


def _config_problem(label: str, module: ModuleInfo, spec: Module) -> Finding | None:
    for key, wanted in spec.config.items():
        if key not in module.config:  # deleted or replaced by a non-scalar: not the wanted value
            return Finding(message=f"{label}: the module has no {key} (expected {key}={wanted!r})")
        if module.config[key] != wanted:
            got = module.config[key]
            mistake = _slip(spec, "not-batch-first") if key == "batch_first" else None
            return Finding(message=f"{label}: {key}={got!r}, expected {wanted!r}", mistake=mistake)
    return None


def _layout_problem(
    label: str, module: ModuleInfo, case: Case, wanted: Module, bias: str
) -> Finding | None:
    _, _, inputs, hidden = case.dims
    for name, shape in _shapes(wanted, inputs, hidden).items():
        param = module.params.get(name)
        if param is None:
            message = f"{label}: parameter {name} is missing (bias=True is needed for {bias})"
            return Finding(message=message)
        if found := shape_mismatch(label, name, param.shape, shape, _slip(wanted, "untransposed")):
            return found
    return None


def _dtype_problem(
    label: str, module: ModuleInfo, case: Case, wanted: Module, weight: str
) -> Finding | None:
    want = case.x.dtype  # the weights are in the input's dtype
    wrong = sorted(name for name, param in module.params.items() if param.dtype != want)
    if not wrong:
        return None
    got = _dtype_name(module.params[wrong[0]].dtype)
    short = wanted.type.removeprefix("torch.")
    message = (
        f"{label}: the module is {got} ({', '.join(wrong)}) for {_dtype_name(want)} weights:"
        f" build it with {short}(..., dtype={weight}.dtype) or convert it with .to({weight}.dtype)"
    )
    default = got == "float32"  # torch's own default, kept because no dtype was asked for
    return Finding(message=message, mistake=_slip(wanted, "default-dtype") if default else None)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def parity_check(ctx: Context, function: str) -> Verdict:
    calls, wanted = ctx.observations.of(function), _module(ctx)
    if (
        verdict := unevaluable(calls, function, ctx.spec) or _not_module(calls, wanted)
    ) is not None:
        return verdict
    arguments = ctx.spec.function(function).args
    charged = {f.mistake for f in module_findings(calls, ctx.spec, arguments)}  # undone: cost once
    findings = [
        f
        for obs in calls
        if (f := _parity_problem(obs, ctx.expected.sequence[obs.call.index], charged, ctx))
        is not None
    ]
    matched = len(calls) - len(findings)
    summary = (
        f"a fresh {wanted.type.removeprefix('torch.')} with the returned parameters matches the"
        " reference"
        f" on {matched} of {len(calls)} cases"
    )
    if not findings:
        return passed(summary)
    details = tag({"problems": [f.message for f in findings[:5]]}, first_mistake(findings))
    return failed(f"{summary}; {findings[0].message}", fraction=matched / len(calls), **details)


def _parity_problem(
    obs: Observation, expected: torch.Tensor, charged: set[str | None], ctx: Context
) -> Finding | None:
    """Why this case's rebuilt module misses the reference, and the mistake that explains it."""
    case, label = obs.call.case, obs.call.label
    assert case is not None
    if not obs.returned:
        return failure_finding(obs, ctx.spec)
    if obs.mutated:
        return Finding(message=f"{label}: wrote into its argument {', '.join(obs.mutated)}")
    module = obs.value
    if not isinstance(module, ModuleInfo):
        return Finding(message=f"{label}: returned {type_name(module)}, not a module")
    wanted = _module(ctx)
    shapes, untransposed = _shapes(wanted, *case.dims[2:]), _slip(wanted, "untransposed")
    undo = untransposed is not None and untransposed in charged
    candidates = _parameters(label, module, shapes, undo=undo, mistake=untransposed)
    if isinstance(candidates, Finding):
        return candidates
    tol = _tolerance(module, case, ctx.spec)
    states = [case[name] for name in wanted.states]
    outputs = [ctx.known.module_output(p, case.x, *states) for p in candidates]
    if any(allclose(out, expected, rtol=tol.rtol, atol=tol.atol) for out in outputs):
        return None
    mistake = _value_mistake(candidates[0], (case, states), expected, tol, ctx.known)
    return _divergence(label, outputs[0], expected, mistake)


def _parameters(
    label: str,
    module: ModuleInfo,
    shapes: dict[str, tuple[int, ...]],
    *,
    undo: bool,
    mistake: str | None,
) -> list[dict[str, torch.Tensor]] | Finding:
    """The parameters to rebuild from: as returned, and with a charged transposition undone."""
    params: dict[str, torch.Tensor] = {}
    for name, shape in shapes.items():
        param = module.params.get(name, torch.zeros(shape) if name.startswith("bias") else None)
        if param is not None and undo and tuple(param.shape) == shape[::-1] != shape:
            param = param.T  # the module check charged this layout already
        if param is None or tuple(param.shape) != shape:
            got = "missing" if param is None else shape_text(param.shape)
            flipped = param is not None and tuple(param.shape) == shape[::-1]
            message = f"{label}: {name} is {got}, expected {shape_text(shape)}"
            return Finding(message=message, mistake=mistake if flipped else None)
        params[name] = param
    if not undo:
        return [params]
    undone = {name: module.params[name].T for name in _WEIGHTS}  # a square W_hh hides it
    return [params, {**params, **{n: t for n, t in undone.items() if t.shape == params[n].shape}}]


def _tolerance(module: ModuleInfo, case: Case, spec: Spec) -> Tolerance:
    """The looser of the case's tolerance and that of the dtype the module's parameters have."""
    names = {case.dtype, *(_dtype_name(p.dtype) for p in module.params.values())}
    known = [spec.tolerances[n] for n in names if n in spec.tolerances]
    return max(known, key=lambda tol: tol.rtol)


def _divergence(
    label: str, output: torch.Tensor, expected: torch.Tensor, mistake: str | None
) -> Finding:
    error = torch.nan_to_num((output - expected).abs(), nan=float("inf"))
    flat = int(error.argmax())
    # divmod, not torch.unravel_index: that one imports sympy (half a second, once per process)
    step, unit = divmod(flat % (error.shape[1] * error.shape[2]), error.shape[2])
    message = (
        f"{label}: outputs differ by up to {float(error.flatten()[flat]):.3g}"
        f" (worst at step {int(step) + 1}, unit {int(unit)})"
    )
    return Finding(message=message, mistake=mistake)


def _value_mistake(
    params: dict[str, torch.Tensor],
    inputs: tuple[Case, list[torch.Tensor]],
    expected: torch.Tensor,
    tol: Tolerance,
    known: Replays,
) -> str | None:
    """Replays the returned parameters with one known slip undone."""
    (case, states), wanted = inputs, known.spec.module
    assert wanted is not None
    transposed = {name: params[name].T for name in _WEIGHTS}
    undone = {
        "bias-hh": {**params, "bias_hh_l0": torch.zeros_like(params["bias_hh_l0"])},
        "untransposed": {**params, **transposed},
    }
    for slip, fixed in undone.items():
        if any(fixed[k].shape != params[k].shape for k in params):
            continue
        output = known.module_output(fixed, case.x, *states)
        if allclose(output, expected, rtol=tol.rtol, atol=tol.atol):
            return _slip(wanted, slip)
    return None
