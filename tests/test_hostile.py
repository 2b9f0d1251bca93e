"""Hostile code is contained: it costs only its own checks, and grading goes on after it."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.helpers import below_full, by_id, describe
from fixtures.submissions import (
    HOSTILE,
    PLANTED_RESULTS,
    PLANTED_SECRET,
    correct_cells,
    notebook,
)

from grader.grading import GradeOptions, Grader, grade_bytes
from grader.results import GradeResult, Outcome
from grader.sandbox import landlock, seccomp
from grader.sandbox.client import Sandbox
from grader.settings import DEFAULT_LIMITS

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's walls are Linux's")

IMPATIENT_LIMITS = dataclasses.replace(DEFAULT_LIMITS, call_seconds=1.0, submission_seconds=10.0)
# Which sandbox each submission runs in: loops pay the call limit, so they get a short one;
# whatever aims at the fork server gets one of its own, away from the session's.
SANDBOX_FOR = {
    "infinite-loop": "impatient_sandbox",
    "fork-bomb": "expendable_sandbox",
    "kill-parent": "expendable_sandbox",
    "kill-process-group": "expendable_sandbox",
    "os-exit-at-import": "expendable_sandbox",
}
AVAILABLE = {
    "seccomp": seccomp.available() is None,
    "landlock": landlock.abi_version() > 0,
}


@pytest.fixture(scope="module")
def impatient_sandbox() -> Iterator[Sandbox]:
    with Sandbox(limits=IMPATIENT_LIMITS) as box:
        yield box


@pytest.fixture(scope="module")
def expendable_sandbox() -> Iterator[Sandbox]:
    with Sandbox() as box:
        yield box


@pytest.fixture(scope="module")
def graded() -> dict[str, tuple[GradeResult, Sandbox]]:
    """Hostile submissions already graded in this module, with the sandbox that ran them."""
    return {}


def grade_hostile(name: str, request: pytest.FixtureRequest) -> tuple[GradeResult, Sandbox]:
    """Grade a hostile submission once per module, in the sandbox meant for it."""
    hostile = HOSTILE[name]
    missing = sorted(p for p in hostile.needs if not AVAILABLE[p])
    if missing:
        pytest.skip(f"unsafe to run without {', '.join(missing)}")
    done: dict[str, tuple[GradeResult, Sandbox]] = request.getfixturevalue("graded")
    if name not in done:
        box: Sandbox = request.getfixturevalue(SANDBOX_FOR.get(name, "sandbox"))
        data = notebook(list(hostile.cells))
        done[name] = grade_bytes(data, name=f"{name}.ipynb", sandbox=box), box
    return done[name]


def test_the_catalogue_of_attacks_is_broad() -> None:
    assert len(HOSTILE) >= 10


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_code_costs_only_what_it_attacks(name: str, request: pytest.FixtureRequest) -> None:
    hostile = HOSTILE[name]
    result, _ = grade_hostile(name, request)
    assert result.ungradable is None, describe(result)
    assert below_full(result) == hostile.harmed, describe(result)
    for check_id in hostile.harmed:
        check = by_id(result)[check_id]
        assert hostile.outcome in (None, check.outcome), describe(result)
        assert hostile.mentions in check.message, describe(result)
    protections = " ".join(result.environment.protections)
    assert all(p in protections for p in hostile.needs), result.environment


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_grading_goes_on_after_hostile_code(name: str, request: pytest.FixtureRequest) -> None:
    _, box = grade_hostile(name, request)
    after = grade_bytes(notebook(correct_cells()), sandbox=box)
    assert after.all_passed, describe(after)


def test_an_endless_loop_costs_one_call_limit(request: pytest.FixtureRequest) -> None:
    result, _ = grade_hostile("infinite-loop", request)
    # The limit itself is not named in a hidden grade: a child could forge a "timeout" text.
    assert "timed out" in by_id(result)["rnn_forward.values"].message, describe(result)
    checks = by_id(result)
    assert checks["rnn_forward_fused.values"].outcome is Outcome.PASSED, describe(result)
    assert checks["to_nn_rnn.parity"].outcome is Outcome.PASSED, describe(result)


def test_a_flood_of_output_is_capped(sandbox: Sandbox) -> None:
    # Public cases only: a grade with hidden cases withholds what the code prints (test_secrets).
    data = notebook(list(HOSTILE["print-flood"].cells))
    result = grade_bytes(data, name="print-flood.ipynb", public_only=True, sandbox=sandbox)
    assert result.output.startswith("spam spam")
    assert len(result.output) <= sandbox.limits.output_chars + 200


@pytest.mark.skipif(not AVAILABLE["landlock"], reason="writes outside its directory need Landlock")
def test_planted_result_files_land_nowhere(sandbox: Sandbox) -> None:
    Path(PLANTED_RESULTS).unlink(missing_ok=True)
    candidates = [Path(PLANTED_RESULTS), *(Path.cwd() / n for n in ("results.json", "grade.json"))]
    absent = [path for path in candidates if not path.exists()]
    result = grade_bytes(notebook(list(HOSTILE["fake-results-file"].cells)), sandbox=sandbox)
    assert by_id(result)["rnn_forward.values"].points == 0
    assert [path for path in absent if path.exists()] == []


def test_the_child_sees_no_grading_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret seed in the grader's environment and memory never reaches student code."""
    monkeypatch.setenv("GRADER_SEED", PLANTED_SECRET)
    monkeypatch.setenv("COURSE_TOKEN", PLANTED_SECRET)
    options = GradeOptions(assignment="rnn_forward", grading_seed=int(PLANTED_SECRET))
    with Grader(options) as grader:  # its fork server starts with the secret in our environment
        result = grader.grade_bytes(notebook(list(HOSTILE["peek-at-grader-secrets"].cells)))
    assert by_id(result)["init_hidden.values"].outcome is Outcome.PASSED, describe(result)
    assert result.all_passed, describe(result)
