"""GPU grading: inputs on CUDA, outputs must follow them. Skipped cleanly without a CUDA GPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from grader.cli import ExitCode, main
from grader.grading import GradeOptions, Grader

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; torch sees none"),
]
CPU_ONLY_FORWARD = """
import torch
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    out = torch.zeros(x.shape[0], x.shape[1], W_hh.shape[0], dtype=x.dtype)  # forgets the device
    h = h0
    for t in range(x.shape[1]):
        h = torch.tanh(x[:, t] @ W_xh + h @ W_hh + b_h)
        out[:, t] = h.cpu()
    return out, h
"""


def test_the_solution_scores_full_marks_on_cuda(capsys: pytest.CaptureFixture[str]) -> None:
    notebook = ROOT / "solutions" / "rnn_forward" / "solution.ipynb"
    assert main(["grade", str(notebook), "--device", "cuda", "--format", "json"]) == ExitCode.PASSED
    report = json.loads(capsys.readouterr().out)
    assert report["environment"]["device"] == "cuda" and report["score"] == 100


def test_outputs_left_on_the_cpu_get_no_value_credit() -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(CPU_ONLY_FORWARD)])
    with Grader(GradeOptions(assignment="rnn_forward", public_only=True, device="cuda")) as grader:
        result = grader.grade_bytes(nbformat.writes(notebook).encode())
    values = next(c for c in result.checks if c.id == "rnn_forward.values")
    assert values.points == 0 and "cpu" in values.message
