"""Check of a fused forward's structure: one matrix product per step, on the concatenation."""

from __future__ import annotations

from typing import Any

from grader.checks.common import Context, Verdict, failed, passed, unevaluable
from grader.checks.forward import builtin_used, credible_trace, escape_message
from grader.misconceptions import tag
from grader.observations import Observation
from grader.sandbox.capture import DISTURBED, UNUSED

CONCAT_OPS = frozenset({"cat", "concat", "concatenate", "hstack", "column_stack"})
_WHY = "structure is credited only on traced calls that return an answer their products explain"


def fused_structure(ctx: Context, function: str) -> Verdict:
    calls = ctx.observations.of(function)
    if (builtin := builtin_used(ctx, function)) is not None:
        return failed(f"{function} uses a built-in RNN ({builtin}) instead of one matrix product")
    if (verdict := unevaluable(calls, function, ctx.spec)) is not None:
        return verdict
    if (evasion := ctx.extracted.tracer_evaders.get(function)) is not None:
        return failed(f"{function} uses {evasion}, which hides torch calls from the tracer")
    probes = [(o, e) for o, e in zip(calls, ctx.expected.sequence, strict=True) if o.call.traced]
    if (problem := _untrustworthy(probes, ctx, function)) is not None:
        return failed(f"{problem}; {_WHY}")
    if (escape := ctx.extracted.escapes.get(function)) is not None:
        return failed(escape_message(function, escape))
    traced = [obs for obs, _ in probes]
    problems = [p for obs in traced if (p := _structure_problem(obs)) is not None]
    if problems:
        doubled = all(obs.trace is not None and len(obs.trace.products) == 2 * obs.call.case.dims[1]
                      for obs in traced if obs.call.case is not None)  # fmt: skip
        details: dict[str, Any] = {"problems": problems[:5]}
        if doubled:
            return failed(problems[0], **tag(details, "fused-two-products"))
        hint = "concatenate [x_t, h] and multiply once by cat([W_xh, W_hh], 0) each step"
        return failed(problems[0], **details, hint=hint)
    return passed(
        f"one matrix product per time step on the concatenation, in all {len(traced)} traced cases"
    )


def _untrustworthy(
    probes: list[tuple[Observation, Any]], ctx: Context, function: str
) -> str | None:
    """Why the traced calls cannot show the structure: none, one failed, or the trace is off."""
    if not probes:
        return f"no call of {function} was traced"
    for obs, expected in probes:
        label = obs.call.label
        if obs.trace is None:
            return f"{label}: no trace came back"
        if DISTURBED in obs.trace.counts:
            return f"{label}: the tracer was tampered with during the call"
        if (reason := credible_trace(obs, expected, ctx.device, ctx.known)) is not None:
            return f"{label}: {reason}"
    return None


def _structure_problem(obs: Observation) -> str | None:
    case, trace = obs.call.case, obs.trace
    assert case is not None and trace is not None
    _, steps, inputs, hidden = case.dims
    products = trace.products
    if not CONCAT_OPS & trace.counts.keys():
        return f"{obs.call.label}: no concatenation (torch.cat) of x_t and h was seen"
    if len(products) != steps:
        per = f" ({len(products) / steps:.3g} per step)" if steps else ""
        return f"{obs.call.label}: {len(products)} matrix products for {steps} time steps{per}"
    widths = {inputs + hidden, inputs + hidden + 1}  # + 1: a column of ones for the bias row
    if not all(any(widths & set(shape) for shape in shapes) for _, shapes in products):
        return f"{obs.call.label}: the matrix products are not on the concatenated [x_t, h]"
    if unused := trace.counts.get(UNUSED, 0):
        return (f"{obs.call.label}: {unused} of the {steps} matrix products' results were never"
                " used: the product must be the step's pre-activation")  # fmt: skip
    return None
