"""The command line: formats, files, exit codes, usage errors (run in-process through main)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from grader.cli import ExitCode, main

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "rnn_forward_solution.ipynb"
STUB = ROOT / "examples" / "stub.ipynb"
BUGGY = ROOT / "examples" / "buggy-whh-transposed.ipynb"


def test_solution_scores_full_marks_and_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grade", str(SOLUTION), "--format", "json"]) == ExitCode.PASSED
    report = json.loads(capsys.readouterr().out)
    assert (report["score"], report["max_score"]) == (100, 100)
    assert report["environment"]["case_set"] == "full"


def test_stub_scores_zero_with_not_implemented_and_exits_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["grade", str(STUB)]) == ExitCode.FAILED
    text = capsys.readouterr().out
    assert "Score: 0 / 100" in text
    assert text.count("not implemented") == 10
    assert "Traceback (most recent call last)" not in text


def test_check_uses_public_cases_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(BUGGY), "--format", "json"]) == ExitCode.FAILED
    report = json.loads(capsys.readouterr().out)
    assert report["environment"]["case_set"] == "public"
    values = next(c for c in report["checks"] if c["id"] == "rnn_forward.values")
    assert "hidden" not in values["message"]
    assert values["details"]["hint"].startswith("W_hh looks transposed")


@pytest.mark.parametrize("fmt", ["text", "json", "gradescope", "junit", "markdown"])
def test_every_format_renders_for_the_solution_and_the_stub(fmt: str, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    code = main(["grade", str(SOLUTION), str(STUB), "--format", fmt, "--out", str(out)])
    assert code == ExitCode.FAILED  # the worst of the two
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == 2
    for path in out.iterdir():
        text = path.read_text()
        if fmt in ("json", "gradescope"):
            json.loads(text)
        elif fmt == "junit":
            ET.fromstring(text.encode())
        assert text.strip()


def test_unreadable_notebook_is_ungradable_with_a_report(tmp_path: Path) -> None:
    broken = tmp_path / "broken.ipynb"
    broken.write_text('{"cells": [')
    out = tmp_path / "report.json"
    assert (
        main(["grade", str(broken), "--format", "json", "--out", str(out)]) == ExitCode.UNGRADABLE
    )
    report = json.loads(out.read_text())
    assert report["score"] == 0 and "invalid JSON" in report["ungradable"]


def test_seed_file_changes_the_hidden_cases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seeds = []
    for secret in ("alpha", "beta"):
        seed_file = tmp_path / secret
        seed_file.write_text(secret)
        main(["grade", str(SOLUTION), "--format", "json", "--seed-file", str(seed_file)])
        seeds.append(json.loads(capsys.readouterr().out)["environment"]["case_set_id"])
    assert seeds[0] != seeds[1]


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["grade"],
        ["grade", "does-not-exist.ipynb"],
        ["grade", str(SOLUTION), "--format", "pdf"],
        ["grade", str(SOLUTION), "--device", "tpu"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_four(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == ExitCode.USAGE
    assert "error:" in capsys.readouterr().err


def test_assign_writes_the_student_notebook(tmp_path: Path) -> None:
    assert main(["assign", str(SOLUTION), "--out", str(tmp_path)]) == ExitCode.PASSED
    written = tmp_path / "rnn_forward.ipynb"
    assert written.read_bytes() == (ROOT / "assignment" / "rnn_forward.ipynb").read_bytes()


def test_python_dash_m_runs_the_cli() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(SOLUTION), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["score"] == 100
