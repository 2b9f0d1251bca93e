"""Checks of to_nn_rnn: the returned module, and parity of a fresh nn.RNN built by the grader."""

from __future__ import annotations

from typing import Any

import torch

from grader import reference
from grader.cases import ForwardCase
from grader.checks.common import (
    Context,
    Verdict,
    close,
    describe_failure,
    failed,
    passed,
    shape_mismatch,
    shape_text,
    type_name,
    unevaluable,
    wrong_type,
)
from grader.misconceptions import tag
from grader.observations import ModuleInfo, Observation

_WANTED_CONFIG: dict[str, Any] = {
    "num_layers": 1,
    "nonlinearity": "tanh",
    "batch_first": True,
    "bidirectional": False,
}


def _shapes(inputs: int, hidden: int) -> dict[str, tuple[int, ...]]:
    return {
        "weight_ih_l0": (hidden, inputs),
        "weight_hh_l0": (hidden, hidden),
        "bias_ih_l0": (hidden,),
        "bias_hh_l0": (hidden,),
    }


def _not_module(calls: tuple[Observation, ...]) -> Verdict | None:
    return wrong_type(calls, lambda v: isinstance(v, ModuleInfo), "a torch.nn.RNN")


def module_check(ctx: Context) -> Verdict:
    calls = ctx.observations.of("to_nn_rnn")
    if (verdict := unevaluable(calls, "to_nn_rnn") or _not_module(calls)) is not None:
        return verdict
    problems = [p for obs in calls if (p := _module_problem(obs)) is not None]
    if problems:
        mistake = _module_mistake(problems)
        return failed(problems[0], **tag({"problems": problems[:5]}, mistake))
    return passed(
        "an exact torch.nn.RNN: one layer, tanh, batch_first=True, right parameter shapes"
    )


def _module_mistake(problems: list[str]) -> str | None:
    if any("batch_first=False" in p for p in problems):
        return "nn-rnn-not-batch-first"
    return "nn-rnn-untransposed" if any("transpose" in p for p in problems) else None


def _module_problem(obs: Observation) -> str | None:
    if not obs.returned:
        return describe_failure(obs)
    module = obs.value
    if not isinstance(module, ModuleInfo):
        return f"{obs.call.label}: returned {type_name(module)}, not a torch.nn.RNN"
    if not module.exact_rnn:
        return f"{obs.call.label}: returned {module.type}; expected exactly torch.nn.RNN"
    for key, wanted in _WANTED_CONFIG.items():
        if module.config.get(key, wanted) != wanted:
            return f"{obs.call.label}: {key}={module.config.get(key)!r}, expected {wanted!r}"
    case = obs.call.case
    assert case is not None
    _, _, inputs, hidden = case.dims
    for name, shape in _shapes(inputs, hidden).items():
        param = module.params.get(name)
        if param is None:
            return f"{obs.call.label}: parameter {name} is missing (bias=True is needed for b_h)"
        hint = "transpose: nn.RNN stores (hidden, input)"
        if problem := shape_mismatch(obs.call.label, name, param.shape, shape, hint):
            return problem
    return None


def parity_check(ctx: Context) -> Verdict:
    calls = ctx.observations.of("to_nn_rnn")
    if (verdict := unevaluable(calls, "to_nn_rnn") or _not_module(calls)) is not None:
        return verdict
    problems: list[str] = []
    mistakes: list[str] = []
    for obs in calls:
        problem, mistake = _parity_problem(obs, ctx.expected.forward[obs.call.index])
        problems += [problem] if problem else []
        mistakes += [mistake] if mistake else []
    matched = len(calls) - len(problems)
    summary = (
        "a fresh nn.RNN with the returned parameters matches the reference"
        f" on {matched} of {len(calls)} cases"
    )
    if not problems:
        return passed(summary)
    details = tag({"problems": problems[:5]}, mistakes[0] if mistakes else None)
    details.setdefault("hint", "copy W_xh.T, W_hh.T and b_h into the module, bias_hh_l0 zeros")
    return failed(f"{summary}; {problems[0]}", fraction=matched / len(calls), **details)


def _parity_problem(obs: Observation, expected: torch.Tensor) -> tuple[str | None, str | None]:
    """Why this case's rebuilt nn.RNN misses the reference, and the mistake that explains it."""
    case = obs.call.case
    assert case is not None
    if not obs.returned:
        return describe_failure(obs), None
    if obs.mutated:
        return f"{obs.call.label}: wrote into its argument {', '.join(obs.mutated)}", None
    module = obs.value
    if not isinstance(module, ModuleInfo):
        return f"{obs.call.label}: returned {type_name(module)}, not a module", None
    _, _, inputs, hidden = case.dims
    params = {}
    for name, shape in _shapes(inputs, hidden).items():
        param = module.params.get(name, torch.zeros(shape) if name.startswith("bias") else None)
        if param is None or tuple(param.shape) != shape:
            got = "missing" if param is None else shape_text(param.shape)
            flipped = param is not None and tuple(param.shape) == shape[::-1]
            message = f"{obs.call.label}: {name} is {got}, expected {shape_text(shape)}"
            return message, "nn-rnn-untransposed" if flipped else None
        params[name] = param
    output = reference.nn_rnn_forward(params, case.x, case.h0)
    if close(output, expected, case):
        return None, None
    error = float((output - expected).abs().max())
    return f"{obs.call.label}: outputs differ by up to {error:.3g}", _value_mistake(params, case)


def _value_mistake(params: dict[str, torch.Tensor], case: ForwardCase) -> str | None:
    """Replays the returned parameters with one known slip undone."""
    expected = reference.forward(case.x, case.h0, case.W_xh, case.W_hh, case.b_h)
    transposed = {name: params[name].T for name in ("weight_ih_l0", "weight_hh_l0")}
    undone = {
        "nn-rnn-bias-hh": {**params, "bias_hh_l0": torch.zeros_like(params["bias_hh_l0"])},
        "nn-rnn-untransposed": {**params, **transposed},
    }
    for name, fixed in undone.items():
        shapes_ok = all(fixed[k].shape == params[k].shape for k in params)
        if shapes_ok and close(reference.nn_rnn_forward(fixed, case.x, case.h0), expected, case):
            return name
    return None
