"""Attacks from the third red-team pass: the LSTM assignment, assignment choice and releases."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
import yaml
from fixtures.helpers import by_id, describe
from fixtures.lstm_submissions import LSTM_CORRECT, lstm_correct_cells
from fixtures.submissions import notebook

from grader.extract import extract, load_notebook
from grader.grading import GradeOptions, Grader
from grader.load import SOLUTIONS, load_assignment
from grader.results import GradeResult
from grader.sandbox.client import Sandbox

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's walls are Linux's")

# torch's own Python LSTM cell (the quantizable one), loaded afresh from its file by a route the
# scan did not know: the fresh copy's code is not the one the sandbox refused.
_FRESH_CELL = """
import pydoc

def _fresh_cell(n_in, hidden, dtype):
    path = torch.__path__[0] + "/ao/nn/quantiza" + "ble/modules/rnn.py"
    module = pydoc.importfile(path)
    kind = pydoc.locate(module.__name__ + ".LSTM" + "Cell")
    return kind(n_in, hidden, dtype=dtype)

def {name}(x, h0, c0, W_xh, W_hh, b):
    cell = _fresh_cell(W_xh.shape[0], W_hh.shape[0], x.dtype)
    with torch.no_grad():
        cell.igates.weight.copy_(W_xh.T)
        cell.igates.bias.copy_(b)
        cell.hgates.weight.copy_(W_hh.T)
        cell.hgates.bias.zero_()
    h, c, states = h0, c0, []
    for t in range(x.shape[1]):
        h, c = cell(x[:, t], (h, c))
        states.append(h)
    return torch.stack(states, 1), (h, c)
"""
FRESH_FORWARD = _FRESH_CELL.replace("{name}", "lstm_forward")
FRESH_FUSED = _FRESH_CELL.replace("{name}", "lstm_forward_fused")

# Every way to run a second copy of a module the refusal patched: by path, from its bytecode,
# reloaded, or its file's code compiled under its own name. Each must raise the refusal.
_SECOND_COPIES = """
import importlib, os, pydoc, sys, tempfile, warnings
import torch
sys.path.insert(0, sys.argv[1])
from grader.sandbox import kernels
warnings.simplefilter("ignore")
assert kernels.disable() == []
os.chdir(tempfile.mkdtemp())
import torch.ao.nn.quantizable.modules.rnn as quantizable
source = quantizable.__file__
cached = importlib.util.cache_from_source(source)
routes = {
    "by path": lambda: pydoc.importfile(source),
    "from bytecode": lambda: pydoc.importfile(cached),
    "through a link": lambda: pydoc.importfile(source.replace("/modules/", "/modules/../modules/")),
    "reloaded": lambda: importlib.reload(torch._decomp.decompositions),
    "compiled": lambda: exec(compile(open(source).read(), source, "exec"), {"__name__": "copy"}),
    "hard link": lambda: (os.link(source, "copy.py"), pydoc.importfile("copy.py")),
    # last: what the refusal could have leaned on, replaced by student code
    "path functions replaced": lambda: (
        setattr(os.path, "realpath", lambda path: "/nowhere"),
        setattr(os.path, "isabs", lambda path: False),
        setattr(os.path, "normpath", lambda path: "/nowhere"),
        pydoc.importfile(source),
    ),
}
ran = []
for name, route in routes.items():
    try:
        route()
        ran.append(name)
    except Exception as exc:
        if kernels.MESSAGE not in str(exc):
            ran.append(f"{name}: {exc!r}")
