"""Pure checks of generic kinds, parametrized by the spec: one per (kind, what a function returns).

The spec's checks name a kind and a function; the function's return kind picks the check that
reads it. No check knows an assignment: each is given the function it grades.
"""

from __future__ import annotations

from collections.abc import Callable

from grader.checks import forward, fused, initial, module
from grader.checks.common import Context, Verdict
from grader.spec import Check, Spec

CheckFunction = Callable[[Context], Verdict]
KindFunction = Callable[[Context, str], Verdict]

KINDS: dict[tuple[str, str], KindFunction] = {
    ("shape", "tensor"): initial.tensor_shape,
    ("exact", "tensor"): initial.tensor_zeros,
    ("shape", "tensors"): initial.tensors_shape,
    ("exact", "tensors"): initial.tensors_exact,
    ("shape", "sequence"): forward.forward_shape,
    ("steps", "sequence"): forward.forward_values,
    ("structure", "sequence"): fused.fused_structure,
    ("module", "module"): module.module_check,
    ("parity", "module"): module.parity_check,
}


def run_check(check: Check, spec: Spec, ctx: Context) -> Verdict:
    """The verdict of one declared check (KeyError when the engine has no such kind)."""
    kind = KINDS[(check.kind, spec.function(check.function).returns)]
    return kind(ctx, check.function)


__all__ = ["KINDS", "CheckFunction", "Context", "Verdict", "run_check"]
