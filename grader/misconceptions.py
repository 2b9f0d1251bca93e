"""Known mistakes: replayed on the reference (`Replays`, one per Grader), or raised as exceptions.

The spec declares each mistake as structured facts (`grader.spec.Replay`): a change of the
inputs, of the reference's output, or a mistaken function of its own. When a wrong answer
matches exactly one replay on a case that tells it apart from the right answer, it is named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch

from grader.cases import Case
from grader.compare import allclose
from grader.sandbox import kernels
from grader.spec import Mistake, Replay, Spec, result_names

# Exception openings that carry no input (the sandbox's refusal, torch's words): a grade that
# ran hidden cases withholds every message but these openings, so their mistakes stay named.
# The RNN's and the LSTM's declared `Mistake.raises`; a grade may pass its spec's instead.
QUOTABLE = (
    f"RuntimeError: {kernels.MESSAGE}",
    "RuntimeError: a leaf Variable that requires grad is being used in an in-place operation",
)


def quotable(error: str, openings: tuple[str, ...] = QUOTABLE) -> str | None:
    """The one of `openings` that `error` ("Type: message" as the child reports it) starts
    with, if any."""
    return next((opening for opening in openings if opening and error.startswith(opening)), None)


def exception_type(error: str) -> str:
    """The exception's type name in an error as the child reports it ("Type: message")."""
    return error.partition(": ")[0]


def error_mistake(error: str, spec: Spec) -> str | None:
    """The spec's known mistake that raises this exception ("Type: message" as the child reports
    it): the first whose declared `raises` the error starts with."""
    exception, _, message = error.partition(": ")
    for mistake in spec.mistakes:
        kind, _, starts = mistake.raises.partition(": ")
        if mistake.raises and exception == kind and message.startswith(starts):
            return mistake.id
    return None


def tag(details: dict[str, Any], name: str | None) -> dict[str, Any]:
    """Name a recognised mistake in a check's details (first one wins); scoring adds its hint."""
    if name is not None and "misconception" not in details:
        details["misconception"] = name
    return details


Reference = Mapping[str, Callable[..., Any]]
_HELD = 256  # cases remembered: more than any case set has


