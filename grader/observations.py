"""The sandbox's untrusted reply -> validated, typed observations of what each call did."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from grader.plan import PlannedCall
from grader.results import Problem
from grader.sandbox import wire
from grader.settings import DEFAULT_LIMITS
from grader.untrusted import clean_text

# Statuses a call can end with (the child's or the fork server's word for it).
RETURNED = "returned"
RAISED = "raised"
MISSING = "missing"
TIMEOUT = "timeout"
CRASHED = "crashed"
SKIPPED = "skipped"
NOT_RUN = "not-run"
GARBLED = "garbled"
STATUSES = frozenset({RETURNED, RAISED, MISSING, TIMEOUT, CRASHED, SKIPPED, NOT_RUN, GARBLED})

# Caps on what the child may make the grader keep (its own encoder stays well inside them).
ERROR_CHARS = 2_000  # an exception message or a reason
TRACEBACK_CHARS = 4_000  # the student's own frames
NAME_CHARS = 200  # a type name, a device, a parameter name, a scalar string
MAX_VALUE_DEPTH = 4  # nested tuples and lists in a returned value
MAX_ITEMS = 16  # items of one returned container, parameters of one module
MAX_TRACE = 10_000  # torch call names and matrix products of one traced call


@dataclass(frozen=True, kw_only=True)
class Other:
    """A returned object that is neither a plain tensor, a container, a scalar nor a module."""

    type: str  # qualified type name
    tensor_subclass: bool  # a subclass of torch.Tensor (not accepted as a tensor)


@dataclass(frozen=True, kw_only=True)
class ModuleInfo:
    """What a returned nn.Module looked like from the outside."""

    type: str  # qualified type name
    exact: bool  # exactly one of torch's own recurrent classes (RNN, LSTM, GRU), no subclass
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
    max_output: int = DEFAULT_LIMITS.output_chars,
) -> Observations:
    """Decode the reply; calls of functions the notebook lacks come back MISSING with the reason.

    The reply is the hostile child's word, already parsed with bounded depth and UTF-8 clean text
    (`sandbox/frames.py`): everything here is checked for type and capped in size."""
    replies: Iterator[Any] = iter(_list(reply.get("calls")))
    calls = []
    for call in planned:
        if call.function in missing:
            calls.append(Observation(call=call, status=MISSING, error=missing[call.function]))
            continue
        raw = next(replies, {"status": NOT_RUN})
        try:
            calls.append(_observation(call, raw, max_elements))
        except (ValueError, TypeError, KeyError, AttributeError, ArithmeticError) as exc:
            calls.append(
                Observation(
                    call=call, status=GARBLED, error=_text(f"unreadable reply: {exc}", ERROR_CHARS)
                )
            )
    grouped: dict[str, list[Observation]] = {}
    for obs in calls:
        grouped.setdefault(obs.call.function, []).append(obs)
    return Observations(
        calls=tuple(calls),
        active=_texts(reply.get("active")),
        missing=_texts(reply.get("missing")),
        problems=tuple(_module_problem(p) for p in _list(reply.get("module_problems"))[:100]),
        output=_text(reply.get("output", ""), max_output),
        by_function={k: tuple(v) for k, v in grouped.items()},
    )


def _observation(call: PlannedCall, raw: Any, max_elements: int) -> Observation:
    if not isinstance(raw, dict):
        raise ValueError("a call's result is not an object")
    status = raw.get("status", GARBLED)
    if status not in STATUSES:
        return Observation(call=call, status=GARBLED, error="unreadable reply: unknown status")
    if status != RETURNED:
        return Observation(
            call=call,
            status=status,
            error=_text(raw.get("error") or raw.get("detail") or "", ERROR_CHARS),
            where=_where(raw.get("line")),
            traceback=_text(raw.get("traceback", ""), TRACEBACK_CHARS),
            seconds=_seconds(raw.get("seconds")),
        )
    try:
        devices: set[str] = set()
        value = decode_value(raw.get("value"), max_elements, devices)
        trace = _trace(raw.get("trace"))
    except (ValueError, TypeError, KeyError, AttributeError, ArithmeticError) as exc:
        error = _text(f"unreadable return value: {exc}", ERROR_CHARS)
        return Observation(call=call, status=GARBLED, error=error)
    return Observation(
        call=call,
        status=RETURNED,
        value=value,
        devices=frozenset(devices),
        mutated=_mutated(call.arg_names, raw.get("mutated")),
        trace=trace,
        seconds=_seconds(raw.get("seconds")),
    )


def decode_value(record: Any, max_elements: int, devices: set[str], depth: int = 0) -> Any:
    """Untrusted value record -> Python/torch objects; ValueError on anything malformed.

    Accepts what the child's encoder can produce (containers 3 deep of up to 16 items, plain
    scalars, short strings) and nothing larger."""
    if not isinstance(record, dict):
        raise ValueError("malformed value")
    kind = record.get("t")
    if kind == "tensor":
        devices.add(_text(record.get("device", "cpu"), NAME_CHARS))
        return wire.decode_tensor(record, max_elements)
    if kind in ("tuple", "list"):
        items = _list(record.get("items"))
        if depth >= MAX_VALUE_DEPTH or len(items) > MAX_ITEMS:
            raise ValueError(f"containers nest at most {MAX_VALUE_DEPTH} deep, {MAX_ITEMS} items")
        decoded = [decode_value(item, max_elements, devices, depth + 1) for item in items]
        return tuple(decoded) if kind == "tuple" else decoded
    if kind == "scalar":
        return _scalar(record.get("v"))
    if kind == "module":
        return _module(record, max_elements)
    return Other(
        type=_text(record.get("type"), NAME_CHARS),
        tensor_subclass=record.get("tensor_subclass") is True,
    )


def _module(record: dict[str, Any], max_elements: int) -> ModuleInfo:
    params, config = record.get("params", {}), record.get("config", {})
    if not isinstance(params, dict) or not isinstance(config, dict) or len(params) > MAX_ITEMS:
        raise ValueError("malformed module")
    return ModuleInfo(
        type=_text(record.get("type"), NAME_CHARS),
        exact=record.get("exact") is True,
        config={_text(k, NAME_CHARS): _scalar(v) for k, v in list(config.items())[:MAX_ITEMS]},
        params={
            _text(k, NAME_CHARS): wire.decode_tensor(t, max_elements) for k, t in params.items()
        },
    )


def _scalar(value: Any) -> Any:
    """A returned plain scalar: None, bool, int, float or a short string."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value[:NAME_CHARS]
    raise ValueError("malformed scalar")