namedtuple_twice = [__import__("collections").namedtuple("P", "a")(1) for _ in range(2)]
import torch.distributions  # a first import is not a copy: it runs
print(ran)
"""


@pytest.fixture(scope="module")
def lstm(sandbox: Sandbox) -> Iterator[Grader]:
    assignment = load_assignment(SOLUTIONS / "lstm_forward")
    options = GradeOptions(assignment="lstm_forward", public_only=True)  # messages shown
    with Grader(options, sandbox, assignment) as grader:
        yield grader


def _grade(grader: Grader, **overrides: str) -> GradeResult:
    return grader.grade_bytes(notebook(lstm_correct_cells(**overrides)), name="lstm.ipynb")


def test_a_fresh_copy_of_torchs_python_lstm_earns_no_value_credit(lstm: Grader) -> None:
    result = _grade(lstm, lstm_forward=FRESH_FORWARD, lstm_forward_fused=FRESH_FUSED)
    checks = by_id(result)
    for check in ("lstm_forward.values", "lstm_forward_fused.values"):
        assert checks[check].points == 0, describe(result)
        # Refused at run time, whatever the scan knows: the copy's module is named, not a word
        # of the source.
        assert "quantizable" in checks[check].message, describe(result)


@pytest.mark.slow
def test_a_second_copy_of_a_refused_module_is_refused_by_every_route() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SECOND_COPIES, str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[-2] == "[]", done.stdout


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("import pydoc", "pydoc"),
        ("from pydoc import importfile", "pydoc"),
        ("import timeit", "timeit"),
        ("import doctest", "doctest"),
        ("import cProfile", "cProfile"),
        ("import site", "site"),
        ("from typing import get_type_hints", "get_type_hints"),
        ("f = torch._utils._import_dotted_name(path)", "_import_dotted_name"),
        ("from unittest.mock import _importer", "_importer"),
    ],
)
def test_standard_library_code_loaders_are_escapes(line: str, named: str) -> None:
    forward = LSTM_CORRECT["lstm_forward"].replace("):\n", f"):\n    {line}\n", 1)
    extracted = extract(
        load_notebook(notebook(lstm_correct_cells(lstm_forward=forward))), ("lstm_forward",)
    )
    assert extracted.escapes.get("lstm_forward") == named


def _classroom_step(name: str) -> str:
    workflow = resources.files("grader") / "templates" / "classroom.yml"
    job = yaml.safe_load(workflow.read_text())["jobs"]["run-autograding-tests"]
    return str(next(step["run"] for step in job["steps"] if step.get("name") == name))


def _run_classroom_check(repo: Path, tmp_path: Path, env: dict[str, str]) -> dict[str, object]:
    """Run the workflow's grading step in `repo` as GitHub would; what it tells Classroom."""
    bin_dir, outputs = tmp_path / "bin", tmp_path / "outputs"
    bin_dir.mkdir()
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "GITHUB_OUTPUT": str(outputs),
           **env}  # fmt: skip
    script = _classroom_step("Run the public checks")
    done = subprocess.run(["bash", "-e", "-c", script], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    told: dict[str, object] = json.loads(base64.b64decode(values["result"]))
    return told


def _points(told: dict[str, object]) -> float:
    tests = told["tests"]
    assert isinstance(tests, list)
    return float(sum(test["score"] for test in tests))


@pytest.mark.slow
def test_a_report_committed_by_the_student_never_reaches_classroom(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    forged = Path(__file__).parent / "goldens" / "all_passed.json"
    shutil.copy(forged, repo / "report.json")  # no notebook: `check` writes no report
    told = _run_classroom_check(repo, tmp_path, {"NOTEBOOK": "rnn_forward.ipynb"})
    assert _points(told) == 0, told
    assert "not found" in json.dumps(told), told


@pytest.mark.slow
def test_classroom_grades_its_own_assignment_whatever_the_notebook_declares(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    other = json.loads((ROOT / "examples" / "correct.ipynb").read_bytes())  # the RNN, solved
    other["metadata"]["rnn_grader"] = {"assignment": "rnn_forward"}
    (repo / "lstm_forward.ipynb").write_text(json.dumps(other))
    env = {"NOTEBOOK": "lstm_forward.ipynb", "ASSIGNMENT": "lstm_forward"}
    told = _run_classroom_check(repo, tmp_path, env)
    most = told["max_score"]
    assert isinstance(most, int | float) and _points(told) < most, told
    assert "lstm_forward.values" in json.dumps(told), told
