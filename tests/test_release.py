"""Student releases: `python -m grader release`, the recorded public data and the student wheel.

What students get must let them check their work, and nothing in it may give a solution away:
the recorded assignment grades public cases exactly as the instructor's folder does, and every
function of the installed wheel, called on an RNN and an LSTM case, returns no right answer.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import nbformat
import pytest
import torch
from fixtures.lstm_submissions import LSTM_MISTAKES, LSTM_SOLUTION_PATH, lstm_correct_cells
from fixtures.submissions import MISTAKES, SOLUTION_PATH, correct_cells, notebook

from grader import load
from grader.assign import make_assignment
from grader.cli import main
from grader.errors import SolutionError, UsageError
from grader.extract import extract, load_notebook
from grader.grading import GradeOptions, Grader
from grader.load import SOLUTIONS, Assignment, load_assignment, load_reference
from grader.recording import Recorded, load_recording, write_recording
from grader.release import release
from grader.report import render
from grader.results import GradeResult
from grader.sandbox.client import Sandbox
from grader.wheel import write_wheel

ROOT = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).with_name("test_release_probe.py")
NAMES = ("lstm_forward", "rnn_forward")
WHEEL = "rnn_grader-0.1.0-py3-none-any.whl"
_MARKER = re.compile(r"^\s*#*\s*(?:BEGIN|END)[\s_-]*SOLUTION[\s#]*$", re.IGNORECASE | re.M)


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A release of every assignment, without the kernel preflight."""
    out = tmp_path_factory.mktemp("release") / "out"
    assert main(["release", "--out", str(out), "--no-execute"]) == 0
    return out


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Assignment, Recorded]]:
    """Each assignment from its folder, and as loaded back from its recording."""
    folder = tmp_path_factory.mktemp("recordings")
    pairs = {}
    for name in NAMES:
        assignment = load_assignment(SOLUTIONS / name)
        pairs[name] = (assignment, load_recording(write_recording(assignment, folder / name)))
    return pairs


# --------------------------------------------------------------------------------------------
# The release's layout and its refusals.


def test_a_release_writes_student_and_autograder_folders(released: Path) -> None:
    student = sorted(p.name for p in (released / "student").iterdir())
    assert student == ["README.txt", "lstm_forward.ipynb", "rnn_forward.ipynb", WHEEL]
    for name in NAMES:
        kept = sorted(p.name for p in (released / "autograder" / name).iterdir())
        assert kept == ["cases.py", "gradescope_autograder.zip", "solution.ipynb", "spec.py"]
        assert (released / "autograder" / name / "spec.py").read_bytes() == (
            SOLUTIONS / name / "spec.py"
        ).read_bytes()
        with zipfile.ZipFile(released / "autograder" / name / "gradescope_autograder.zip") as z:
            assert {"setup.sh", "run_autograder", "seed.txt", "assignment/solution.ipynb"} <= set(
                z.namelist()
            )
        student_notebook = json.loads((released / "student" / f"{name}.ipynb").read_text())
        assert student_notebook["metadata"]["rnn_grader"]["assignment"] == name
    readme = (released / "student" / "README.txt").read_text()
    assert f"pip install {WHEEL}" in readme and "python -m grader check" in readme


def test_the_student_notebooks_hold_no_solution(released: Path) -> None:
    for name in NAMES:
        text = (released / "student" / f"{name}.ipynb").read_text()
        assert not _solution_lines(name) & {line.strip() for line in _lines(text)}
        assert "NotImplementedError" in text


def test_release_refuses_an_unknown_assignment(tmp_path: Path, capsys: Any) -> None:
    code = main(["release", "--out", str(tmp_path / "out"), "--assignment", "gru_forward"])
    assert code == 4
    assert "no assignment 'gru_forward'; there are: lstm_forward, rnn_forward" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "out").exists()


def test_release_refuses_to_write_over_a_release(released: Path, capsys: Any) -> None:
    assert main(["release", "--out", str(released), "--no-execute"]) == 4
    assert "exists already" in capsys.readouterr().err


