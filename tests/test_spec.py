"""Assignment specs: the RNN's spec declares exactly today's catalog, hints and signatures."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

import grader.load
from grader import misconceptions
from grader.assign import write_assignment
from grader.errors import UsageError
from grader.load import SOLUTIONS, assignment_names, load_assignment, load_spec
from grader.report import render
from grader.results import CheckResult, Environment, GradeResult, Outcome, SubmissionInfo
from grader.spec import Check, Function, Replay, Spec

RNN = SOLUTIONS / "rnn_forward"
# Round 1's catalog (grader/catalog.py until the spec became the only source): reports and
# gradebooks key on these ids, points and titles.
ROUND_ONE_CATALOG = (
    ("init_hidden.shape", 2, "init_hidden returns (batch, hidden)"),
    ("init_hidden.values", 3, "init_hidden is all zeros, floating point"),
    ("init_weights.shape", 4, "init_weights returns the three shapes"),
    ("init_weights.values", 6, "init_weights matches the seeded draws"),
    ("rnn_forward.shape", 10, "rnn_forward output and h_n shapes"),
    ("rnn_forward.values", 30, "rnn_forward hidden states, step by step"),
    ("rnn_forward_fused.values", 15, "rnn_forward_fused hidden states"),
    ("rnn_forward_fused.structure", 5, "one matrix product per time step"),
    ("to_nn_rnn.module", 5, "to_nn_rnn returns the right nn.RNN"),
    ("to_nn_rnn.parity", 20, "nn.RNN from the parameters matches"),
)
ROUND_ONE_FUNCTIONS = (
    "init_hidden", "init_weights", "rnn_forward", "rnn_forward_fused", "to_nn_rnn"
)  # fmt: skip


def test_rnn_spec_declares_todays_catalog_ids_points_and_titles() -> None:
    spec = load_spec(RNN)
    declared = [(c.id, c.points, c.title) for c in spec.checks]
    assert declared == list(ROUND_ONE_CATALOG)
    assert spec.max_score == 100


def test_rnn_spec_declares_the_five_functions_and_their_arguments() -> None:
    spec = load_spec(RNN)
    assert spec.function_names == ROUND_ONE_FUNCTIONS
    assert {f.name: f.args for f in spec.functions} == {
        "init_hidden": ("batch_size", "hidden_size"),
        "init_weights": ("input_size", "hidden_size", "seed"),
        "rnn_forward": ("x", "h0", "W_xh", "W_hh", "b_h"),
        "rnn_forward_fused": ("x", "h0", "W_xh", "W_hh", "b_h"),
        "to_nn_rnn": ("W_xh", "W_hh", "b_h"),
    }  # round 1's grader.plan.ARG_NAMES


def _gradescope_tests(spec: Spec) -> list[dict[str, str]]:
    """The Gradescope tests of a result that passes every check `spec` declares."""
    passed = {"outcome": Outcome.PASSED, "message": "ok"}
    checks = tuple(CheckResult(id=c.id, points=c.points, max_points=c.points, **passed)
                   for c in spec.checks)  # fmt: skip
    environment = Environment(grader_version="0", torch_version="0", python_version="3",
                              device="cpu", case_set="full", case_set_id="c")  # fmt: skip
    result = GradeResult(submission=SubmissionInfo(path="nb.ipynb", sha256=""), checks=checks,
                         environment=environment)  # fmt: skip
    tests: list[dict[str, str]] = json.loads(render(result, "gradescope"))["tests"]
    return tests


@pytest.mark.parametrize("name", ["rnn_forward", "lstm_forward"])
def test_gradescope_names_and_numbers_checks_from_their_own_spec(name: str) -> None:
    spec = load_spec(SOLUTIONS / name)
    tests = _gradescope_tests(spec)
    assert [t["name"] for t in tests] == [f"{c.id}: {c.title}" for c in spec.checks]
    assert [t["number"] for t in tests] == [str(n) for n in range(1, len(spec.checks) + 1)]


def test_gradescope_titles_come_from_a_spec_loaded_by_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Gradescope bundle grades with `--assignment PATH`: no installed assignment there."""
    folder = tmp_path / "course_lstm"
    shutil.copytree(SOLUTIONS / "lstm_forward", folder)
    text = (folder / "spec.py").read_text()
    (folder / "spec.py").write_text(text.replace("init_state returns", "our init_state returns"))
    monkeypatch.setattr(grader.load, "SOLUTIONS", tmp_path / "none installed")
    monkeypatch.delitem(sys.modules, "_grader_assignment_lstm_forward", raising=False)
    try:
        tests = _gradescope_tests(load_spec(folder))
    finally:
        sys.modules.pop(f"_grader_assignment_{folder.name}", None)  # no later test may see it
    assert tests[0]["name"].startswith("init_state.shape: our init_state returns")


