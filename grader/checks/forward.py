"""Checks of forward functions (rnn_forward, lstm_forward and their fused variants): shapes,
per-step values and final states."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import torch

from grader.cases import Case
from grader.checks import align
from grader.checks.common import (
    Context,
    Finding,
    Verdict,
    close,
    device_problem,
    failed,
    failure_finding,
    findings_verdict,
    passed,
    shape_text,
    steps_close,
    tensor_problem,
    type_name,
    unevaluable,
    unpack,
    wrong_type,
)
from grader.misconceptions import Replays, tag
from grader.observations import Observation
from grader.results import ITEMS_KEPT
from grader.sandbox import kernels
from grader.spec import Mistake, Spec, result_names, result_text

# How the sandbox's refusal of a built-in recurrent kernel reads: it names the kernel.
_REFUSED = re.compile(re.escape(kernels.MESSAGE) + r": ([\w.:]{1,80})")


@dataclass
class _Tally:
    """Running count of matching (case, step) pairs, with the first divergence."""

    matched: int = 0
    total: int = 0
    partly: int = 0  # cases whose output lacks steps or rows (the shape check's charge)
    first: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    mistake: str | None = None  # id of the recognised misconception, if any
    # Mistakes named along the way, in case order; True: named by a replay on one case only.
    named: list[tuple[str, bool]] = field(default_factory=list)
    seen: list[tuple[Case, torch.Tensor]] = field(default_factory=list)  # comparable outputs


_COUNTS = {2: "two", 3: "three", 4: "four"}


def _results(spec: Spec, function: str) -> tuple[Any, ...]:
    """The function's declared results: its output first, then its final states."""
    return spec.function(function).results


def _parts(obs: Observation, results: tuple[Any, ...]) -> list[Any] | None:
    """The returned output and final states, in declared order, when nested as declared; else
    a plain 3-D output alone or first, its final states None (the shape check charges them)."""
    parts = unpack(obs.value, results)
    if parts is not None:
        return list(parts.values())
    if (output := _bare_output(obs.value)) is None:
        return None
    return [output, *[None] * (len(result_names(results)) - 1)]


def _bare_output(value: object) -> torch.Tensor | None:
    """output returned without its final states, or with them nested otherwise: (output, h)."""
    first = value[0] if isinstance(value, tuple | list) and value else value
    return first if type(first) is torch.Tensor and first.dim() == 3 else None


def forward_shape(ctx: Context, function: str) -> Verdict:
    calls, results = ctx.observations.of(function), _results(ctx.spec, function)
    names = result_names(results)
    every = f"{result_text(results)}, {_COUNTS.get(len(names), 'all')} plain torch.Tensors"
    wrong = _not_results(calls, results, every, len(names))
    if (verdict := unevaluable(calls, function, ctx.spec) or wrong) is not None:
        return verdict
    findings = [f for obs in calls if (f := _shape_problem(obs, ctx.known, results)) is not None]
    findings = _unrefuted(findings, calls, ctx.known, results)
    if findings and _fixed_length(calls, results):  # one fact across cases explains every length
        findings = [Finding(message=f.message, mistake="hard-coded-length") for f in findings]
    shapes = [f"{names[0]} (batch, seq, hidden)", *(f"{n} (batch, hidden)" for n in names[1:])]
    listed = ", ".join(shapes[:-1]) + f" and {shapes[-1]}"
    return findings_verdict(findings, f"{listed} on all {len(calls)} cases")


def _unrefuted(
    findings: list[Finding],
    calls: tuple[Observation, ...],
    known: Replays,
    results: tuple[Any, ...],
) -> list[Finding]:
    """The findings, less the mistakes named by one case's replay that another case rules out."""
    outputs = [(o.call.case, p[0]) for o in calls if o.returned and (p := _parts(o, results))]

    def refuted(mistake: str) -> bool:
        return any(
            case is not None and isinstance(output, torch.Tensor)
            and known.refutes(case, output, calls[0].call.function, mistake)
            for case, output in outputs
        )  # fmt: skip

    named = {f.mistake for f in findings if f.mistake is not None}
    ruled_out = {mistake for mistake in named if refuted(mistake)}
    return [Finding(message=f.message) if f.mistake in ruled_out else f for f in findings]