def test_release_runs_the_preflight_of_each_solution_before_writing(tmp_path: Path) -> None:
    ran: list[Path] = []

    def refuse(solution: Path) -> None:
        ran.append(solution)
        if "lstm" in str(solution):
            raise SolutionError(f"{solution}: cell 3 failed")

    with pytest.raises(SolutionError, match="cell 3 failed"):
        release(tmp_path / "out", verify=refuse)
    assert ran == [SOLUTIONS / "lstm_forward" / "solution.ipynb"]
    assert not (tmp_path / "out" / "student").exists()
    ran.clear()
    done = release(tmp_path / "out", assignments=["rnn_forward"], verify=ran.append)
    assert ran == [SOLUTIONS / "rnn_forward" / "solution.ipynb"]
    assert [p.name for p in done.notebooks] == ["rnn_forward.ipynb"]
    with zipfile.ZipFile(done.wheel) as wheel:
        assert [n for n in wheel.namelist() if "/released/" in n] == [
            "grader/released/rnn_forward.json"
        ]
    assert sorted(p.name for p in (tmp_path / "out" / "autograder").iterdir()) == ["rnn_forward"]


def test_release_help_names_its_options_and_exit_codes(capsys: Any) -> None:
    with pytest.raises(SystemExit):
        main(["release", "--help"])
    shown = capsys.readouterr().out
    assert all(word in shown for word in ("--out", "--assignment", "--no-execute", "4  usage"))


# --------------------------------------------------------------------------------------------
# The recording grades public cases as the folder does, and refuses hidden ones.


def _stub(solution: Path) -> bytes:
    return nbformat.writes(make_assignment(nbformat.reads(solution.read_text(), 4))).encode()


SUBMISSIONS: dict[str, tuple[str, bytes]] = {
    "rnn-solution": ("rnn_forward", SOLUTION_PATH.read_bytes()),
    "rnn-stub": ("rnn_forward", _stub(SOLUTION_PATH)),
    "rnn-correct-cells": ("rnn_forward", notebook(correct_cells())),
    **{
        f"rnn-{key}": ("rnn_forward", notebook(MISTAKES[key].cells))
        for key in (
            "whh-transposed",
            "output-includes-h0",
            "init-weights-whh-drawn-first",
            "fused-concat-swapped",
            "to-nn-rnn-untransposed",
            "builtin-rnn-in-forward",
            "last-step-dropped",
            "to-nn-rnn-random-bias-hh",
        )
    },
    "lstm-solution": ("lstm_forward", LSTM_SOLUTION_PATH.read_bytes()),
    "lstm-stub": ("lstm_forward", _stub(LSTM_SOLUTION_PATH)),
    "lstm-correct-cells": ("lstm_forward", notebook(lstm_correct_cells())),
    **{
        f"lstm-{key}": (
            "lstm_forward",
            notebook(lstm_correct_cells(**LSTM_MISTAKES[key].overrides)),
        )
        for key in (
            "gate-order-ifog",
            "sigmoid-on-g",
            "forget-gate-dropped",
            "c0-ignored",
            "init-weights-whh-drawn-first",
            "fused-concat-swapped",
            "to-nn-lstm-untransposed",
            "h-n-c-n-swapped",
        )
    },
}


def _public(assignment: Assignment, sandbox: Sandbox, data: bytes) -> GradeResult:
    with Grader(GradeOptions(public_only=True), sandbox, assignment) as grader:
        result = grader.grade_bytes(data, name="submission.ipynb")
    checks = tuple(dataclasses.replace(c, duration=0.0) for c in result.checks)
    return dataclasses.replace(result, checks=checks, duration=0.0)


@pytest.mark.parametrize("key", sorted(SUBMISSIONS))
def test_a_recording_reports_what_the_assignment_folder_does(
    key: str, recorded: dict[str, tuple[Assignment, Recorded]], sandbox: Sandbox
) -> None:
    name, data = SUBMISSIONS[key]
    folder, recording = recorded[name]
    want, got = _public(folder, sandbox, data), _public(recording, sandbox, data)
    for fmt in ("json", "text"):
        assert render(got, fmt, data) == render(want, fmt, data)


def test_the_compared_reports_tell_mistakes_apart(
    recorded: dict[str, tuple[Assignment, Recorded]], sandbox: Sandbox
) -> None:
    """The comparison above is not of empty reports: hints, scores and stubs all show."""
    rnn, lstm = recorded["rnn_forward"][1], recorded["lstm_forward"][1]
    scores = {key: _public(rnn if name == "rnn_forward" else lstm, sandbox, data)
              for key, (name, data) in SUBMISSIONS.items() if "stub" in key or "solution" in key
              or key in ("rnn-init-weights-whh-drawn-first", "lstm-gate-order-ifog")}  # fmt: skip
    assert scores["rnn-solution"].score == scores["lstm-solution"].score == 100
    assert scores["rnn-stub"].score == scores["lstm-stub"].score == 0
    named = {c.details.get("misconception") for r in scores.values() for c in r.checks}
    assert {"init-weights-order", "gate-order-ifog"} <= named


