"""The module kinds take the module's type, states and mistake ids from the spec, not the RNN."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import torch
from fixtures.submissions import MISTAKES, correct_cells, notebook

from grader.grading import GradeOptions, Grader
from grader.load import SOLUTIONS, load_assignment
from grader.misconceptions import Replays
from grader.results import GradeResult
from grader.sandbox.client import Sandbox
from grader.spec import Module


@pytest.fixture(scope="module")
def renamed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The RNN folder with its module mistakes named nn-elman-* instead of nn-rnn-*."""
    folder = tmp_path_factory.mktemp("renamed") / "elman"
    shutil.copytree(SOLUTIONS / "rnn_forward", folder)
    spec = (folder / "spec.py").read_text(encoding="utf-8")
    assert spec.count("nn-rnn-") >= 5
    (folder / "spec.py").write_text(spec.replace("nn-rnn-", "nn-elman-"), encoding="utf-8")
    return folder


def _grade(folder: Path, sandbox: Sandbox, cells: list[str]) -> GradeResult:
    options = GradeOptions(public_only=True)
    with Grader(options, sandbox=sandbox, assignment=load_assignment(folder)) as grader:
        return grader.grade_bytes(notebook(cells))


@pytest.mark.parametrize(
    ("fixture", "check", "mistake"),
    [
        ("to-nn-rnn-untransposed", "to_nn_rnn.module", "nn-elman-untransposed"),
        ("to-nn-rnn-not-batch-first", "to_nn_rnn.module", "nn-elman-not-batch-first"),
    ],
)
def test_module_mistakes_are_named_as_the_spec_names_them(
    renamed: Path, sandbox: Sandbox, fixture: str, check: str, mistake: str
) -> None:
    result = _grade(renamed, sandbox, list(MISTAKES[fixture].cells))
    details = next(c.details for c in result.checks if c.id == check)
    assert details.get("misconception") == mistake
    assert details.get("hint")


def test_the_correct_module_passes_under_other_mistake_names(
    renamed: Path, sandbox: Sandbox
) -> None:
    result = _grade(renamed, sandbox, correct_cells())
    assert result.score == result.max_score


def test_parity_runs_an_lstm_from_both_of_its_initial_states() -> None:
    rnn = load_assignment(SOLUTIONS / "rnn_forward")
    lstm_module = Module(
        type="torch.nn.LSTM", summary="one layer, batch_first=True", states=("h0", "c0"),
        config={"batch_first": True},
        params={"weight_ih_l0": ("4*hidden", "input"), "weight_hh_l0": ("4*hidden", "hidden"),
                "bias_ih_l0": ("4*hidden",), "bias_hh_l0": ("4*hidden",)},
    )  # fmt: skip
    known = Replays(dataclasses.replace(rnn.spec, module=lstm_module), rnn.reference)
    draws = torch.Generator().manual_seed(3)
    reference = torch.nn.LSTM(2, 3, batch_first=True).double()
    named = reference.named_parameters()
    params = {name: torch.randn(p.shape, generator=draws) for name, p in named}
    x, h0, c0 = (torch.randn(*shape, generator=draws) for shape in ((4, 5, 2), (4, 3), (4, 3)))
    with torch.no_grad():
        for name, value in params.items():
            getattr(reference, name).copy_(value)
        want = reference(x.double(), (h0.double().unsqueeze(0), c0.double().unsqueeze(0)))[0]
    assert torch.allclose(known.module_output(params, x, h0, c0), want)
    assert not torch.allclose(known.module_output(params, x, h0, torch.zeros(4, 3)), want)