def _fixed_length(calls: tuple[Observation, ...], results: tuple[Any, ...]) -> bool:
    """output has the same number of steps for inputs of different lengths."""
    pairs = [
        (obs.call.case.dims[1], value[0].shape[1])
        for obs in calls
        if obs.call.case is not None and (value := _parts(obs, results)) is not None
        and isinstance(value[0], torch.Tensor) and value[0].dim() == 3
    ]  # fmt: skip
    lengths, steps = {n for _, n in pairs}, {t for t, _ in pairs}
    return len(lengths) == 1 and len(steps) > 1 and any(t != n for t, n in pairs)


def _not_results(
    calls: tuple[Observation, ...], results: tuple[Any, ...], expected: str, tensors: int
) -> Verdict | None:
    """A verdict when no call returned the declared nesting with its first `tensors` tensors."""

    def acceptable(value: object) -> bool:
        parts = unpack(value, results)
        items = list(parts.values())[:tensors] if parts is not None else None
        if items is None and tensors == 1 and _bare_output(value) is not None:
            return True  # the values of an output returned without its final states count
        return items is not None and all(isinstance(t, torch.Tensor) for t in items)

    return wrong_type(calls, acceptable, expected)


def _shape_problem(obs: Observation, known: Replays, results: tuple[Any, ...]) -> Finding | None:
    """What is wrong with one case's shapes; a replayed mistake that produces them is named."""
    if not obs.returned:
        return failure_finding(obs, known.spec)
    case = obs.call.case
    assert case is not None
    batch, seq, _, hidden = case.dims
    label = obs.call.label
    parts = unpack(obs.value, results)
    if parts is None:
        expected = result_text(results)
        return Finding(message=f"{label}: returned {type_name(obs.value)}; expected {expected}")
    shapes = [(batch, seq, hidden), *[(batch, hidden)] * (len(parts) - 1)]
    for index, ((name, value), shape) in enumerate(zip(parts.items(), shapes, strict=True)):
        if not isinstance(value, torch.Tensor):
            return Finding(message=f"{label}: {name} is {type_name(value)}, not a tensor")
        if tuple(value.shape) != shape:
            got, want = shape_text(value.shape), shape_text(shape)
            message = f"{label}: {name} has shape {got}, expected {want}"
            function = obs.call.function
            found = known.diagnose(case, value, function) if index == 0 else None
            return Finding(message=message, mistake=found.id if found else None)
    return None


def builtin_used(ctx: Context, function: str) -> str | None:
    """The built-in recurrence the function's code names, ran into, or was traced calling."""
    if function in ctx.extracted.builtin_rnn_users:
        return ctx.extracted.builtin_rnn_names.get(function, "a built-in RNN")
    for obs in ctx.observations.of(function):
        if not obs.returned and (refused := _REFUSED.search(obs.error)) is not None:
            return refused.group(1).rstrip(":.")  # the sandbox refused the kernel it called
        if not obs.returned and kernels.MESSAGE in obs.error:  # the kernel's name was withheld
            return "a built-in recurrent kernel"
        if obs.trace is not None and (ops := ctx.spec.builtins & obs.trace.counts.keys()):
            return f"torch.{min(ops)}"
    return None


def escape_message(function: str, escape: str) -> str:
    """Why code that names an escape earns no value credit: its answer may not be its own."""
    return (
        f"{function}'s code uses {escape}, which can run code from outside the notebook (foreign"
        " functions, loading or inspecting code, torch internals): no credit, a forward pass"
        " written from scratch needs none of it"
    )


def forward_values(ctx: Context, function: str) -> Verdict:
    """The per-step partial-credit check of a forward function."""
    calls, results = ctx.observations.of(function), _results(ctx.spec, function)
    first = f"{result_text(results)} with {result_names(results)[0]} a plain torch.Tensor"
    if (builtin := builtin_used(ctx, function)) is not None:  # before "it raised": it's why
        return failed(
            f"{function} uses a built-in RNN ({builtin}): no credit,"
            " the point is to write the recurrence yourself",
            **tag({"builtin_rnn": True, "builtin": builtin}, "builtin-rnn"),
        )
    if (
        verdict := unevaluable(calls, function, ctx.spec) or _not_results(calls, results, first, 1)
    ) is not None:
        return verdict
    if (escape := ctx.extracted.escapes.get(function)) is not None:
        return failed(escape_message(function, escape), escape=escape)
    tally, fused = _Tally(), not _has_shape_check(ctx, function)
    for obs, expected in zip(calls, ctx.expected.sequence, strict=True):
        before = tally.total - tally.matched
        _tally_case(tally, obs, expected, ctx, fused=fused)
        whole = tally.total - tally.matched == before  # every step of this case matched
        if whole and obs.call.index < len(ctx.expected.states):
            _states_agree(tally, obs, ctx.expected.states[obs.call.index], results)
        if whole and fused:
            _states_missing(tally, obs, results)
    if tally.matched < tally.total:
        tally.mistake = _established(tally, ctx.known, function)
    return _values_verdict(tally)


