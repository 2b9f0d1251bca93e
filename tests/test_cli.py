"""The command line: formats, files, exit codes, usage errors (run in-process through main)."""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from report_samples import all_passed, hostile, mixed, ungradable

from grader.cli import ExitCode, main, report_names
from grader.report import classroom, render
from grader.results import GradeResult

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "rnn_forward" / "solution.ipynb"
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
    done = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(SOLUTION), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["score"] == 100


# --- reports of several notebooks never overwrite one another ---------------------------------


def test_same_named_notebooks_in_two_folders_get_two_reports(tmp_path: Path) -> None:
    for student, source in (("a", SOLUTION), ("b", BUGGY)):
        (tmp_path / student).mkdir()
        (tmp_path / student / "rnn_forward.ipynb").write_bytes(source.read_bytes())
    notebooks = [str(tmp_path / student / "rnn_forward.ipynb") for student in ("a", "b")]
    out = tmp_path / "reports"
    assert main(["check", *notebooks, "--format", "json", "--out", str(out)]) == ExitCode.FAILED
    reports = {p.relative_to(out).as_posix(): p for p in out.rglob("*.json")}
    assert set(reports) == {"a/rnn_forward.json", "b/rnn_forward.json"}
    scores = {name: json.loads(path.read_text())["score"] for name, path in reports.items()}
    assert scores["a/rnn_forward.json"] == 100 and scores["b/rnn_forward.json"] < 100


def test_report_names_add_folders_only_where_needed_and_number_repeats() -> None:
    notebooks = [Path("x/a/hw.v2.ipynb"), Path("y/a/hw.v2.ipynb"), Path("x/other.ipynb"),
                 Path("x/other.ipynb"), Path("z/other-2.ipynb")]  # fmt: skip
    names = [name.as_posix() for name in report_names(notebooks, ".txt")]
    assert names[:3] == ["x/a/hw.v2.txt", "y/a/hw.v2.txt", "other.txt"]
    assert len(set(names)) == len(names) == 5


