"""Cases -> the exact calls the sandbox makes, in order, and the job the child receives."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from grader.cases import Case, CaseSet
from grader.extract import Extracted
from grader.sandbox import wire
from grader.sandbox.client import Call, Job
from grader.spec import Function, Spec


@dataclass(frozen=True, kw_only=True)
class PlannedCall:
    """One call of a student function and what it was given."""

    function: str  # graded function name
    index: int  # position in the case set's list for this function (forward cases by case)
    args: tuple[torch.Tensor | int, ...]  # the arguments, on CPU
    case: Case | None  # the forward case, for the three forward-style functions
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
    """Every call, grouped by function in the spec's order.

    A function with plain-number calls in the case set gets those; one returning a module runs
    on the probe cases; any other on every case. Tensor arguments are the case's attributes of
    the parameters' names."""
    calls: list[PlannedCall] = []
    for function in spec.functions:
        if function.name in cases.calls:
            calls += [
                PlannedCall(function=function.name, index=i, args=args, case=None,
                            public=i < cases.public_calls, arg_names=function.args)
                for i, args in enumerate(cases.calls[function.name])
            ]  # fmt: skip
            continue
        probes_only = function.returns == "module"
        indexes = cases.probes if probes_only else range(len(cases.forward))
        calls += [_case_call(function, i, cases, traced=not probes_only) for i in indexes]
    return tuple(calls)


def _case_call(function: Function, index: int, cases: CaseSet, *, traced: bool) -> PlannedCall:
    case = cases.forward[index]
    return PlannedCall(
        function=function.name,
        index=index,
        args=tuple(case[name] for name in function.args),
        case=case,
        traced=traced and index in cases.probes,
        public=case.public,
        arg_names=function.args,
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
