"""Reference answers for a case set, from the solution notebook's functions, in float64.

The functions come from the assignment's solution notebook (`load.py`), run trusted in the
grader's own process only; a zygote never holds them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from grader.plan import PlannedCall
from grader.spec import Spec


@dataclass(frozen=True, kw_only=True)
class Expected:
    """Reference answers for one case set, computed once and shared by every submission."""

    sequence: tuple[torch.Tensor, ...]  # float64 output per forward case (batch, seq, ...)
    # Per forward case, the final states after h_n (an LSTM's c_n), float64; () for an RNN.
    states: tuple[tuple[torch.Tensor, ...], ...] = ()
    answers: Mapping[str, tuple[Any, ...]]  # other functions' answers, per call in plan order

    def of(self, function: str) -> tuple[Any, ...]:
        return self.answers.get(function, ())


def expected_for(
    planned: Sequence[PlannedCall], spec: Spec, solution: Mapping[str, Callable[..., Any]]
) -> Expected:
    """The solution's answer to every call the plan makes. Every function returning a sequence
    is judged against the first such one (the contract gives them the same values), in float64;
    a module's parity against that too."""
    first = next((f.name for f in spec.functions if f.returns == "sequence"), "")
    sequence: dict[int, torch.Tensor] = {}
    states: dict[int, tuple[torch.Tensor, ...]] = {}
    answers: dict[str, list[Any]] = {}
    state = torch.get_rng_state()  # a solution may seed torch's global generator: put it back
    try:
        with torch.no_grad():
            for call in planned:
                returns = spec.function(call.function).returns
                if returns == "sequence" and call.index not in sequence:
                    sequence[call.index], *rest = _results64(solution[first], call.args)
                    states[call.index] = tuple(rest[1:])  # after h_n
                elif returns in ("tensor", "tensors"):
                    answer = solution[call.function](*call.args)
                    answers.setdefault(call.function, []).append(
                        tuple(answer) if returns == "tensors" else answer
                    )
    finally:
        torch.set_rng_state(state)
    ordered = tuple(sequence[i] for i in sorted(sequence))
    finals = tuple(states[i] for i in sorted(states))
    return Expected(
        sequence=ordered, states=finals, answers={k: tuple(v) for k, v in answers.items()}
    )


def _results64(function: Callable[..., Any], args: tuple[Any, ...]) -> list[torch.Tensor]:
    """The tensors the function returns for these inputs in float64, nesting flattened."""
    result = function(*(a.to(torch.float64) if isinstance(a, torch.Tensor) else a for a in args))
    return _flat(result)


def _flat(value: Any) -> list[torch.Tensor]:
    if isinstance(value, tuple | list):
        return [tensor for item in value for tensor in _flat(item)]
    return [value]
