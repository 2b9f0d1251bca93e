"""The sandbox's untrusted reply -> validated, typed observations of what each call did."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from grader.plan import ARG_NAMES, PlannedCall
from grader.results import Problem
from grader.sandbox import wire

# Statuses a call can end with (the child's or the fork server's word for it).
RETURNED = "returned"
RAISED = "raised"
MISSING = "missing"
TIMEOUT = "timeout"
CRASHED = "crashed"
SKIPPED = "skipped"
NOT_RUN = "not-run"
GARBLED = "garbled"


@dataclass(frozen=True, kw_only=True)
class Other:
    """A returned object that is neither a plain tensor, a container, a scalar nor a module."""

    type: str  # qualified type name
    tensor_subclass: bool  # a subclass of torch.Tensor (not accepted as a tensor)


@dataclass(frozen=True, kw_only=True)
class ModuleInfo:
    """What a returned nn.Module looked like from the outside."""

    type: str  # qualified type name
    exact_rnn: bool  # type is exactly torch.nn.RNN
    config: dict[str, Any]  # num_layers, nonlinearity, batch_first, ... as reported
    params: dict[str, torch.Tensor]  # named parameters, on CPU


@dataclass(frozen=True, kw_only=True)
class Trace:
    """The torch calls one student call made (recorded in the child, so advisory)."""

    counts: dict[str, int]  # torch function name -> times called
    products: tuple[tuple[str, tuple[tuple[int, ...], ...]], ...]  # matrix products and shapes


@dataclass(frozen=True, kw_only=True)
class Observation:
    """What one call of a student function did."""

    call: PlannedCall  # what was called, with which inputs
    status: str  # RETURNED, RAISED, MISSING, TIMEOUT, CRASHED, SKIPPED, NOT_RUN or GARBLED
    value: Any = None  # decoded return value: Tensor, tuple/list, ModuleInfo, Other or a scalar
    devices: frozenset[str] = frozenset()  # devices of the returned tensors
    error: str = ""  # exception or reason, when it did not return
    where: tuple[int, int] | None = None  # (cell, line) in the notebook where it failed
    traceback: str = ""  # the student's own frames only
    mutated: tuple[str, ...] = ()  # names of arguments the call wrote into
    trace: Trace | None = None  # torch calls it made, when traced
    seconds: float = 0.0  # time inside the call, measured in the child

    @property
    def returned(self) -> bool:
        return self.status == RETURNED


@dataclass(frozen=True, kw_only=True)
class Observations:
    """Everything learned from running one submission."""

    calls: tuple[Observation, ...]  # in plan order
    active: tuple[str, ...]  # sandbox protections that were on
    missing: tuple[str, ...]  # protections that could not be applied, with why
    problems: tuple[Problem, ...]  # top-level statements that failed when loaded
    output: str  # captured stdout/stderr, capped
    by_function: dict[str, tuple[Observation, ...]] = field(default_factory=dict)

    def of(self, function: str) -> tuple[Observation, ...]:
        return self.by_function.get(function, ())


def observe(
    planned: tuple[PlannedCall, ...],
    reply: dict[str, Any],
    *,
    missing: dict[str, str],
    max_elements: int,
) -> Observations:
    """Decode the reply; calls of functions the notebook lacks come back MISSING with the reason."""
    replies: Iterator[dict[str, Any]] = iter(reply.get("calls", []))
    calls = []
    for call in planned:
        if call.function in missing:
            calls.append(Observation(call=call, status=MISSING, error=missing[call.function]))
            continue
        raw = next(replies, {"status": NOT_RUN})
        try:
            calls.append(_observation(call, raw, max_elements))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:  # hostile reply
            calls.append(Observation(call=call, status=GARBLED, error=f"unreadable reply: {exc}"))
    grouped: dict[str, list[Observation]] = {}
    for obs in calls:
        grouped.setdefault(obs.call.function, []).append(obs)
    return Observations(
        calls=tuple(calls),
        active=tuple(str(p) for p in reply.get("active", [])),
        missing=tuple(str(p) for p in reply.get("missing", [])),
        problems=tuple(_module_problem(p) for p in reply.get("module_problems", [])),
        output=str(reply.get("output", "")),
        by_function={k: tuple(v) for k, v in grouped.items()},
    )


def _observation(call: PlannedCall, raw: dict[str, Any], max_elements: int) -> Observation:
    status = str(raw.get("status", GARBLED))
    if status != RETURNED:
        return Observation(
            call=call,
            status=status,
            error=str(raw.get("error") or raw.get("detail") or ""),
            where=_where(raw.get("line")),
            traceback=str(raw.get("traceback", "")),
            seconds=float(raw.get("seconds", 0.0)),
        )
    try:
        devices: set[str] = set()
        value = decode_value(raw.get("value"), max_elements, devices)
        trace = _trace(raw.get("trace"))
    except (ValueError, TypeError, KeyError) as exc:
        return Observation(call=call, status=GARBLED, error=f"unreadable return value: {exc}")
    return Observation(
        call=call,
        status=RETURNED,
        value=value,
        devices=frozenset(devices),
        mutated=_mutated(call.function, raw.get("mutated")),
        trace=trace,
        seconds=float(raw.get("seconds", 0.0)),
    )


def decode_value(record: Any, max_elements: int, devices: set[str]) -> Any:
    """Untrusted value record -> Python/torch objects; ValueError on anything malformed."""
    if not isinstance(record, dict):
        raise ValueError("malformed value")
    kind = record.get("t")
    if kind == "tensor":
        devices.add(str(record.get("device", "cpu")))
        return wire.decode_tensor(record, max_elements)
    if kind in ("tuple", "list"):
        items = [decode_value(item, max_elements, devices) for item in record.get("items", [])]
        return tuple(items) if kind == "tuple" else items
    if kind == "scalar":
        return record.get("v")
    if kind == "module":
        params = {
            str(name): wire.decode_tensor(t, max_elements)
            for name, t in dict(record.get("params", {})).items()
        }
        return ModuleInfo(
            type=str(record.get("type")),
            exact_rnn=record.get("exact_rnn") is True,
            config=dict(record.get("config", {})),
            params=params,
        )
    return Other(
        type=str(record.get("type")), tensor_subclass=record.get("tensor_subclass") is True
    )


def _mutated(function: str, positions: Any) -> tuple[str, ...]:
    """Names of the arguments the child saw written into, by position."""
    names = ARG_NAMES.get(function, ())
    if not isinstance(positions, list):
        return ()
    return tuple(names[i] for i in positions if type(i) is int and 0 <= i < len(names))


def _trace(raw: Any) -> Trace | None:
    if not isinstance(raw, dict):
        return None
    counts = {str(k): int(v) for k, v in dict(raw.get("counts", {})).items()}
    products = tuple(
        (str(name), tuple(tuple(int(n) for n in shape) for shape in shapes))
        for name, shapes in list(raw.get("products", []))
    )
    return Trace(counts=counts, products=products)


def _where(raw: Any) -> tuple[int, int] | None:
    try:
        cell, line = raw
        return int(cell), int(line)
    except (TypeError, ValueError):
        return None


def _module_problem(raw: Any) -> Problem:
    raw = raw if isinstance(raw, dict) else {}
    where = _where(raw.get("line"))
    return Problem(
        message=f"this statement failed when the notebook's code was loaded: {raw.get('error')}",
        cell=where[0] if where else _int_or_none(raw.get("cell")),
        line=where[1] if where else None,
        severity="error",
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
