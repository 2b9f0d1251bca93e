"""Checks of to_nn_rnn: the returned module, and parity of a fresh nn.RNN built by the grader."""

from __future__ import annotations

from typing import Any

import torch

from grader import reference
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
        return failed(problems[0], problems=problems[:5])
    return passed(
        "an exact torch.nn.RNN: one layer, tanh, batch_first=True, right parameter shapes"
    )


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
    matched = 0
    for obs, expected in zip(calls, ctx.expected.forward, strict=True):
        problem = _parity_problem(obs, expected)
        if problem is None:
            matched += 1
        else:
            problems.append(problem)
    summary = (
        "a fresh nn.RNN with the returned parameters matches the reference"
        f" on {matched} of {len(calls)} cases"
    )
    if not problems:
        return passed(summary)
    return failed(f"{summary}; {problems[0]}", fraction=matched / len(calls), problems=problems[:5],
                  hint=_hint(problems[0]))  # fmt: skip


def _parity_problem(obs: Observation, expected: torch.Tensor) -> str | None:
    case = obs.call.case
    assert case is not None
    if not obs.returned:
        return describe_failure(obs)
    if obs.mutated:
        return f"{obs.call.label}: wrote into its argument {', '.join(obs.mutated)}"
    module = obs.value
    if not isinstance(module, ModuleInfo):
        return f"{obs.call.label}: returned {type_name(module)}, not a module"
    _, _, inputs, hidden = case.dims
    params = {}
    for name, shape in _shapes(inputs, hidden).items():
        param = module.params.get(name, torch.zeros(shape) if name.startswith("bias") else None)
        if param is None or tuple(param.shape) != shape:
            got = "missing" if param is None else shape_text(param.shape)
            return f"{obs.call.label}: {name} is {got}, expected {shape_text(shape)}"
        params[name] = param
    output = reference.nn_rnn_forward(params, case.x, case.h0)
    if not close(output, expected, case):
        error = float((output - expected).abs().max())
        return f"{obs.call.label}: outputs differ by up to {error:.3g}"
    return None


def _hint(problem: str) -> str:
    if "weight" in problem and "expected" in problem:
        return "nn.RNN stores weight_ih_l0 as (hidden, input): copy W_xh.T and W_hh.T"
    return "copy W_xh.T, W_hh.T and b_h into the module, and set bias_hh_l0 to zeros"