def test_a_recording_keeps_every_field_of_the_spec_but_its_code(
    recorded: dict[str, tuple[Assignment, Recorded]],
) -> None:
    for folder, recording in recorded.values():
        for field in dataclasses.fields(folder.spec):
            if field.name not in ("public_cases", "full_cases", "mistakes"):
                assert getattr(recording.spec, field.name) == getattr(folder.spec, field.name)
        # Only replays that are data (final states trading places) stay; no code does.
        without_code = [
            dataclasses.replace(m, replay=m.replay if m.replay and m.replay.states else None)
            for m in folder.spec.mistakes
        ]
        assert list(recording.spec.mistakes) == without_code
        assert all(m.replay is None or m.replay.variant is None for m in recording.spec.mistakes)
        public = folder.spec.public_cases()
        assert recording.spec.public_cases().id == public.id
        for got, want in zip(recording.spec.public_cases().forward, public.forward, strict=True):
            assert all(got[n].dtype == t.dtype and torch.equal(got[n], t)
                       for n, t in want.tensors.items())  # fmt: skip


def test_a_recorded_assignment_refuses_hidden_cases(
    recorded: dict[str, tuple[Assignment, Recorded]], sandbox: Sandbox
) -> None:
    for _, recording in recorded.values():
        with pytest.raises(UsageError, match="needs the instructor's install"):
            Grader(GradeOptions(public_only=False), sandbox, recording)
        assert not recording.reference


def test_an_install_without_solutions_finds_the_recorded_assignments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in NAMES:
        write_recording(load_assignment(SOLUTIONS / name), tmp_path / "released" / f"{name}.json")
    monkeypatch.setattr(load, "SOLUTIONS", tmp_path / "site-packages" / "solutions")
    monkeypatch.setattr(load, "RELEASED", tmp_path / "released")
    assert load.assignment_names() == NAMES
    assignment = load.load_assignment(load.find_assignment("lstm_forward"))
    assert isinstance(assignment, Recorded) and assignment.spec.name == "lstm_forward"
    assert load.load_spec(load.SOLUTIONS / "rnn_forward").function_names[0] == "init_hidden"
    with pytest.raises(UsageError, match="there are: lstm_forward, rnn_forward"):
        load.find_assignment("")


def test_recordings_and_the_wheel_are_the_same_bytes_each_time(tmp_path: Path) -> None:
    assignment = load_assignment(SOLUTIONS / "rnn_forward")
    first, second = (write_recording(assignment, tmp_path / n) for n in ("a.json", "b.json"))
    assert first.read_bytes() == second.read_bytes()
    wheels = [write_wheel(ROOT, {"rnn_forward": first.read_bytes()}, tmp_path / n) for n in "ab"]
    assert wheels[0].read_bytes() == wheels[1].read_bytes()


# --------------------------------------------------------------------------------------------
# The wheel: well formed, and nothing in it computes or holds a solution.


def test_the_wheel_is_well_formed(released: Path) -> None:
    with zipfile.ZipFile(released / "student" / WHEEL) as wheel:
        files = {name: wheel.read(name) for name in wheel.namelist()}
    info = "rnn_grader-0.1.0.dist-info"
    for line in files[f"{info}/RECORD"].decode().splitlines():
        path, digest, size = line.rsplit(",", 2)
        if path != f"{info}/RECORD":
            data = files.pop(path)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert (digest, int(size)) == (f"sha256={expected.decode()}", len(data))
    assert list(files) == [f"{info}/RECORD"]  # every other file is recorded
    with zipfile.ZipFile(released / "student" / WHEEL) as wheel:
        metadata = wheel.read(f"{info}/METADATA").decode()
        entry = wheel.read(f"{info}/entry_points.txt").decode()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requires = [line.removeprefix("Requires-Dist: ") for line in metadata.splitlines()
                if line.startswith("Requires-Dist: ")]  # fmt: skip
    assert requires == project["dependencies"]
    assert "rnn-grader = grader.cli:main" in entry


def _lines(text: str) -> list[str]:
    return [line for line in text.replace("\\n", "\n").splitlines() if line.strip()]


