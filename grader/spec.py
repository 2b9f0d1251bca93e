"""What an assignment declares: its functions, cases, checks, known mistakes, hints, tolerances.

An assignment is a folder (DESIGN.md §7): `solution.ipynb`, the reference, and `spec.py`, which
binds `SPEC`, a `Spec`. The spec is data: each check names a generic kind the engine evaluates,
each known mistake says how the engine replays it (structured facts, never message text).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from grader.settings import Tolerance

if TYPE_CHECKING:
    from grader.cases import CaseSet  # torch-free at run time: only the grader needs cases

# The generic kinds of check the engine knows (DESIGN.md §7).
KINDS = frozenset(
    {"shape", "values", "steps", "exact", "structure", "builtins", "module", "parity"}
)
# What a function returns, which decides how each kind of check reads it.
RETURNS = frozenset({"tensor", "tensors", "sequence", "module"})
# The slips of a module-returning function the module and parity kinds establish (Module).
MODULE_SLIPS = ("untransposed", "not-batch-first", "default-dtype", "bias-hh")
# Changes the engine applies to one input before replaying the reference on it; "transpose-blocks"
# transposes each square block of a (hidden, k*hidden) weight (an LSTM's W_hh, gate by gate).
INPUT_CHANGES = frozenset({"transpose", "transpose-blocks", "zeros"})
# Changes the engine applies to the reference's output (batch, seq, ...) to replay a mistake.
OUTPUT_CHANGES = frozenset(
    {"prepend-initial", "shift-by-initial", "drop-last", "time-first", "first-row"}
)


def result_names(results: str | tuple[Any, ...]) -> tuple[str, ...]:
    """The names in a declared result structure, flattened in order."""
    if isinstance(results, str):
        return (results,)
    return tuple(name for part in results for name in result_names(part))


def result_text(results: str | tuple[Any, ...]) -> str:
    """A declared result structure as code writes it: "(output, (h_n, c_n))"."""
    if isinstance(results, str):
        return results
    return "(" + ", ".join(result_text(part) for part in results) + ")"


@dataclass(frozen=True, kw_only=True)
class Function:
    """One function the student writes."""

    name: str  # as the notebook defines it
    args: tuple[str, ...]  # its parameters, in order
    returns: str  # one of RETURNS: a tensor, a tuple of tensors, (output, state...), a module
    # What it returns, by name, nested as returned: ("output", ("h_n", "c_n")) for a sequence
    # (the output first, then the final states); the tensors' names for several zero tensors.
    results: tuple[str | tuple[str, ...], ...] = ()
    # Several tensors: each one's shape in dimension names ("4*hidden"); "input" and "hidden"
    # are the arguments input_size and hidden_size. Empty: the RNN's W_xh, W_hh, b_h.
    shapes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.returns not in RETURNS:
            raise ValueError(f"function {self.name}: unknown return kind {self.returns!r}")
        if self.returns == "sequence" and len(result_names(self.results)) < 2:
            raise ValueError(f"function {self.name}: a sequence returns its output and states")


@dataclass(frozen=True, kw_only=True)
class Check:
    """One graded check: a stable id, its weight, and the generic kind that evaluates it."""

    id: str  # stable, "<function>.<aspect>"; reports and gradebooks key on it
    points: float  # points available
    title: str  # short human description
    kind: str  # one of KINDS
    function: str  # the function it grades

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"check {self.id}: unknown kind {self.kind!r}")


@dataclass(frozen=True, kw_only=True)
class Replay:
    """How the engine reproduces a mistake's answer from the reference (one field is set)."""

    inputs: Mapping[str, str] = field(default_factory=dict)  # argument -> one of INPUT_CHANGES
    output: str = ""  # one of OUTPUT_CHANGES, applied to the reference's output
    variant: Callable[..., Any] | None = None  # a mistaken function declared in the spec
    # Final states returned in the wrong places: returned name -> the reference's state it holds,
    # {"h_n": "c_n", "c_n": "h_n"} for (h_n, c_n) swapped.
    states: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if set(self.inputs.values()) - INPUT_CHANGES:
            raise ValueError(f"unknown input change in {dict(self.inputs)}")
        if self.output and self.output not in OUTPUT_CHANGES:
            raise ValueError(f"unknown output change {self.output!r}")
        if sorted(self.states) != sorted(self.states.values()):
            raise ValueError(f"states {dict(self.states)} are not a reordering of the same names")
        changes = (self.inputs, self.output, self.variant is not None, self.states)
        if sum(bool(change) for change in changes) != 1:
            raise ValueError(
                "a replay changes one: the inputs, the output, the function or the states"
            )


