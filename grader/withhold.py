"""Hidden cases stay hidden: no student-controlled text of a grade that ran them reaches a report.

A student's function sees the hidden inputs, so any text it controls that comes back could carry
them out: exception messages and tracebacks, the cell and line it claims to fail at (code compiled
under a made-up `<cell N>` name), the names of the types it returns, an `nn.Module`'s settings and
parameter names, and whatever it prints. Public calls are no safer once hidden ones exist: every
call's inputs sit in the same child process (a public call found them with `gc.get_objects()`),
and a hidden call can leave them in a global for a later public one. So when a grade runs hidden
cases, `withhold_hidden` replaces all of that for every call, once, between the sandbox's reply and
the checks, so no check and no writer can quote it. The self-check (public cases only) keeps it.
"""

from __future__ import annotations

import builtins
import functools
import re
from dataclasses import replace
from typing import Any

import torch

from grader.misconceptions import KNOWN_ERRORS, error_mistake
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
from grader.results import Problem
from grader.sandbox import kernels

__all__ = ["WITHHELD", "withhold_hidden"]

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


# The sandbox's refusal of a built-in recurrent kernel names it (grader.sandbox.kernels).
_REFUSED = re.compile(re.escape(kernels.MESSAGE) + r": ([\w.:]{1,80})")


def withhold_hidden(observations: Observations) -> Observations:
    """`observations` with all student text replaced when any call was hidden; else unchanged."""
    if all(obs.call.public for obs in observations.calls):
        return observations
    calls = tuple(_withhold(obs) for obs in observations.calls)
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


def _withhold(obs: Observation) -> Observation:
    if obs.status == RETURNED:
        return replace(obs, value=_value(obs.value))
    if obs.status == RAISED:
        return replace(obs, error=_raised(obs.error), where=None, traceback="")
    # The fork server's own words start "timed out"; anything else may quote the student.
    if obs.status in (CRASHED, GARBLED) or (
        obs.status == TIMEOUT and not obs.error.startswith("timed out")
    ):
        return replace(obs, error=WITHHELD, where=None, traceback="")
    return replace(obs, where=None, traceback="")


def _raised(error: str) -> str:
    """ "Type: message" with the message withheld; a known mistake's fixed opening (torch's own
    words, which carry no input) is kept so that its hint still shows."""
    known = next((k for k in KNOWN_ERRORS if k.name == error_mistake(error)), None)
    if known is None:
        return f"{_exception_type(error)}: {WITHHELD}"
    refused = _REFUSED.match(error.partition(": ")[2])
    if refused and refused.group(1).rstrip(":.") in _recurrent_names():
        # the kernel the sandbox refused, from a closed list of names: it carries no input
        return f"{known.exception}: {known.starts}: {refused.group(1).rstrip(':.')} ... {WITHHELD}"
    return f"{known.exception}: {known.starts} ... {WITHHELD}"


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


def _value(value: Any) -> Any:
    """A returned value with every student-chosen name and string blanked."""
    if isinstance(value, tuple | list):
        return type(value)(_value(item) for item in value)
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
    return replace(info, type=_type_name(info.type), config=config, params=params)


def _type_name(name: str) -> str:
    return name if name in _known_types() else "(a type, name withheld: hidden cases were run)"


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