# The mistake ids of round 1: reports and analytics key on them (hint texts: tools/dump_canonical).
ROUND_1_MISTAKES = {
    "whh-transposed", "bias-missing", "relu", "sigmoid", "no-activation", "pre-activation",
    "h0-ignored", "output-includes-h0", "output-shifted", "last-step-dropped",
    "time-first-output", "batch-of-one-only", "concat-order-swapped", "fused-weights-swapped",
    "hard-coded-length", "overwrites-argument", "ignores-input-dtype", "builtin-rnn",
    "fused-two-products", "init-weights-order", "nn-linear-layout", "init-hidden-fixed-rows",
    "nn-rnn-untransposed", "nn-rnn-bias-hh", "nn-rnn-not-batch-first", "nn-rnn-default-dtype",
    "copy-into-parameter-with-grad",
}  # fmt: skip


def test_rnn_spec_declares_the_round_1_mistakes_once_each() -> None:
    ids = [m.id for m in load_spec(RNN).mistakes]
    assert sorted(ids) == sorted(ROUND_1_MISTAKES)


def test_rnn_spec_recognises_exceptions_as_round_1_did() -> None:
    spec = load_spec(RNN)
    raising = {m.id: m.raises for m in spec.mistakes if m.raises}
    assert raising == {
        "builtin-rnn": "RuntimeError: built-in recurrent kernels are disabled while grading",
        "copy-into-parameter-with-grad": "RuntimeError: a leaf Variable that requires grad is"
        " being used in an in-place operation",
    }  # round 1's misconceptions.KNOWN_ERRORS
    assert all(misconceptions.error_mistake(text, spec) == name for name, text in raising.items())


def test_rnn_spec_is_under_150_lines() -> None:
    assert len((RNN / "spec.py").read_text().splitlines()) < 150


def test_loading_a_spec_never_puts_its_folder_on_sys_path() -> None:
    before = list(sys.path)
    load_spec(RNN)
    assert sys.path == before
    assert not any(Path(p).resolve() == RNN.resolve() for p in sys.path if p)


def test_the_rnn_is_an_assignment_folder() -> None:
    assert "rnn_forward" in assignment_names()


def test_a_check_of_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        Check(id="f.x", points=1, title="t", kind="vibes", function="f")


def test_a_replay_must_say_exactly_one_way_to_replay() -> None:
    with pytest.raises(ValueError, match="one"):
        Replay()
    with pytest.raises(ValueError, match="unknown output change"):
        Replay(output="reverse")


def test_a_function_of_an_unknown_return_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown return kind"):
        Function(name="f", args=(), returns="vibes")


def test_an_assignment_whose_check_the_engine_cannot_evaluate_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    shutil.copy(RNN / "solution.ipynb", folder / "solution.ipynb")
    (folder / "spec.py").write_text(
        "import dataclasses\n"
        "from grader.load import SOLUTIONS, load_spec\n"
        "RNN = load_spec(SOLUTIONS / 'rnn_forward')\n"
        "odd = dataclasses.replace(RNN.checks[0], kind='structure')\n"
        "SPEC = dataclasses.replace(RNN, checks=(odd, *RNN.checks[1:]))\n"
    )
    with pytest.raises(UsageError, match=r"init_hidden\.shape"):
        load_assignment(folder)


def test_the_rnn_spec_forbids_round_1s_built_in_recurrent_ops() -> None:
    assert load_spec(RNN).builtins == {
        "rnn_tanh", "rnn_relu", "rnn_tanh_cell", "rnn_relu_cell", "lstm", "gru", "lstm_cell",
        "gru_cell",
    }  # fmt: skip


def test_assign_names_the_student_notebook_as_the_spec_beside_the_solution(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "other"
    folder.mkdir()
    shutil.copy(RNN / "solution.ipynb", folder / "solution.ipynb")
    (folder / "spec.py").write_text(
        "import dataclasses\n"
        "from grader.load import SOLUTIONS, load_spec\n"
        "SPEC = dataclasses.replace(load_spec(SOLUTIONS / 'rnn_forward'), notebook='other.ipynb')\n"
    )
    written = write_assignment(folder / "solution.ipynb", tmp_path / "out")
    assert written == tmp_path / "out" / "other.ipynb" and written.is_file()
    loose = shutil.copy(RNN / "solution.ipynb", tmp_path / "mine_solution.ipynb")
    assert write_assignment(Path(loose), tmp_path / "out2") == tmp_path / "out2" / "mine.ipynb"
