"""Cases -> the exact calls the sandbox makes, in order, and the job the child receives."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from grader.cases import PUBLIC_HIDDEN_SIZES, PUBLIC_WEIGHT_SIZES, CaseSet, ForwardCase
from grader.extract import Extracted
from grader.sandbox import wire
from grader.sandbox.client import Call, Job
from grader.spec import Spec


@dataclass(frozen=True, kw_only=True)
class PlannedCall:
    """One call of a student function and what it was given."""

    function: str  # graded function name
    index: int  # position in the case set's list for this function (forward cases by case)
    args: tuple[torch.Tensor | int, ...]  # the arguments, on CPU
    case: ForwardCase | None  # the forward case, for the three forward-style functions
    traced: bool = False  # record the torch calls it makes (forward-style calls on probe cases)
    public: bool = True  # its inputs are public; False for calls derived from the grading seed
    arg_names: tuple[str, ...] = ()  # the function's parameters, as the spec declares them

    @property
    def label(self) -> str:
        """How feedback names this call; hidden cases reveal no inputs."""
        if self.case is not None:
            return f"{'' if self.case.public else 'hidden '}case {self.case.name}".replace(
                "hidden case hidden-", "hidden case "
            )
        if not self.public:
            return f"{self.function} (hidden call {self.index + 1})"
        return f"{self.function}({', '.join(str(a) for a in self.args)})"


def plan(cases: CaseSet, spec: Spec) -> tuple[PlannedCall, ...]:
    """Every call, grouped by function in contract order, with its parameters' names."""
    names = {f.name: f.args for f in spec.functions}
    return tuple(replace(c, arg_names=names[c.function]) for c in _calls(cases))


def _calls(cases: CaseSet) -> list[PlannedCall]:
    calls: list[PlannedCall] = []
    for i, pair in enumerate(cases.hidden_sizes):
        public = i < PUBLIC_HIDDEN_SIZES
        calls.append(
            PlannedCall(function="init_hidden", index=i, args=pair, case=None, public=public)
        )
    for i, sizes in enumerate(cases.weight_sizes):
        public = i < PUBLIC_WEIGHT_SIZES
        calls.append(
            PlannedCall(function="init_weights", index=i, args=sizes, case=None, public=public)
        )
    for function in ("rnn_forward", "rnn_forward_fused"):
        calls += [
            _forward_call(function, i, case, i in cases.probes)
            for i, case in enumerate(cases.forward)
        ]
    for i in cases.probes:
        case = cases.forward[i]
        weights = (case.W_xh, case.W_hh, case.b_h)
        calls.append(
            PlannedCall(function="to_nn_rnn", index=i, args=weights, case=case, public=case.public)
        )
    return calls


def _forward_call(function: str, index: int, case: ForwardCase, traced: bool) -> PlannedCall:
    args = (case.x, case.h0, case.W_xh, case.W_hh, case.b_h)
    return PlannedCall(
        function=function, index=index, args=args, case=case, traced=traced, public=case.public
    )


def encode(calls: tuple[PlannedCall, ...]) -> tuple[Call, ...]:
    """The calls as the child receives them; done once per case set, shared by submissions."""
    return tuple(
        Call(function=c.function, args=tuple(_encode(a) for a in c.args), trace=c.traced)
        for c in calls
    )


def job(extracted: Extracted, calls: tuple[Call, ...], device: str) -> Job:
    """The child's whole view of a submission: its own code and the inputs, nothing else."""
    chunks = tuple({"source": c.source, "cell": c.cell, "line": c.line} for c in extracted.chunks)
    return Job(
        chunks=chunks,
        calls=tuple(c for c in calls if c.function in extracted.found),
        device=device,
    )


def _encode(value: torch.Tensor | int) -> object:
    return wire.encode_tensor(value) if isinstance(value, torch.Tensor) else value
