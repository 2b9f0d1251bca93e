"""Hidden cases stay hidden: no student-controlled text of a grade that ran them reaches a report.

A student's function sees the hidden inputs, so any text it controls that comes back could carry
them out: exception messages and tracebacks, the cell and line it claims to fail at (code compiled
under a made-up `<cell N>` name), the names of the types it returns, an `nn.Module`'s settings and
parameter names, and whatever it prints. Public calls are no safer once hidden ones exist: every
call's inputs sit in the same child process (a public call found them with `gc.get_objects()`),
and a hidden call can leave them in a global for a later public one. So when a grade runs hidden
cases, `withhold_hidden` replaces all of that for every call, once, between the sandbox's reply and
the checks, so no check and no writer can quote it. The self-check (public cases only) keeps it.

Numbers carry hidden inputs as well as text does: a returned output that is off by 1 + x/100, a
shape of (0, 996045, ...), a module with hidden_size=996045. So `withhold_numbers` then keeps only
the grader's own facts of each check of such a grade: outcome, points, which case, step and unit,
pass counts, the mistake and its hint; errors, values and returned shapes are withheld.
"""

from __future__ import annotations

import builtins
import functools
import re
from dataclasses import replace
from typing import Any

import torch

from grader.misconceptions import QUOTABLE, quotable
from grader.observations import (
    CRASHED,
    GARBLED,
    RAISED,
    RETURNED,
    TIMEOUT,
    ModuleInfo,
    Observation,
    Observations,
    Other,
)
from grader.results import CheckResult, Problem
from grader.sandbox import kernels

__all__ = ["WITHHELD", "withhold_hidden", "withhold_numbers"]

WITHHELD = "(message withheld: hidden cases were run; the self-check shows it)"
OUTPUT_WITHHELD = (
    "(output withheld: hidden cases were run, and what the code prints could reveal them;"
    " the self-check shows it)\n"
)
LOAD_WITHHELD = (
    "a statement failed when the notebook's code was loaded (details withheld: hidden cases"
    " were run; the self-check shows them)"
)
_PARAMETER = re.compile(r"(weight|bias)_(ih|hh)_l\d{1,2}(_reverse)?")
_NAME = re.compile(r"[A-Za-z_]\w*")
_SETTINGS = frozenset({"tanh", "relu"})  # the only string settings an nn.RNN can have
_CONTAINERS = frozenset({"builtins.tuple", "builtins.list"})
_RECURRENT_MODULES = frozenset(  # the modules a to_* function should return: a closed, short list
    f"torch.nn.modules.rnn.{name}" for name in ("RNN", "LSTM", "GRU", "RNNBase")
)
_DEEPEST, _LONGEST = 2, 4  # (output, (h_n, c_n)) and (W_xh, W_hh, b_h) fit


# The sandbox's refusal of a built-in recurrent kernel names it (grader.sandbox.kernels).
_REFUSED = re.compile(re.escape(kernels.MESSAGE) + r": ([\w.:]{1,80})")


def withhold_hidden(
    observations: Observations, openings: tuple[str, ...] = QUOTABLE
) -> Observations:
    """`observations` with all student text replaced when any call was hidden; else unchanged.

    An exception's message keeps its opening when it is one of `openings` (a spec's declared
    `Mistake.raises`: fixed words that carry no input), so that its mistake is still named."""
    if all(obs.call.public for obs in observations.calls):
        return observations
    calls = tuple(_withhold(obs, openings) for obs in observations.calls)
    grouped: dict[str, list[Observation]] = {}
    for obs in calls:
        grouped.setdefault(obs.call.function, []).append(obs)
    return replace(
        observations,
        calls=calls,
        problems=tuple(
            Problem(message=LOAD_WITHHELD, severity=p.severity) for p in observations.problems
        ),
        output=OUTPUT_WITHHELD if observations.output else "",
        by_function={name: tuple(group) for name, group in grouped.items()},
    )


def _withhold(obs: Observation, openings: tuple[str, ...]) -> Observation:
    if obs.status == RETURNED:
        return replace(obs, value=_value(obs.value))
    if obs.status == RAISED:
        return replace(obs, error=_raised(obs.error, openings), where=None, traceback="")
    # A child can forge a "timeout" result with any text: only the status is the grader's.
    if obs.status == TIMEOUT:
        return replace(obs, error="timed out (details withheld)", where=None, traceback="")
    if obs.status in (CRASHED, GARBLED):
        return replace(obs, error=WITHHELD, where=None, traceback="")
    return replace(obs, where=None, traceback="")


def _raised(error: str, openings: tuple[str, ...]) -> str:
    """ "Type: message" with the message withheld; a known mistake's fixed opening (torch's own
    words, which carry no input) is kept so that its hint still shows."""
    if (opening := quotable(error, openings)) is None:
        return f"{_exception_type(error)}: {WITHHELD}"
    refused = _REFUSED.match(error.partition(": ")[2])
    if refused and refused.group(1).rstrip(":.") in _recurrent_names():
        # the kernel the sandbox refused, from a closed list of names: it carries no input
        return f"{opening}: {refused.group(1).rstrip(':.')} ... {WITHHELD}"
    return f"{opening} ... {WITHHELD}"