def _has_shape_check(ctx: Context, function: str) -> bool:
    """Whether a shape check charges this function's wrong lengths (else its values do)."""
    return any(c.kind == "shape" and c.function == function for c in ctx.spec.checks)


def _tally_case(
    tally: _Tally, obs: Observation, expected: torch.Tensor, ctx: Context, *, fused: bool
) -> None:
    case = obs.call.case
    assert case is not None
    steps, results = case.x.shape[1], _results(ctx.spec, obs.call.function)
    output, problem = _comparable_output(obs, case, ctx.device, ctx.spec)
    judged, want = align.judged(output, expected, case, ctx.known, fused=fused)
    alone = judged is not None and want is not None and judged.shape[1] == 0 < steps and not fused
    if alone and want is not None:
        judged, want = _h_n_alone(obs, want, expected, results)
    if judged is None or want is None or (judged.shape[1] == 0 and steps > 0):
        tally.total += steps
        message = problem.message if problem else _unmatched(obs, output, case)
        tally.notes.append(message)
        if problem and problem.mistake:
            tally.named.append((problem.mistake, False))
        return
    assert output is not None
    tally.seen.append((case, output))
    matches = steps_close(judged, want, case)
    if matches and matches[-1]:
        matches[-1] = _h_n_agrees(tally, obs, (want, expected), case, results)
    tally.total += len(matches)
    tally.partly += judged.shape[:2] != expected.shape[:2]
    tally.matched += sum(matches)
    if all(matches):
        return
    if tally.first is None and alone:
        h_n = result_names(results)[1]
        tally.first = {"case": obs.call.label, "problem": f"no step, and {h_n} is not h_{steps}"}
    elif tally.first is None:
        tally.first = _divergence(obs, case, matches.index(False), judged, want)
    if (found := ctx.known.diagnose(case, output, obs.call.function)) is not None:
        tally.named.append((found.id, True))
    elif (moved := _moved_states(obs, ctx)) is not None:
        tally.named.append((moved.id, False))


def _established(tally: _Tally, known: Replays, function: str) -> str | None:
    """The first mistake named that no case rules out: a replay that fits one case but not
    another is a coincidence of that case (a sequence of one step, zero states), not the cause."""
    for mistake, replayed in tally.named:
        refuted = replayed and any(known.refutes(c, y, function, mistake) for c, y in tally.seen)
        if not refuted:
            return mistake
    return None


def _moved_states(obs: Observation, ctx: Context) -> Mistake | None:
    """The known mistake that returns the reference's final states in the wrong places."""
    parts, case = _parts(obs, _results(ctx.spec, obs.call.function)), obs.call.case
    names = result_names(_results(ctx.spec, obs.call.function))[1:]
    if not parts or case is None:
        return None
    got = {n: t for n, t in zip(names, parts[1:], strict=True) if isinstance(t, torch.Tensor)}
    return ctx.known.diagnose_states(case, got, obs.call.function)


def _unmatched(obs: Observation, output: torch.Tensor | None, case: Case) -> str:
    batch, steps, _, hidden = case.dims
    got = shape_text(output.shape) if output is not None else "?"
    want = shape_text((batch, steps, hidden))
    return f"{obs.call.label}: output has shape {got}, expected {want}: no step can be compared"


def _final_state(obs: Observation, hidden: int, results: tuple[Any, ...]) -> torch.Tensor | None:
    """h_n when its shape allows comparing it at all (a wrong shape costs the shape check)."""
    parts = _parts(obs, results)
    h_n = parts[1] if parts else None
    if not isinstance(h_n, torch.Tensor) or h_n.dim() != 2 or h_n.shape[1] != hidden:
        return None
    return h_n


