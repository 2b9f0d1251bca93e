"""A student release's public data: an assignment recorded as data, and loaded back to check with.

`record` runs the instructor's assignment (spec and reference) on the public cases and keeps, as
JSON data, what a public self-check compares with: the spec without its callables, the public
inputs, the reference's answers, each known mistake's replayed answer and the variant answers of
the plain-number calls. `load_recording` gives back an `Assignment` the `Grader` grades public
cases with, identically, from that data alone: nothing in it computes an answer, and asking it
for hidden cases is a usage error. Tensors are kept exactly: dtype, shape and each value as
`float.hex` of the float64 that holds it (every float32 is one).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch

from grader.cases import Case, CaseSet
from grader.errors import InternalError, UsageError
from grader.load import Assignment
from grader.misconceptions import Replays
from grader.plan import PlannedCall, plan
from grader.reference import Expected, expected_for
from grader.settings import Tolerance
from grader.spec import Check, Function, Mistake, Module, Replay, Spec

__all__ = ["FORMAT", "HIDDEN_REFUSED", "Recorded", "load_recording", "record", "write_recording"]

FORMAT = 2  # bumped when the layout changes: an older grader refuses a newer recording
_CODE = frozenset({"public_cases", "full_cases"})  # Spec fields that are code, never recorded
# The only classes a recording may hold (a spec's parts), by name.
_DATACLASSES: dict[str, type] = {
    c.__name__: c for c in (Function, Check, Mistake, Module, Replay, Tolerance)
}
HIDDEN_REFUSED = (
    "grading on hidden cases needs the instructor's install of the grader, with the solutions"
    " (solutions/{name}/); this install holds only a student release's public data: use"
    " `python -m grader check NOTEBOOK` or the notebook's self-check cell"
)


class RecordedReplays(Replays):
    """The spec's known mistakes as recorded on the public cases: `Replays` without a reference."""

    def __init__(
        self,
        spec: Spec,
        replayed: Mapping[tuple[str, str], Any],
        variants: Mapping[tuple[str, str, tuple[int, ...]], Any],
    ) -> None:
        super().__init__(spec, {})
        # (case name, function) -> (correct, [(mistake id, output)], {final state: tensor})
        self._recorded = replayed
        self._variants = variants  # (mistake id, function, arguments) -> the variant's answer

    def _replay_all(
        self, case: Case, function: str
    ) -> tuple[torch.Tensor, list[tuple[Mistake, torch.Tensor]]]:
        held = self._recorded.get((case.name, function))
        if held is None:
            raise InternalError(f"the release recorded no replays of {function} on {case.name}")
        correct, outputs, _ = held
        mistakes = {m.id: m for m in self.spec.mistakes}
        return correct, [(mistakes[name], output) for name, output in outputs]

    def finals(self, case: Case, function: str) -> dict[str, torch.Tensor]:
        held = self._recorded.get((case.name, function))
        if held is None:
            raise InternalError(
                f"the release recorded no final states of {function} on {case.name}"
            )
        return dict(held[2])

    def replays_call(
        self, function: str, args: tuple[Any, ...], value: Callable[[Any], bool]
    ) -> str | None:
        for mistake in self.spec.mistakes:
            answer = self._variants.get((mistake.id, function, tuple(args)))
            if answer is not None and value(answer):
                return mistake.id
        return None


@dataclass(frozen=True, kw_only=True)
class Recorded(Assignment):
    """An assignment loaded from a release's recording: public cases only, no reference."""

    expected: Expected  # the reference's answers for the public plan
    replays: RecordedReplays  # the known mistakes' answers on the public cases


# ------------------------------------------------------------------------------------------
# Recording: run trusted, by the instructor's install, when a release is made.


def record(assignment: Assignment) -> dict[str, Any]:
    """The public data of `assignment`, as JSON-ready data (no code, no callables)."""
    spec, reference = assignment.spec, assignment.reference
    cases = spec.public_cases()
    planned = plan(cases, spec)
    expected = expected_for(planned, spec, reference)
    return {
        "format": FORMAT,
        "spec": _spec_data(spec),
        "cases": _cases_data(cases),
        "case_set_id": cases.id,
        "expected": encode(
            {
                "sequence": expected.sequence,
                "states": expected.states,
                "answers": dict(expected.answers),
            }
        ),
        "replays": _replays_data(spec, reference, cases),
        "variants": _variants_data(spec, planned),
    }