@functools.cache
def _recurrent_names() -> frozenset[str]:
    names = kernels.recurrent_operators()
    return frozenset(names) | {name.split(".")[0] for name in names}


def _exception_type(error: str) -> str:
    """The exception's class name when it is a built-in one; a student's own names could spell
    anything."""
    match = _NAME.match(error)
    kind = getattr(builtins, match.group(), None) if match else None
    is_builtin = isinstance(kind, type) and issubclass(kind, BaseException)
    return match.group() if match and is_builtin else "an exception"


def _value(value: Any, depth: int = 0) -> Any:
    """A returned value with every student-chosen name and string blanked, and containers kept
    only as deep and as long as a graded function's answer is (a tree of choices is a channel)."""
    if isinstance(value, tuple | list):
        if depth >= _DEEPEST or len(value) > _LONGEST:
            return Other(type=_type_name(""), tensor_subclass=False)
        return type(value)(_value(item, depth + 1) for item in value)
    if isinstance(value, str):
        return ""
    if isinstance(value, Other):
        return replace(value, type=_type_name(value.type))
    if isinstance(value, ModuleInfo):
        return _module(value)
    return value


def _module(info: ModuleInfo) -> ModuleInfo:
    config = {
        str(key): item if not isinstance(item, str) or item in _SETTINGS else WITHHELD
        for key, item in info.config.items()
    }
    params = {
        name if _PARAMETER.fullmatch(name) else f"(parameter {i} withheld)": tensor
        for i, (name, tensor) in enumerate(info.params.items(), start=1)
    }
    kind = info.type if info.type in _RECURRENT_MODULES else _type_name(info.type)
    return replace(info, type=kind, config=config, params=params)


def _type_name(name: str) -> str:
    """Tensors and containers by name; any other type, even a built-in one, as one word: a
    tree of chosen leaf types would spell out hidden inputs a few bits a leaf."""
    if name in _CONTAINERS or name == "torch.Tensor":
        return name
    return "(a type, name withheld: hidden cases were run)"


@functools.cache
def _known_types() -> frozenset[str]:
    """Qualified names of real built-in, torch and torch.nn types (a student may reuse them,
    not invent one)."""
    namespaces = (vars(builtins), vars(torch), vars(torch.nn))
    return frozenset(
        f"{kind.__module__}.{kind.__qualname__}"
        for namespace in namespaces
        for kind in namespace.values()
        if isinstance(kind, type)
    )


# Details that hold only the grader's facts; every other key (errors, values, step_errors) goes.
_FACT_KEYS = frozenset({
    "case", "call", "calls", "step", "unit", "batch", "misconception", "hint", "builtin_rnn",
    "builtin", "internal",
})  # fmt: skip
_TEXT_KEYS = frozenset({"problem", "problems", "notes"})  # grader sentences quoting numbers
_SHAPE = r"\(\s*(?:\d+\s*,\s*)*\d*\s*,?\s*\)"  # (3, 7, 5), (), (0,)
# A returned shape in each wording a check uses for one; then errors, values and large counts.
_REWRITES = (
    (re.compile(r" \(expected [^()]*, got [^()]*\)"), ""),
    (re.compile(r"(by up to|\|error\||\|value\|) [-+]?(?:\d[\d.e+-]*|inf|nan)"), r"\1 (withheld)"),
    (re.compile(rf"\b(has|returned) shape {_SHAPE}"), r"\1 the wrong shape"),
    (re.compile(rf"\bshape {_SHAPE} cannot"), "shape cannot"),
    (re.compile(rf"\bis {_SHAPE}, expected"), "has the wrong shape, expected"),
    (re.compile(rf"(hidden case [\w-]+: [^;]*?expected ){_SHAPE}"), r"\1another shape"),
    (re.compile(r"\b\d+ matrix products"), "a different number of matrix products"),
    (re.compile(r"\b(\w+)=[^,;()]*, expected"), r"\1 is different, expected"),
    (re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+(?=e[-+]?\d))(?:e[-+]?\d+)?"), "(withheld)"),
    (re.compile(r"(?<!step )(?<!h_)\b\d{4,}"), "(withheld)"),
)
# Any other shape: kept after "expected " (the grader's) or a call's name (its arguments).
_ANY_SHAPE = re.compile(rf"(expected |\w)?{_SHAPE}")


def _other_shape(match: re.Match[str]) -> str:
    return match.group() if match.group(1) else "(shape withheld)"


NUMBERS_WITHHELD = " (numbers withheld: hidden cases were run; the self-check shows them)"


def withhold_numbers(check: CheckResult) -> CheckResult:
    """`check` with every number the student's code chose removed: a grade with hidden cases."""
    details = {key: value for key, value in check.details.items() if key in _FACT_KEYS}
    for key in _TEXT_KEYS & check.details.keys():
        value = check.details[key]
        texts = value if isinstance(value, list | tuple) else [value]
        masked = [mask_numbers(str(text)) for text in texts]
        details[key] = masked if isinstance(value, list | tuple) else masked[0]
    message = mask_numbers(check.message)
    if message != check.message:
        message += NUMBERS_WITHHELD
    return replace(check, message=message, details=details)


def mask_numbers(text: str) -> str:
    """`text` with returned shapes, errors, values and large counts withheld."""
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    return _ANY_SHAPE.sub(_other_shape, text)