# --- output paths that cannot be written: a plain message, exit 4 -----------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["grade", str(STUB), "--out", "{blocker}/report.txt"],
        ["check", str(STUB), str(BUGGY), "--out", "{blocker}/reports"],
        ["check", str(STUB), str(BUGGY), "--out", "{blocker}"],
        ["batch", "{tmp}", "--out", "{blocker}/grades"],
        ["assign", str(SOLUTION), "--out", "{blocker}/student.ipynb"],
        ["gradescope", "--out", "{blocker}/autograder.zip"],
        ["render", "{report}", "--out", "{blocker}/report.txt"],
    ],
    ids=["grade", "check-several", "check-several-file", "batch", "assign", "gradescope", "render"],
)
def test_an_out_that_cannot_be_written_is_a_plain_usage_error(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    report = tmp_path / "report.json"
    report.write_text(json.dumps(mixed().to_dict()))
    fills = {"blocker": str(blocker), "tmp": str(tmp_path), "report": str(report)}
    assert main([arg.format(**fills) for arg in argv]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "internal error" not in err and "Traceback" not in err
    assert str(blocker) in err and ("cannot write" in err or "is a file" in err)
    assert blocker.read_text() == "not a folder"


def test_an_existing_folder_as_out_gets_the_report_of_one_notebook(tmp_path: Path) -> None:
    assert main(["check", str(STUB), "--format", "json", "--out", str(tmp_path)]) == 1
    assert json.loads((tmp_path / "stub.json").read_text())["score"] == 0


# --- help ---------------------------------------------------------------------------------------


def help_text(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


def test_top_level_help_describes_the_tool_its_commands_and_exit_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = help_text([], capsys)
    assert "only module that reads argv" not in text  # the module docstring is for developers
    assert "Simple RNN" in text and "sandbox" in text
    for command in ("grade", "check", "assign", "batch", "gradescope", "render"):
        assert f"\n    {command}" in text
    assert "exit codes" in text
    for code in range(5):
        assert f"  {code}  " in text


@pytest.mark.parametrize("command", ["grade", "check", "assign", "batch", "gradescope", "render"])
def test_every_command_help_lists_its_exit_codes(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_text([command], capsys)
    assert "exit codes:" in text
    assert "  0  " in text and "  4  usage error" in text


# --- render: other formats from the canonical JSON, without grading -----------------------------


def mixed_finite() -> GradeResult:
    """`mixed()` without its NaN / inf details, which JSON stores as strings."""
    result = mixed()
    checks = tuple(
        dataclasses.replace(c, details={k: v for k, v in c.details.items()
                                        if not (isinstance(v, float) and not math.isfinite(v))})
        for c in result.checks
    )  # fmt: skip
    return dataclasses.replace(result, checks=checks)


@pytest.mark.parametrize("fmt", ["text", "json", "gradescope", "junit", "markdown", "html"])
@pytest.mark.parametrize("sample", [all_passed, ungradable, mixed_finite])
def test_render_from_the_canonical_json_matches_rendering_the_result(
    fmt: str, sample: Callable[[], GradeResult], tmp_path: Path
) -> None:
    saved = tmp_path / "report.json"
    saved.write_text(render(sample(), "json"))
    assert main(["render", str(saved), "--format", fmt, "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out").read_text() == render(sample(), fmt)


def test_render_imports_no_torch(tmp_path: Path) -> None:
    saved = tmp_path / "report.json"
    saved.write_text(render(mixed(), "json"))
    script = (
        "import sys\nfrom grader.cli import main\n"
        f"assert main(['render', {str(saved)!r}, '--format', 'markdown']) == 0\n"
        f"assert main(['render', {str(saved)!r}, '--format', 'classroom']) == 0\n"
        "assert 'torch' not in sys.modules, 'render imported torch'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "content", ["not json", '{"checks": []}', "[1, 2]"], ids=["not-json", "no-fields", "a-list"]
)
def test_render_of_something_else_is_a_usage_error(
    content: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "report.json"
    saved.write_text(content)
    assert main(["render", str(saved)]) == ExitCode.USAGE
    assert "is not a `--format json` report" in capsys.readouterr().err


# --- the GitHub Classroom result ------------------------------------------------------------------


def classroom_of(text: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(base64.b64decode(text.strip(), validate=True))
    return data


def test_classroom_format_is_the_reporters_base64_json_with_every_checks_points(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    saved = tmp_path / "report.json"
    saved.write_text(render(mixed(), "json"))
    assert main(["render", str(saved), "--format", "classroom"]) == 0
    data = classroom_of(capsys.readouterr().out)
    assert data["version"] == 1 and data["status"] == "fail"
    assert data["max_score"] == mixed().max_score
    assert [t["name"] for t in data["tests"]] == [c.id for c in mixed().checks]
    assert sum(t["score"] for t in data["tests"]) == pytest.approx(mixed().score)
    statuses = {t["name"]: t["status"] for t in data["tests"]}
    for check in mixed().checks:
        expected = {"passed": "pass", "failed": "fail"}.get(check.outcome.value, "error")
        assert statuses[check.id] == expected


def test_classroom_messages_cannot_issue_workflow_commands() -> None:
    data = classroom_of(classroom.render(hostile()))
    for test in data["tests"]:
        message = test["message"]
        assert "\n" not in message and "\r" not in message and "::" not in message
        assert "##[" not in message and len(message) <= classroom.MESSAGE_LIMIT


def test_check_prints_the_classroom_result_of_the_solution(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check", str(SOLUTION), "--format", "classroom"]) == ExitCode.PASSED
    data = classroom_of(capsys.readouterr().out)
    assert data["status"] == "pass" and data["max_score"] == 100
    assert sum(t["score"] for t in data["tests"]) == 100


# --- the README's Python examples run as written ----------------------------------------------


def readme_python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [block.split("```", 1)[0] for block in text.split("```python\n")[1:]]


def test_readme_python_blocks_are_valid_python() -> None:
    blocks = readme_python_blocks()
    assert blocks
    for block in blocks:
        compile(block, "README.md", "exec")


def test_readme_library_example_runs_from_a_fresh_interpreter() -> None:
    (example,) = [block for block in readme_python_blocks() if "grade_path" in block]
    assert "examples/correct.ipynb" in example
    done = subprocess.run([sys.executable, "-c", example], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    score, max_score = map(float, done.stdout.split()[-2:])
    assert score == max_score == 100