@dataclass(frozen=True, kw_only=True)
class Mistake:
    """A known mistake: its stable id, how to replay it, and what to look at."""

    id: str  # stable, for hints and analytics
    hint: str  # what to look at, without giving the code away
    replay: Replay | None = None  # None: recognised from shapes, types or traces by a kind
    only: tuple[str, ...] = ()  # the functions whose answers it may explain (empty: any)
    # "Type: start of message" of the exception the mistake raises, if any: an exception that
    # starts so is this mistake (torch's words, or the sandbox's: never the grader's own).
    raises: str = ""


@dataclass(frozen=True, kw_only=True)
class Module:
    """The torch module a function returns, for the module and parity kinds."""

    type: str  # its exact class, e.g. "torch.nn.RNN"
    config: Mapping[str, Any]  # attribute -> required value
    params: Mapping[str, tuple[str, ...]]  # parameter -> shape in dimension names ("4*hidden")
    summary: str  # what the module check asks, in words: "one layer, tanh, batch_first=True"
    states: tuple[str, ...]  # case tensors the module starts from: ("h0",) or ("h0", "c0")
    # The known mistakes the engine establishes, by the slip: "untransposed" (weights copied
    # without .T), "not-batch-first", "default-dtype" (float32 kept), "bias-hh" (b in both biases).
    mistakes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Spec:
    """Everything an assignment declares; the engine knows nothing else about it."""

    name: str  # the assignment's name, e.g. "rnn_forward"; its folder's name
    notebook: str  # the student notebook's file name, e.g. "rnn_forward.ipynb"
    functions: tuple[Function, ...]  # in contract order
    checks: tuple[Check, ...]  # in report order
    mistakes: tuple[Mistake, ...]  # replayed or recognised, first match wins
    tolerances: Mapping[str, Tolerance]  # dtype name -> comparison tolerance
    public_cases: Callable[[], CaseSet]  # () -> the case set a student sees
    full_cases: Callable[[int], CaseSet]  # grading seed -> public plus hidden cases
    module: Module | None = None  # what the module-returning function must build
    initial: str = ""  # the forward argument holding the initial state (for output replays)
    builtins: frozenset[str] = frozenset()  # torch ops that solve it outright: no value credit
    # h_t (1-based) the solution's demo cells print, to 4 decimals: `assign` checks them.
    golden: Mapping[int, tuple[float, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = {f.name for f in self.functions}
        ids = [c.id for c in self.checks]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self.name}: duplicate check ids")
        if stray := sorted({c.function for c in self.checks} - names):
            raise ValueError(f"{self.name}: checks of undeclared functions {stray}")

    def function(self, name: str) -> Function:
        """The declared function of this name (KeyError when there is none)."""
        for function in self.functions:
            if function.name == name:
                return function
        raise KeyError(name)

    @property
    def function_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.functions)

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.checks)

    def check(self, check_id: str) -> Check:
        """The check with this id (KeyError when there is none)."""
        for check in self.checks:
            if check.id == check_id:
                return check
        raise KeyError(check_id)

    def hint(self, mistake_id: str) -> str:
        """The hint of a known mistake (KeyError when the spec declares none)."""
        for mistake in self.mistakes:
            if mistake.id == mistake_id:
                return mistake.hint
        raise KeyError(mistake_id)