def _h_n_alone(
    obs: Observation, want: torch.Tensor, expected: torch.Tensor, results: tuple[Any, ...]
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """With no step of output to judge, h_n stands for h_T on its own."""
    rows, _, hidden = want.shape
    h_n = _final_state(obs, hidden, results)
    if h_n is None or h_n.shape[0] < rows:
        return None, None
    return h_n[:rows].unsqueeze(1), expected[:rows, -1:]


def _h_n_agrees(
    tally: _Tally,
    obs: Observation,
    compared: tuple[torch.Tensor, torch.Tensor],
    case: Case,
    results: tuple[Any, ...],
) -> bool:
    """h_n must be h_T, or the state the output ends on when output's length was charged."""
    want, expected = compared
    rows, count, hidden = want.shape
    h_n = _final_state(obs, hidden, results)
    if h_n is None or h_n.shape[0] < rows:
        return True
    finals = (want[:, -1], expected[:rows, -1])
    if any(close(h_n[:rows], final, case) for final in finals):
        return True
    error = float((h_n[:rows].to(torch.float64) - want[:, -1]).abs().max())
    name = result_names(results)[1]
    tally.notes.append(f"{obs.call.label}: {name} differs from h_{count} by up to {error:.3g}")
    return False


def _states_agree(
    tally: _Tally, obs: Observation, wanted: tuple[torch.Tensor, ...], results: tuple[Any, ...]
) -> None:
    """The final states after h_n (an LSTM's c_n) must be the reference's; else the last step
    of this case is not credited."""
    parts, case = _parts(obs, results), obs.call.case
    names = result_names(results)[2:]
    if not parts or case is None or not wanted:
        return
    for name, got, want in zip(names, parts[2:], wanted, strict=True):
        if not isinstance(got, torch.Tensor) or got.shape != want.shape or close(got, want, case):
            continue  # a wrong shape costs the shape check
        error = float((got.to(torch.float64) - want).abs().max())
        tally.notes.append(f"{obs.call.label}: {name} differs by up to {error:.3g}")
        tally.matched -= 1
        return


def _states_missing(tally: _Tally, obs: Observation, results: tuple[Any, ...]) -> None:
    """With no shape check to charge them, final states not returned cost the case's last step."""
    parts = _parts(obs, results)
    names = result_names(results)[1:]
    missing = [name for name, part in zip(names, (parts or [])[1:], strict=False) if part is None]
    if missing and tally.matched:
        tally.notes.append(f"{obs.call.label}: {' and '.join(missing)} not returned")
        tally.matched -= 1


def credible_trace(
    obs: Observation, expected: torch.Tensor, device: str, known: Replays
) -> str | None:
    """Why a traced call's torch calls cannot be taken as how it computed its answer, if so.

    Its output must be right on every step, or wrong the way a known mistake is (a decoy
    product beside the real work gives neither)."""
    case = obs.call.case
    assert case is not None
    output, problem = _comparable_output(obs, case, device, known.spec)
    if output is None:
        return problem.message if problem else "it returned nothing to compare"
    if output.shape[1] == expected.shape[1] and all(steps_close(output, expected, case)):
        return None
    if known.diagnose(case, output, obs.call.function) is not None:
        return None
    return "its output is wrong in a way no known mistake explains"


def _comparable_output(
    obs: Observation, case: Case, device: str, spec: Spec
) -> tuple[torch.Tensor | None, Finding | None]:
    label, results = obs.call.label, _results(spec, obs.call.function)
    if not obs.returned:
        return None, failure_finding(obs, spec)
    if obs.mutated:
        message = f"wrote into its argument {', '.join(obs.mutated)}: no credit for this case" \
                  " (work on new tensors, never modify the caller's)"  # fmt: skip
        return None, Finding(message=f"{label}: {message}", mistake="overwrites-argument")
    parts = _parts(obs, results)
    if parts is None:
        message = f"{label}: returned {type_name(obs.value)}; expected {result_text(results)}"
        return None, Finding(message=message)
    output = parts[0]
    problem = tensor_problem(output, case.dtype, device) or device_problem(obs, device)
    if problem:
        message = f"{label}: output {problem.message}"
        return None, Finding(message=message, mistake=problem.mistake)
    if output.dim() != 3 or output.shape[2] != case.dims[3]:
        shape = shape_text(output.shape)
        return None, Finding(message=f"{label}: output shape {shape} cannot be compared")
    return output, None


def _divergence(
    obs: Observation, case: Case, t: int, output: torch.Tensor, expected: torch.Tensor
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
        kept = tensor[0, :ITEMS_KEPT]  # a 250,000-step output took 13 s and 26 MB to list
        return [[round(float(v), 6) for v in step] for step in kept.detach().cpu()]

    return {"expected": rows(expected), "actual": rows(output)}


def _values_verdict(tally: _Tally) -> Verdict:
    fraction = tally.matched / tally.total if tally.total else 0.0
    summary = f"h_t matches on {tally.matched} of {tally.total} (case, step) pairs"
    if tally.partly:
        summary += (f" that output holds (the steps or rows missing in {tally.partly} cases"
                    " cost the shape check)")  # fmt: skip
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