def _mutated(names: tuple[str, ...], positions: Any) -> tuple[str, ...]:
    """Names of the arguments the child saw written into, by position."""
    if not isinstance(positions, list):
        return ()
    return tuple(names[i] for i in positions[:16] if type(i) is int and 0 <= i < len(names))


def _trace(raw: Any) -> Trace | None:
    if not isinstance(raw, dict):
        return None
    counts = raw.get("counts", {})
    products = _list(raw.get("products"))
    if not isinstance(counts, dict) or len(counts) > MAX_TRACE or len(products) > MAX_TRACE:
        raise ValueError("malformed trace")
    return Trace(
        counts={_text(k, NAME_CHARS): _count(v) for k, v in counts.items()},
        products=tuple(_product(p) for p in products),
    )


def _product(raw: Any) -> tuple[str, tuple[tuple[int, ...], ...]]:
    name, shapes = raw
    if not isinstance(shapes, list) or len(shapes) > 8:
        raise ValueError("malformed product")
    return _text(name, NAME_CHARS), tuple(tuple(_count(n) for n in _list(s)[:8]) for s in shapes)


def _count(value: Any) -> int:
    if type(value) is not int or not 0 <= value < 2**53:
        raise ValueError("malformed count")
    return value


def _where(raw: Any) -> tuple[int, int] | None:
    """(code cell, line) when both are plausible numbers (the child sends the cell as text)."""
    try:
        cell, line = raw
    except (TypeError, ValueError):
        return None
    cell = int(cell) if isinstance(cell, str) and cell.isdigit() and len(cell) < 7 else cell
    if type(cell) is int and type(line) is int and 0 < cell < 10**6 and 0 < line < 10**7:
        return cell, line
    return None


def _module_problem(raw: Any) -> Problem:
    raw = raw if isinstance(raw, dict) else {}
    at, cell_only = _where(raw.get("line")), _where([raw.get("cell"), 1])
    error = _text(raw.get("error"), ERROR_CHARS)
    return Problem(
        message=f"this statement failed when the notebook's code was loaded: {error}",
        cell=at[0] if at else cell_only[0] if cell_only else None,
        line=at[1] if at else None,
        severity="error",
    )


def _seconds(value: Any) -> float:
    """A duration the child measured: finite and non-negative, else 0."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1e6:
        return float(value)
    return 0.0


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(_text(item, NAME_CHARS) for item in _list(value)[:64])


def _text(value: Any, limit: int) -> str:
    """Child-controlled text, capped; lone surrogates are already gone (frames.parse_frame)."""
    text = value if isinstance(value, str) else "" if value is None else _short_repr(value)
    text = clean_text(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short_repr(value: Any) -> str:
    """A number or a small structure as text; a large structure only by its type."""
    if isinstance(value, int | float | bool):
        return str(value)
    return f"<{type(value).__name__}>"
