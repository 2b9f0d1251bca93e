"""The reference is the solution notebook: extracted like a student's, run trusted in float64."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from grader import plan, reference
from grader.cases import Case
from grader.errors import UsageError
from grader.load import SOLUTIONS, find_assignment, load_assignment, load_sibling

RNN = SOLUTIONS / "rnn_forward"
RNN_CASES = load_sibling(RNN / "spec.py", "cases")  # its own cases
full_cases, public_cases = RNN_CASES.full_cases, RNN_CASES.public_cases


def _engines_old_forward(case: Case) -> torch.Tensor:
    """The float64 loop grader/reference.py computed before the solution became the reference."""
    names = ("x", "h0", "W_xh", "W_hh", "b_h")
    x, h, w_xh, w_hh, b = (case[name].to(torch.float64) for name in names)
    steps = []
    for t in range(x.shape[1]):
        z = x[:, t] @ w_xh + h @ w_hh
        h = torch.tanh(z + b)
        steps.append(h)
    return torch.stack(steps, dim=1)


def _engines_old_draws(inputs: int, hidden: int, seed: int) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    w_xh = torch.randn(inputs, hidden, generator=generator)
    return w_xh, torch.randn(hidden, hidden, generator=generator), torch.zeros(hidden)


# A line of the solution's rnn_forward docstring: nothing else in the grader holds it.
MARKER = "Run a tanh RNN over x, one time step at a time."


@pytest.mark.parametrize("case_set", ["public", "full"])
def test_the_solution_gives_exactly_the_old_reference_on_every_case(case_set: str) -> None:
    cases = public_cases() if case_set == "public" else full_cases(20261128)
    rnn = load_assignment(RNN)
    expected = reference.expected_for(plan.plan(cases, rnn.spec), rnn.spec, rnn.reference)
    for case, got in zip(cases.forward, expected.sequence, strict=True):
        old = _engines_old_forward(case)
        assert got.dtype == torch.float64 and torch.equal(got, old), case.name
    zeros = expected.of("init_hidden")
    for (batch, hidden), got in zip(cases.calls["init_hidden"], zeros, strict=True):
        assert torch.equal(got, torch.zeros(batch, hidden))
    for sizes, drawn in zip(cases.calls["init_weights"], expected.of("init_weights"), strict=True):
        old_draws = _engines_old_draws(*sizes)
        assert all(torch.equal(a, b) for a, b in zip(drawn, old_draws, strict=True))


def test_the_reference_leaves_torchs_global_generator_as_it_was() -> None:
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    rnn = load_assignment(RNN)
    reference.expected_for(plan.plan(public_cases(), rnn.spec), rnn.spec, rnn.reference)
    assert torch.equal(torch.get_rng_state(), before)


def test_the_solutions_folder_is_never_put_on_sys_path() -> None:
    before = list(sys.path)
    load_assignment(RNN)
    assert sys.path == before


def test_an_unknown_assignment_is_a_usage_error_that_lists_them() -> None:
    with pytest.raises(UsageError, match="rnn_forward"):
        find_assignment("no_such_assignment")


def test_without_a_name_only_a_single_assignment_is_chosen(tmp_path: Path) -> None:
    shutil.copytree(RNN, tmp_path / "rnn_forward")
    assert find_assignment(root=tmp_path) == tmp_path / "rnn_forward"
    shutil.copytree(RNN, tmp_path / "other")
    with pytest.raises(UsageError, match="other, rnn_forward"):
        find_assignment(root=tmp_path)
    assert find_assignment("other", root=tmp_path) == tmp_path / "other"


# Run in a fresh interpreter, as a batch worker is: the zygote forked first, then the Grader.
ZYGOTE_PROBE = """
import os, sys
from grader.grading import GradeOptions, Grader
from grader.sandbox.client import Sandbox

def holds(pid, needle):
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps.read().splitlines():
            span, perms = line.split()[:2]
            start, end = (int(x, 16) for x in span.split("-"))
            if perms.startswith("rw"):
                try:
                    mem.seek(start)
                    if needle in mem.read(end - start):
                        return True
                except (OSError, ValueError, OverflowError):
                    pass
    return False

options = GradeOptions(assignment="rnn_forward")
with Sandbox(fork=True) as sandbox, Grader(options, sandbox) as grader:
    needle = sys.argv[1][::-1].encode()  # made after the fork, from text written backwards
    print(holds(os.getpid(), needle), holds(sandbox._process.pid, needle))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="reading another process's memory needs root")
def test_a_zygote_forked_as_a_worker_does_never_holds_the_reference() -> None:
    done = subprocess.run([sys.executable, "-c", ZYGOTE_PROBE, MARKER[::-1]], capture_output=True,
                          text=True, timeout=120, check=False, cwd=SOLUTIONS.parent)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "False"]  # the grader holds it, the zygote does not