def _solution_lines(name: str) -> set[str]:
    """The solution's own lines: inside its regions, with a product, a squashing or a copy."""
    notebook_json = json.loads((SOLUTIONS / name / "solution.ipynb").read_text())
    inside, found = False, set()
    for cell in notebook_json["cells"]:
        for line in "".join(cell["source"]).split("\n"):
            if _MARKER.match(line):
                inside = "BEGIN" in line.upper()
            elif inside and re.search(r"@|tanh|sigmoid|copy_", line):
                found.add(line.strip())
    return found


def _leaks(files: dict[str, bytes]) -> list[str]:
    """What in a wheel's files gives a solution away."""
    assignment_files = {
        (folder / name).read_bytes() for folder in SOLUTIONS.iterdir() if folder.is_dir()
        for name in ("spec.py", "cases.py", "solution.ipynb") if (folder / name).is_file()
    }  # fmt: skip
    solution = set().union(*(_solution_lines(name) for name in NAMES))
    leaks = []
    for path, data in files.items():
        text = data.decode("utf-8", "replace")
        if path.endswith(".ipynb") or path.startswith("solutions/") or data in assignment_files:
            leaks.append(f"{path}: an assignment's file")
        if _MARKER.search(text):
            leaks.append(f"{path}: a solution region marker")
        if shown := solution & {line.strip() for line in _lines(text)}:
            leaks.append(f"{path}: solution lines {sorted(shown)[:3]}")
    return leaks


def test_the_wheel_holds_no_solution_source(released: Path) -> None:
    with zipfile.ZipFile(released / "student" / WHEEL) as wheel:
        files = {name: wheel.read(name) for name in wheel.namelist()}
    assert _leaks(files) == []
    assert not [n for n in files if "__pycache__" in n or n.startswith(("tests/", "solutions/"))]
    assert {f"grader/released/{name}.json" for name in NAMES} <= set(files)
    # The check would see a solution shipped: an assignment's files, or its code in a module.
    spec, source = (SOLUTIONS / "rnn_forward" / "spec.py").read_bytes(), _source(SOLUTION_PATH)
    assert _leaks({**files, "grader/spec_copy.py": spec})
    assert _leaks({**files, "grader/helpers.py": source.encode()})
    assert _leaks({**files, "grader/x.ipynb": b"{}"})


def _source(solution: Path) -> str:
    """The solution notebook's functions and imports, as a module's source."""
    names = load_assignment(solution.parent).spec.function_names
    extracted = extract(load_notebook(solution.read_bytes()), names)
    return "\n".join(chunk.source for chunk in extracted.chunks)


def _probe_cases(path: Path) -> Path:
    """A fresh RNN and LSTM case (no public one) and the right outputs, for the probe."""
    draws = torch.Generator().manual_seed(20261130)
    cases = []
    for name, names, gates in (("rnn", ("x", "h0", "W_xh", "W_hh", "b_h"), 1),
                               ("lstm", ("x", "h0", "c0", "W_xh", "W_hh", "b"), 4)):  # fmt: skip
        batch, seq, inputs, hidden = 2, 4, 3, 5
        shapes = {"x": (batch, seq, inputs), "h0": (batch, hidden), "c0": (batch, hidden),
                  "W_xh": (inputs, gates * hidden), "W_hh": (hidden, gates * hidden),
                  "b_h": (hidden,), "b": (gates * hidden,)}  # fmt: skip
        tensors = {n: torch.randn(*shapes[n], generator=draws, dtype=torch.float64) * 0.5
                   for n in names}  # fmt: skip
        assignment = f"{name}_forward"
        reference = load_reference(SOLUTIONS / assignment, load_assignment(
            SOLUTIONS / assignment).spec)  # fmt: skip
        output, state = reference[assignment](*tensors.values())
        wanted = [output, *(state if isinstance(state, tuple) else (state,))]
        keywords = [list(names)] + ([["x", "h0", "W_xh", "W_hh", "b"]] if name == "rnn" else [])
        cases.append({"name": name, "keywords": keywords,
                      "tensors": {n: {"dtype": "float64", "values": t.tolist()}
                                  for n, t in tensors.items()},
                      "wanted": [w.tolist() for w in wanted]})  # fmt: skip
    path.write_text(json.dumps(cases))
    return path


def _probe(wheel_dir: Path, cases: Path, prefix: str = "grader") -> tuple[int, list[Any]]:
    """Run the probe on the unpacked wheel: how many callables it called, and the matches."""
    site = str(Path(torch.__file__).resolve().parents[1])
    command = [sys.executable, "-I", "-S", str(PROBE), str(wheel_dir), site, str(cases), prefix]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False,
                          cwd=cases.parent, stdin=subprocess.DEVNULL,
                          env={"PATH": os.environ.get("PATH", "")})  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return lines[0]["callables"], [line for line in lines[1:] if "match" in line]