def write_recording(assignment: Assignment, path: Path) -> Path:
    """Record `assignment` into the JSON file `path`."""
    text = json.dumps(record(assignment), indent=None, separators=(",", ":"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def _spec_data(spec: Spec) -> dict[str, Any]:
    """Every field of the spec but its code: the case generators (the release holds their public
    cases instead) and how mistakes are replayed (it holds their answers)."""
    spec = replace(
        spec, mistakes=tuple(replace(m, replay=_data_only(m.replay)) for m in spec.mistakes)
    )
    return {f.name: encode(getattr(spec, f.name)) for f in fields(Spec) if f.name not in _CODE}


def _data_only(replay: Replay | None) -> Replay | None:
    """A replay that only says which final states trade places is data; the rest is recorded."""
    return replay if replay is not None and replay.states else None


def _cases_data(cases: CaseSet) -> dict[str, Any]:
    forward = [
        {"name": c.name, "public": c.public, "hidden": c.hidden, "tensors": encode(c.tensors)}
        for c in cases.forward
    ]
    return {"name": cases.name, "calls": encode(cases.calls), "public_calls": cases.public_calls,
            "forward": forward, "probes": list(cases.probes)}  # fmt: skip


def _replays_data(spec: Spec, reference: Any, cases: CaseSet) -> list[dict[str, Any]]:
    """Every sequence function's right output and known mistakes' outputs, per public case."""
    replays, rows = Replays(spec, reference), []
    for function in (f.name for f in spec.functions if f.returns == "sequence"):
        for case in cases.forward:
            correct, outputs = replays.replayed(case, function)
            rows.append({"case": case.name, "function": function, "correct": encode(correct),
                         "mistakes": [[m.id, encode(out)] for m, out in outputs],
                         "finals": encode(replays.finals(case, function))})  # fmt: skip
    return rows


def _variants_data(spec: Spec, planned: tuple[PlannedCall, ...]) -> list[dict[str, Any]]:
    """Each variant mistake's answer to the plain-number calls of the functions it may explain."""
    rows = []
    state = torch.get_rng_state()  # a variant may seed torch's global generator: put it back
    try:
        for call in (c for c in planned if c.case is None):
            for mistake in spec.mistakes:
                variant = mistake.replay.variant if mistake.replay is not None else None
                if variant is not None and call.function in mistake.only:
                    answer = encode(variant(*call.args))
                    rows.append({"mistake": mistake.id, "function": call.function,
                                 "args": list(call.args), "answer": answer})  # fmt: skip
    finally:
        torch.set_rng_state(state)
    return rows


# ------------------------------------------------------------------------------------------
# Loading: what a student's install grades public cases with.


def load_recording(path: Path) -> Recorded:
    """The assignment recorded in `path`; InternalError when the file is damaged or too new."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            found = data.get("format")
            raise InternalError(f"{path}: a recording of format {found!r}, not {FORMAT}")
        spec = _spec(data["spec"], _cases(data["cases"]))
        if spec.public_cases().id != data["case_set_id"]:
            raise InternalError(f"{path}: the public cases do not match their fingerprint")
        replays = RecordedReplays(spec, _replayed(data["replays"]), _variants(data["variants"]))
        expected = decode(data["expected"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InternalError(f"cannot read the recorded assignment {path}: {exc!r}") from exc
    return Recorded(folder=Path(path), spec=spec, reference={}, replays=replays,
                    expected=Expected(**expected))  # fmt: skip


def _spec(data: dict[str, Any], cases: CaseSet) -> Spec:
    name = data["name"]

    def refuse(grading_seed: int) -> CaseSet:
        raise UsageError(HIDDEN_REFUSED.format(name=name))

    declared = {key: decode(value) for key, value in data.items()}
    return Spec(**declared, public_cases=lambda: cases, full_cases=refuse)


def _cases(data: dict[str, Any]) -> CaseSet:
    forward = tuple(
        Case(name=c["name"], public=c["public"], hidden=c["hidden"], tensors=decode(c["tensors"]))
        for c in data["forward"]
    )
    return CaseSet(name=data["name"], calls=decode(data["calls"]), forward=forward,
                   public_calls=data["public_calls"], probes=tuple(data["probes"]))  # fmt: skip


def _replayed(rows: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    return {
        (r["case"], r["function"]): (decode(r["correct"]),
                                     [(name, decode(out)) for name, out in r["mistakes"]],
                                     decode(r["finals"]))
        for r in rows
    }  # fmt: skip


def _variants(rows: list[dict[str, Any]]) -> dict[tuple[str, str, tuple[int, ...]], Any]:
    return {(r["mistake"], r["function"], tuple(r["args"])): decode(r["answer"]) for r in rows}


# ------------------------------------------------------------------------------------------
# Values as JSON: tensors exactly, tuples kept apart from lists, mappings in order.


def encode(value: Any) -> Any:
    """`value` (tensors, the spec's dataclasses, tuples, lists, sets, mappings, plain numbers
    and strings) as JSON data."""
    if isinstance(value, torch.Tensor):
        return {"tensor": _tensor_data(value)}
    if type(value) in _DATACLASSES.values():
        named = [[f.name, encode(getattr(value, f.name))] for f in fields(value)]
        return {"dataclass": type(value).__name__, "fields": named}
    if isinstance(value, tuple | frozenset):
        kind = "tuple" if isinstance(value, tuple) else "frozenset"
        return {kind: [encode(v) for v in (value if kind == "tuple" else sorted(value))]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, Mapping):
        return {"mapping": [[encode(k), encode(v)] for k, v in value.items()]}
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return {"float": value.hex()}
    raise TypeError(f"cannot record a {type(value).__name__}")


def decode(data: Any) -> Any:
    """The value `encode` gave `data` for."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if "tensor" in data:
        return _tensor(data["tensor"])
    if "dataclass" in data:
        return _DATACLASSES[data["dataclass"]](**{k: decode(v) for k, v in data["fields"]})
    if "tuple" in data:
        return tuple(decode(v) for v in data["tuple"])
    if "frozenset" in data:
        return frozenset(decode(v) for v in data["frozenset"])
    if "float" in data:
        return float.fromhex(data["float"])
    return {decode(k): decode(v) for k, v in data["mapping"]}


def _tensor_data(tensor: torch.Tensor) -> dict[str, Any]:
    flat = tensor.detach().cpu().reshape(-1)
    floating = flat.is_floating_point()
    values = [float(v).hex() for v in flat.tolist()] if floating else flat.tolist()
    dtype = str(tensor.dtype).removeprefix("torch.")
    return {"dtype": dtype, "shape": list(tensor.shape), "values": values}


def _tensor(data: dict[str, Any]) -> torch.Tensor:
    dtype = getattr(torch, data["dtype"])
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"not a dtype: {data['dtype']!r}")
    values = data["values"]
    if dtype.is_floating_point:
        exact = torch.tensor([float.fromhex(v) for v in values], dtype=torch.float64)
        return exact.to(dtype).reshape(data["shape"])
    return torch.tensor(values, dtype=dtype).reshape(data["shape"])