class Replays:
    """The spec's known mistakes replayed on its reference, remembered per case and function.

    One per Grader: a batch worker replays each case once for every submission it grades."""

    def __init__(self, spec: Spec, reference: Reference) -> None:
        self.spec = spec
        self.reference = reference
        self._held: dict[tuple[int, str], tuple[Case, torch.Tensor, list[Any]]] = {}
        self._modules: dict[tuple[int, int], torch.nn.Module] = {}  # float64, one per shape
        self._outputs: dict[tuple[bytes, ...], torch.Tensor] = {}  # exact inputs -> output

    def module_output(
        self, params: Mapping[str, torch.Tensor], x: torch.Tensor, *states: torch.Tensor
    ) -> torch.Tensor:
        """Output of a fresh float64 module of the spec's type loaded with `params`, started from
        the initial `states` (h0; or h0 and c0 for an LSTM), each (batch, hidden).

        Remembered by the exact bytes of every input: most students return the same parameters
        (an exact transpose), so a batch runs the module once per distinct set."""
        assert self.spec.module is not None
        weights = {name: params[name].to(torch.float64) for name in self.spec.module.params}
        x64, states64 = x.to(torch.float64), [s.to(torch.float64).unsqueeze(0) for s in states]
        every = (*weights.values(), x64, *states64)
        key = tuple(repr(t.shape).encode() + t.detach().numpy().tobytes() for t in every)
        if (known := self._outputs.get(key)) is not None:
            return known
        hidden = states[0].shape[-1]
        module = self._module(x.shape[-1], hidden)
        with torch.no_grad():
            for name, value in weights.items():
                getattr(module, name).copy_(value)  # all of them, every time
            start = states64[0] if len(states64) == 1 else tuple(states64)
            output: torch.Tensor = module(x64, start)[0]
        if len(self._outputs) >= 4096:
            self._outputs.clear()
        self._outputs[key] = output
        return output

    def _module(self, inputs: int, hidden: int) -> torch.nn.Module:
        if (module := self._modules.get((inputs, hidden))) is None:
            assert self.spec.module is not None
            kind: Any = torch
            for part in self.spec.module.type.split(".")[1:]:  # "torch.nn.RNN" -> torch.nn.RNN
                kind = getattr(kind, part)
            module = kind(inputs, hidden, batch_first=True).double()
            self._modules[(inputs, hidden)] = module
        return module

    def step_offset(self, case: Case, output: torch.Tensor) -> int:
        """Where step 1 sits in a batch-first output: 1 when an extra first step is the initial
        state, else 0."""
        initial = case[self.spec.initial]
        steps = case.x.shape[1]
        if output.dim() != 3 or output.shape[1] != steps + 1 or output.shape[0] != initial.shape[0]:
            return 0
        tol = self.spec.tolerances[case.dtype]
        return 1 if allclose(output[:, 0], initial, rtol=tol.rtol, atol=tol.atol) else 0

    def diagnose(self, case: Case, actual: torch.Tensor, function: str) -> Mistake | None:
        """The known mistake that reproduces `actual` on this case, if exactly one kind does."""
        correct, replays = self.replayed(case, function)
        tol = self.spec.tolerances[case.dtype]
        got = actual.to(torch.float64)
        found = []
        for mistake, replay in replays:
            if replay.shape != got.shape or replay.numel() == 0:
                continue  # an empty replay matches an empty answer without establishing anything
            if allclose(replay, correct, rtol=tol.rtol, atol=tol.atol):
                continue  # this case cannot tell the mistake apart from the right answer
            if allclose(got, replay, rtol=tol.rtol, atol=tol.atol):
                found.append(mistake)
        return found[0] if len(found) == 1 else None  # two that fit: this case cannot tell which

    def refutes(self, case: Case, actual: torch.Tensor, function: str, mistake: str) -> bool:
        """Whether this case rules the mistake out: its replay here is not the right answer,
        and `actual` is not the replay either (a mistake named by one case must fit them all)."""
        correct, replays = self.replayed(case, function)
        tol = self.spec.tolerances[case.dtype]
        for known, replay in replays:
            if known.id != mistake or replay.numel() == 0:
                continue
            if allclose(replay, correct, rtol=tol.rtol, atol=tol.atol):
                return False  # this case cannot tell the mistake apart from the right answer
            return not allclose(actual.to(torch.float64), replay, rtol=tol.rtol, atol=tol.atol)
        return False

    def diagnose_states(
        self, case: Case, got: Mapping[str, torch.Tensor], function: str
    ) -> Mistake | None:
        """The known mistake whose final states, moved as it declares, are the returned ones
        (`got`: final state name -> the tensor returned in its place)."""
        moving = [m for m in self.spec.mistakes if m.replay is not None and m.replay.states]
        if not moving:
            return None  # spares the reference's run on every wrong answer
        finals = self.finals(case, function)
        tol = self.spec.tolerances[case.dtype]

        def same(a: torch.Tensor, b: torch.Tensor) -> bool:
            return a.shape == b.shape and allclose(a, b, rtol=tol.rtol, atol=tol.atol)

        for mistake in moving:
            assert mistake.replay is not None
            moved = mistake.replay.states
            if not moved.keys() <= got.keys() <= finals.keys():
                continue
            want = {name: finals[moved.get(name, name)] for name in got}
            differs = not all(same(want[n], finals[n]) for n in got)  # else nothing to tell
            if differs and all(same(got[n].to(torch.float64), want[n]) for n in got):
                return mistake
        return None

    def finals(self, case: Case, function: str) -> dict[str, torch.Tensor]:
        """The reference's final states on this case by declared name (h_n; c_n), in float64."""
        declared = self.spec.function(function)
        inputs = [case[name].to(torch.float64) for name in declared.args]
        with torch.no_grad():
            flat = list(_flatten(self.reference[function](*inputs)))
        return dict(zip(result_names(declared.results)[1:], flat[1:], strict=False))

    def replays_call(
        self, function: str, args: tuple[Any, ...], value: Callable[[Any], bool]
    ) -> str | None:
        """The mistake of `function` whose variant, called on `args`, gives what `value` accepts."""
        for mistake in self.spec.mistakes:
            variant = mistake.replay.variant if mistake.replay is not None else None
            if function in mistake.only and variant is not None and value(variant(*args)):
                return mistake.id
        return None

    def replayed(
        self, case: Case, function: str
    ) -> tuple[torch.Tensor, list[tuple[Mistake, torch.Tensor]]]:
        """The right output of `function` on this case, and each applicable mistake's."""
        key = (id(case), function)
        held = self._held.get(key)
        if held is None or held[0] is not case:  # holding the case keeps its id from being reused
            if len(self._held) >= _HELD:
                self._held.clear()
            held = (case, *self._replay_all(case, function))
            self._held[key] = held
        return held[1], held[2]

    def _replay_all(
        self, case: Case, function: str
    ) -> tuple[torch.Tensor, list[tuple[Mistake, torch.Tensor]]]:
        names = next(f.args for f in self.spec.functions if f.name == function)
        inputs = {name: case[name].to(torch.float64) for name in names}
        with torch.no_grad():
            correct = self._forward(function, inputs)
            replays = [
                (m, out)
                for m in self.spec.mistakes
                if m.replay is not None and (not m.only or function in m.only)
                and (out := self._replay(m.replay, function, inputs, correct)) is not None
            ]  # fmt: skip
        return correct, replays

    def _forward(self, function: str, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        result = self.reference[function](*inputs.values())
        output: torch.Tensor = result[0] if isinstance(result, tuple | list) else result
        return output

    def _replay(
        self, replay: Replay, function: str, inputs: dict[str, torch.Tensor], correct: torch.Tensor
    ) -> torch.Tensor | None:
        if replay.variant is not None:
            output: torch.Tensor = replay.variant(*inputs.values())
            return output
        if replay.output:
            return _changed_output(replay.output, correct, inputs[self.spec.initial])
        if replay.states:
            return None  # the output is right; diagnose_states judges the final states
        if not set(replay.inputs) <= inputs.keys():
            return None  # a mistake of another function's arguments
        changed = {
            name: _changed_input(replay.inputs.get(name, ""), t) for name, t in inputs.items()
        }
        return self._forward(function, changed)


def _flatten(value: Any) -> Iterator[Any]:
    if isinstance(value, tuple | list):
        for item in value:
            yield from _flatten(item)
    else:
        yield value


def _changed_input(change: str, tensor: torch.Tensor) -> torch.Tensor:
    if change == "transpose":
        return tensor.T
    if change == "transpose-blocks" and tensor.dim() == 2 and tensor.shape[0] > 0:
        return torch.cat([block.T for block in torch.split(tensor, tensor.shape[0], dim=1)], dim=1)
    if change == "zeros":
        return torch.zeros_like(tensor)
    return tensor


def _changed_output(change: str, output: torch.Tensor, initial: torch.Tensor) -> torch.Tensor:
    if change in ("prepend-initial", "shift-by-initial"):
        with_initial = torch.cat([initial.unsqueeze(1), output], dim=1)
        return with_initial if change == "prepend-initial" else with_initial[:, :-1]
    if change == "drop-last":
        return output[:, :-1]
    if change == "time-first":
        return output.transpose(0, 1)
    return output[:1]  # first-row
