"""Checks of to_nn_rnn: the returned module, and parity of a fresh nn.RNN built by the grader."""

from __future__ import annotations

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

_UNTRANSPOSED = "nn-rnn-untransposed"
_WEIGHTS = ("weight_ih_l0", "weight_hh_l0")


def _shapes(module: Module, inputs: int, hidden: int) -> dict[str, tuple[int, ...]]:
    """Each parameter's shape, from the spec's dimension names ("hidden", "4*hidden")."""
    sizes = {"input": inputs, "hidden": hidden}

    def size(name: str) -> int:
        factor, _, dim = name.rpartition("*")
        return int(factor or 1) * sizes[dim]

    return {param: tuple(size(d) for d in dims) for param, dims in module.params.items()}


def _not_module(calls: tuple[Observation, ...]) -> Verdict | None:
    return wrong_type(calls, lambda v: isinstance(v, ModuleInfo), "a torch.nn.RNN")


def module_check(ctx: Context, function: str) -> Verdict:
    calls = ctx.observations.of(function)
    if (verdict := unevaluable(calls, function) or _not_module(calls)) is not None:
        return verdict
    ok = (
        "an exact torch.nn.RNN: one layer, tanh, batch_first=True, right parameter shapes,"
        " the weights' dtype"
    )
    return findings_verdict(module_findings(calls, _module(ctx)), ok)


def _module(ctx: Context) -> Module:
    assert ctx.spec.module is not None, "the module kinds need the spec's module"
    return ctx.spec.module


def module_findings(calls: tuple[Observation, ...], wanted: Module) -> list[Finding]:
    """What is wrong with each returned module (the module check's charges)."""
    return [f for obs in calls if (f := _module_problem(obs, wanted)) is not None]


def _module_problem(obs: Observation, wanted: Module) -> Finding | None:
    if not obs.returned:
        return failure_finding(obs)
    module, label = obs.value, obs.call.label
    if not isinstance(module, ModuleInfo):
        return Finding(message=f"{label}: returned {type_name(module)}, not a torch.nn.RNN")
    if not module.exact_rnn:
        return Finding(message=f"{label}: returned {module.type}; expected exactly torch.nn.RNN")
    case = obs.call.case
    assert case is not None
    return (
        _config_problem(label, module, wanted)
        or _layout_problem(label, module, case, wanted)
        or (_dtype_problem(label, module, case))
    )


def _config_problem(label: str, module: ModuleInfo, spec: Module) -> Finding | None:
    for key, wanted in spec.config.items():
        if key not in module.config:  # deleted or replaced by a non-scalar: not the wanted value
            return Finding(message=f"{label}: the module has no {key} (expected {key}={wanted!r})")
        if module.config[key] != wanted:
            got = module.config[key]
            mistake = "nn-rnn-not-batch-first" if key == "batch_first" else None
            return Finding(message=f"{label}: {key}={got!r}, expected {wanted!r}", mistake=mistake)
    return None


def _layout_problem(label: str, module: ModuleInfo, case: Case, wanted: Module) -> Finding | None:
    _, _, inputs, hidden = case.dims
    for name, shape in _shapes(wanted, inputs, hidden).items():
        param = module.params.get(name)
        if param is None:
            message = f"{label}: parameter {name} is missing (bias=True is needed for b_h)"
            return Finding(message=message)
        if found := shape_mismatch(label, name, param.shape, shape, _UNTRANSPOSED):
            return found
    return None


def _dtype_problem(label: str, module: ModuleInfo, case: Case) -> Finding | None:
    want = case.x.dtype  # the weights are in the input's dtype
    wrong = sorted(name for name, param in module.params.items() if param.dtype != want)
    if not wrong:
        return None
    got = _dtype_name(module.params[wrong[0]].dtype)
    message = (
        f"{label}: the module is {got} ({', '.join(wrong)}) for {_dtype_name(want)} weights:"
        " build it with nn.RNN(..., dtype=W_xh.dtype) or convert it with .to(W_xh.dtype)"
    )
    default = got == "float32"  # nn.RNN's own default, kept because no dtype was asked for
    return Finding(message=message, mistake="nn-rnn-default-dtype" if default else None)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def parity_check(ctx: Context, function: str) -> Verdict:
    calls = ctx.observations.of(function)
    if (verdict := unevaluable(calls, function) or _not_module(calls)) is not None:
        return verdict
    charged = {f.mistake for f in module_findings(calls, _module(ctx))}  # undone: cost once
    findings = [
        f
        for obs in calls
        if (f := _parity_problem(obs, ctx.expected.sequence[obs.call.index], charged, ctx))
        is not None
    ]
    matched = len(calls) - len(findings)
    summary = (
        "a fresh nn.RNN with the returned parameters matches the reference"
        f" on {matched} of {len(calls)} cases"
    )
    if not findings:
        return passed(summary)
    details = tag({"problems": [f.message for f in findings[:5]]}, first_mistake(findings))
    return failed(f"{summary}; {findings[0].message}", fraction=matched / len(calls), **details)


def _parity_problem(
    obs: Observation, expected: torch.Tensor, charged: set[str | None], ctx: Context
) -> Finding | None:
    """Why this case's rebuilt nn.RNN misses the reference, and the mistake that explains it."""
    case, label = obs.call.case, obs.call.label
    assert case is not None
    if not obs.returned:
        return failure_finding(obs)
    if obs.mutated:
        return Finding(message=f"{label}: wrote into its argument {', '.join(obs.mutated)}")
    module = obs.value
    if not isinstance(module, ModuleInfo):
        return Finding(message=f"{label}: returned {type_name(module)}, not a module")
    shapes = _shapes(_module(ctx), *case.dims[2:])
    candidates = _parameters(label, module, shapes, undo=_UNTRANSPOSED in charged)
    if isinstance(candidates, Finding):
        return candidates
    tol = _tolerance(module, case, ctx.spec)
    outputs = [ctx.known.module_output(p, case.x, case[ctx.spec.initial]) for p in candidates]
    if any(allclose(out, expected, rtol=tol.rtol, atol=tol.atol) for out in outputs):
        return None
    mistake = _value_mistake(candidates[0], case, expected, tol, ctx.known)
    return _divergence(label, outputs[0], expected, mistake)


def _parameters(
    label: str, module: ModuleInfo, shapes: dict[str, tuple[int, ...]], *, undo: bool
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
            return Finding(message=message, mistake=_UNTRANSPOSED if flipped else None)
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
    case: Case,
    expected: torch.Tensor,
    tol: Tolerance,
    known: Replays,
) -> str | None:
    """Replays the returned parameters with one known slip undone."""
    transposed = {name: params[name].T for name in _WEIGHTS}
    undone = {
        "nn-rnn-bias-hh": {**params, "bias_hh_l0": torch.zeros_like(params["bias_hh_l0"])},
        _UNTRANSPOSED: {**params, **transposed},
    }
    for name, fixed in undone.items():
        if any(fixed[k].shape != params[k].shape for k in params):
            continue
        output = known.module_output(fixed, case.x, case[known.spec.initial])
        if allclose(output, expected, rtol=tol.rtol, atol=tol.atol):
            return name
    return None