@pytest.mark.slow
def test_no_function_of_the_installed_wheel_returns_a_forward_pass(
    released: Path, tmp_path: Path
) -> None:
    wheel_dir = tmp_path / "site"
    with zipfile.ZipFile(released / "student" / WHEEL) as wheel:
        wheel.extractall(wheel_dir)
    (tmp_path / "cwd").mkdir()
    cases = _probe_cases(tmp_path / "cwd" / "cases.json")
    called, matches = _probe(wheel_dir, cases)
    assert called > 500 and matches == []
    # The probe sees a solution when one is there: the solutions' functions, planted.
    for name, solution in (("rnn", SOLUTION_PATH), ("lstm", LSTM_SOLUTION_PATH)):
        (wheel_dir / "grader" / f"planted_{name}.py").write_text(_source(solution))
    called, matches = _probe(wheel_dir, cases, prefix="grader.planted")
    found = {(m["match"].rsplit(".", 1)[1], m["variant"]) for m in matches}
    assert {("rnn_forward", "rnn:positional"), ("rnn_forward", "rnn:keywords0"),
            ("rnn_forward_fused", "rnn:positional"), ("to_nn_rnn", "rnn:named0"),
            ("lstm_forward", "lstm:positional"), ("lstm_forward", "lstm:keywords0"),
            ("to_nn_lstm", "lstm:named0")} <= found  # fmt: skip


# --------------------------------------------------------------------------------------------
# A fresh venv with only the wheel: check and the self-check work, grade refuses.


def _completed(student: Path, solution: Path, target: Path) -> Path:
    """The student notebook with the solution's code cells: what a student hands in."""
    done, answer = json.loads(student.read_text()), json.loads(solution.read_text())
    sources = ["".join(c["source"]) for c in answer["cells"] if c["cell_type"] == "code"]
    code = [c for c in done["cells"] if c["cell_type"] == "code"]
    for cell in code:
        if "NotImplementedError" in "".join(cell["source"]):
            first = "".join(cell["source"]).split("\n", 1)[0]
            cell["source"] = next(s for s in sources if s.split("\n", 1)[0] == first)
    target.write_text(json.dumps(done))
    return target


@pytest.mark.slow
def test_a_fresh_venv_with_the_wheel_checks_notebooks_and_refuses_to_grade(
    released: Path, tmp_path: Path
) -> None:
    venv, work = tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    began = time.perf_counter()
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"),
         str(released / "student" / WHEEL)],
        capture_output=True, text=True, timeout=900, check=False, cwd=work,
    )  # fmt: skip
    print(f"pip install of the wheel into a fresh venv: {time.perf_counter() - began:.1f} s")
    assert install.returncode == 0, install.stderr[-3000:]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}

    def grader(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([python, "-m", "grader", *args], capture_output=True, text=True,
                              timeout=300, check=False, cwd=work, env=env)  # fmt: skip

    for name, solution in (("rnn_forward", SOLUTION_PATH), ("lstm_forward", LSTM_SOLUTION_PATH)):
        student = released / "student" / f"{name}.ipynb"
        completed = _completed(student, solution, work / f"{name}_done.ipynb")
        shutil.copy(student, work / f"{name}.ipynb")
        ran = grader("check", completed.name, "--format", "json")
        assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
        assert json.loads(ran.stdout)["score"] == 100
        stub = grader("check", f"{name}.ipynb", "--format", "json")
        assert (stub.returncode, json.loads(stub.stdout)["score"]) == (1, 0)
    cell = ("from grader.selfcheck import check_notebook\n"
            "result = check_notebook()\n"
            "print(result.score, type(result.result).__name__)")  # fmt: skip
    jupyter = {**env, "JPY_SESSION_NAME": str(work / "lstm_forward_done.ipynb")}  # the kernel's
    selfcheck = subprocess.run([python, "-c", cell], capture_output=True, text=True,
                               timeout=300, check=False, cwd=work, env=jupyter)  # fmt: skip
    assert selfcheck.stdout.split() == ["100.0", "GradeResult"], selfcheck.stderr[-2000:]
    for command in (["grade", "rnn_forward_done.ipynb"], ["batch", ".", "--out", "graded"]):
        refused = grader(*command, "--assignment", "rnn_forward")
        assert refused.returncode == 4, refused.stderr[-2000:]
        assert "grading on hidden cases needs the instructor's install" in refused.stderr
