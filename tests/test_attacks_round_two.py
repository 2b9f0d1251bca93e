"""Attacks from the second red-team pass: forged harness frames, channels through type names and
timing, a nameless signal, and escape names the scan used to miss."""

from __future__ import annotations

import base64
import sys

import pytest
from fixtures.helpers import by_id, describe
from fixtures.submissions import CORRECT, FUNCTIONS, correct_cells, notebook

from grader.extract import extract, load_notebook
from grader.grading import grade_bytes
from grader.report import FORMATS, render
from grader.results import GradeResult, Outcome
from grader.sandbox.client import Sandbox

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's walls are Linux's")

# Each finds the result pipe in the harness's frames and writes a frame of its own into it.
_FIND_PIPE = """
    import sys, json, struct, os
    f = sys._getframe(1)
    while "fd" not in f.f_locals:
        f = f.f_back
    fd = f.f_locals["fd"]
"""
FORGED_READY = f"""
def rnn_forward(x, h0, W_xh, W_hh, b_h):{_FIND_PIPE}
    head = json.dumps({{"type": "ready", "active": ["FORGEDMARKER"], "missing": []}}).encode()
    os.write(fd, struct.pack(">I", len(head) + 1) + head + b"\\n")
    raise ValueError("no answer")
"""
FORGED_TIMEOUT = f"""
def rnn_forward(x, h0, W_xh, W_hh, b_h):{_FIND_PIPE}
    index = f.f_locals["start"] + f.f_locals["offset"]
    body = json.dumps({{"status": "timeout", "error": "timed out FORGEDMARKER"}}).encode()
    head = json.dumps({{"type": "call", "index": index, "output": ""}}).encode()
    os.write(fd, struct.pack(">I", len(head) + 1 + len(body)) + head + b"\\n" + body)
    return h0, h0
"""
TYPE_TREE = """
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    leaf = (dict(), set(), complex(1), range(2))
    return ((leaf, leaf), (leaf, leaf)), ((leaf, leaf), (leaf, leaf))
"""
NAMELESS_SIGNAL = """
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    import os
    os.kill(os.getpid(), 40)
"""


def _shown(result: GradeResult, fmt: str) -> str:
    text = render(result, fmt, b"")
    return base64.b64decode(text).decode() if fmt == "classroom" else text


@pytest.mark.parametrize(
    "forward", [FORGED_READY, FORGED_TIMEOUT], ids=["ready-frame", "timeout-result"]
)
def test_a_forged_harness_frame_carries_nothing_into_a_hidden_grade(
    forward: str, sandbox: Sandbox
) -> None:
    result = grade_bytes(notebook(correct_cells(rnn_forward=forward)), sandbox=sandbox)
    assert "FORGEDMARKER" not in " ".join(result.environment.protections)
    for fmt in FORMATS:
        assert "FORGEDMARKER" not in _shown(result, fmt), fmt


def test_a_tree_of_chosen_types_is_not_spelled_out_in_a_hidden_grade(sandbox: Sandbox) -> None:
    result = grade_bytes(notebook(correct_cells(rnn_forward=TYPE_TREE)), sandbox=sandbox)
    shown = " ".join(c.message for c in result.checks)
    assert "builtins.dict" not in shown and "builtins.complex" not in shown, describe(result)


def test_a_nameless_signal_costs_only_its_own_function(sandbox: Sandbox) -> None:
    data = notebook(correct_cells(rnn_forward=NAMELESS_SIGNAL))
    result = grade_bytes(data, sandbox=sandbox, public_only=True)  # crash texts show there
    checks = by_id(result)
    assert checks["rnn_forward.values"].points == 0
    assert checks["rnn_forward_fused.values"].outcome is Outcome.PASSED, describe(result)
    assert "signal 40" in checks["rnn_forward.values"].message, describe(result)


def test_a_hidden_grade_reports_its_duration_in_whole_seconds(sandbox: Sandbox) -> None:
    result = grade_bytes(notebook(correct_cells()), sandbox=sandbox)
    assert result.duration == int(result.duration)


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("getattr(self, name)", "getattr with a computed attribute name"),
        ("[sys][0].modules", "....modules"),
        ("s = sys; s.modules", "s.modules"),
        ("builtins_module.getattr", "getattr"),
    ],
)
def test_escapes_the_first_scan_missed_are_found(line: str, named: str) -> None:
    forward = CORRECT["rnn_forward"].replace("):\n", f"):\n    {line}\n", 1)
    extracted = extract(load_notebook(notebook(correct_cells(rnn_forward=forward))), FUNCTIONS)
    assert extracted.escapes.get("rnn_forward") == named


def test_torch_holds_no_ctypes_in_the_child(sandbox: Sandbox) -> None:
    probe = """
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    import torch.cuda.memory as memory
    assert not hasattr(memory, "ctypes") and not hasattr(torch, "ctypes")
    raise ValueError("ctypes is out of torch")
"""
    result = grade_bytes(
        notebook(correct_cells(rnn_forward=probe)), sandbox=sandbox, public_only=True
    )
    assert "ctypes is out of torch" in by_id(result)["rnn_forward.values"].message, describe(result)


def test_a_method_named_modules_is_no_escape() -> None:
    forward = CORRECT["rnn_forward"].replace(
        "):\n", "):\n    parts = list(W_xh.new_zeros(1).flatten())\n", 1
    )
    extracted = extract(load_notebook(notebook(correct_cells(rnn_forward=forward))), FUNCTIONS)
    assert extracted.escapes == {}
    honest = "torch.nn.Sequential(torch.nn.Identity()).modules()"
    forward = CORRECT["rnn_forward"].replace("):\n", f"):\n    list({honest})\n", 1)
    extracted = extract(load_notebook(notebook(correct_cells(rnn_forward=forward))), FUNCTIONS)
    assert extracted.escapes == {}
