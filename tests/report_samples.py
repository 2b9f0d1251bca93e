"""GradeResults built in memory for the writer tests: fixed durations, fixed environment.

`GOLDEN_SAMPLES` are rendered into tests/goldens/; `hostile` is only checked for validity.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fixtures.submissions import CATALOG, SPECS

from grader.results import (
    CheckResult,
    Environment,
    GradeResult,
    Outcome,
    Problem,
    SubmissionInfo,
)

PROTECTIONS = ("rlimit_as", "rlimit_cpu", "rlimit_nproc", "no_network", "scrubbed_env", "tmpdir")
HOSTILE = (
    "\x00\x07]]><script>alert(1)</script>\n::error::x\r\x1b[2J&amp; |a|b| [x](y) \u202e \udcff"
)


def environment(**changes: Any) -> Environment:
    """The fixed grading environment, with `changes` applied."""
    values: dict[str, Any] = {
        "grader_version": "0.1.0",
        "torch_version": "2.3.1",
        "python_version": "3.11.7",
        "device": "cpu",
        "case_set": "full",
        "case_set_id": "c0ffee12",
        "assignment": "rnn_forward",
        "protections": PROTECTIONS,
    }
    return Environment(**{**values, **changes})


def check(
    check_id: str, outcome: Outcome, message: str, *, points: float | None = None, **details: Any
) -> CheckResult:
    """A check result; full points when passed unless `points` says otherwise."""
    max_points = SPECS[check_id].points
    earned = points if points is not None else (max_points if outcome is Outcome.PASSED else 0)
    return CheckResult(
        id=check_id,
        title=SPECS[check_id].title,
        points=earned,
        max_points=max_points,
        outcome=outcome,
        message=message,
        details=details,
        duration=0.125,
    )


def submission(path: str = "submissions/ada/rnn_forward.ipynb") -> SubmissionInfo:
    """The graded file, with a fixed checksum."""
    return SubmissionInfo(path=path, sha256="ab" * 32)


def all_passed() -> GradeResult:
    """Every check passes: 100 / 100."""
    checks = tuple(check(spec.id, Outcome.PASSED, f"ok: {spec.title}") for spec in CATALOG)
    return GradeResult(
        submission=submission(), checks=checks, environment=environment(), duration=4.5
    )


# Details as the checks report them: where the first divergence is, how far, and a hint.
SEED_DETAILS: dict[str, Any] = {
    "seed": 0,
    "tensor": "W_hh",
    "max_error": 2.3125,
    "hint": "draw W_xh first, then W_hh, right after torch.manual_seed(seed)",
}
STEP_DETAILS: dict[str, Any] = {
    "matched": 18,
    "total": 24,
    "case": 3,
    "step": 2,
    "unit": 1,
    "expected": 0.4721,
    "got": float("nan"),
    "max_error": float("inf"),
    "hint": "h_{t-1} must feed the next step: update h inside the loop",
}
PARITY_DETAILS: dict[str, Any] = {
    "case": 1,
    "max_error": 0.0421,
    "hint": "weight_ih_l0 is W_xh.T, not W_xh",
}


def mixed_checks() -> tuple[CheckResult, ...]:
    """Partial credit, wrong answers, an exception and a timeout, in catalog order."""
    passed, failed = Outcome.PASSED, Outcome.FAILED
    name_error = "NameError: name 'W' is not defined\n  in rnn_forward_fused, cell 7, line 4"
    return (
        check("init_hidden.shape", passed, "shape (batch, hidden) for 4 sizes"),
        check("init_hidden.values", passed, "all zeros, float32"),
        check("init_weights.shape", passed, "W_xh, W_hh and b_h have the right shapes"),
        check("init_weights.values", failed, "W_hh differs from the seeded draw", **SEED_DETAILS),
        check("rnn_forward.shape", passed, "output and h_n shapes match on 12 cases"),
        check(
            "rnn_forward.values",
            failed,
            "h_t differs from the reference on 6 of 24 (case, step) pairs",
            points=22.5,
            **STEP_DETAILS,
        ),
        check("rnn_forward_fused.values", Outcome.ERROR, name_error, exception="NameError"),
        check(
            "rnn_forward_fused.structure",
            Outcome.TIMEOUT,
            "rnn_forward_fused did not return within 10 s",
            limit_seconds=10.0,
        ),
        check("to_nn_rnn.module", passed, "a one-layer tanh nn.RNN with batch_first=True"),
        check("to_nn_rnn.parity", failed, "nn.RNN output differs", points=10, **PARITY_DETAILS),
    )


def mixed() -> GradeResult:
    """A typical partly right submission, with notebook problems and captured output."""
    return GradeResult(
        submission=submission(),
        checks=mixed_checks(),
        environment=environment(missing_protections=("seccomp: not available on this kernel",)),
        problems=(
            Problem(message="top-level plt.show() call skipped", cell=9, line=3),
            Problem(message="cell imports matplotlib, which is not installed", cell=2),
        ),
        output="h1 = tensor([[0.9123, -0.2853, -0.9747, 0.5142]])\ndebug: step 2\n",
        duration=7.25,
    )


def ungradable() -> GradeResult:
    """A notebook whose code does not parse: every check is an error, with the reason."""
    checks = tuple(
        check(spec.id, Outcome.ERROR, "not evaluated: the submission is ungradable")
        for spec in CATALOG
    )
    return GradeResult(
        submission=submission("submissions/bob/rnn_forward.ipynb"),
        checks=checks,
        environment=environment(case_set="public", case_set_id="public-7"),
        problems=(
            Problem(message="SyntaxError: invalid syntax", cell=4, line=2, severity="error"),
        ),
        ungradable="cell 4 has a syntax error, so none of the five functions could be defined",
        duration=0.5,
    )


def hostile() -> GradeResult:
    """Student-controlled text at its worst in every field a writer shows."""
    checks = tuple(
        check(
            spec.id,
            outcome,
            HOSTILE + "x" * 1_000_000,
            points=0,
            **{"case": HOSTILE, "hint": HOSTILE, HOSTILE: [HOSTILE, float("nan")]},
        )
        for spec, outcome in zip(CATALOG, list(Outcome) * 3, strict=False)
    )
    return GradeResult(
        submission=submission(HOSTILE),
        checks=checks,
        environment=environment(),
        problems=tuple(Problem(message=HOSTILE, cell=n) for n in range(200)),
        ungradable=HOSTILE,
        output=(HOSTILE + "\n") * 100_000,
        duration=1.0,
    )


GOLDEN_SAMPLES: dict[str, Callable[[], GradeResult]] = {
    "all_passed": all_passed,
    "mixed": mixed,
    "ungradable": ungradable,
}


def outside_code_spans(markdown: str) -> str:
    """`markdown` with its code spans cut out, line by line (CommonMark's pairing of backtick
    runs of equal length): what is left is what a renderer could act on."""
    return "\n".join(_outside_spans(line) for line in markdown.split("\n"))


def _outside_spans(line: str) -> str:
    runs = list(re.finditer(r"`+", line))
    kept, position, index = [], 0, 0
    while index < len(runs):
        opener = runs[index]
        closer = next(
            (j for j in range(index + 1, len(runs)) if len(runs[j][0]) == len(opener[0])), None
        )
        if closer is None:
            index += 1
            continue
        kept.append(line[position : opener.start()])
        position, index = runs[closer].end(), closer + 1
    return "".join(kept) + line[position:]
