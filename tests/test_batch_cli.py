"""`python -m grader batch` on the command line: usage errors and settings (no grading)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader import settings
from grader.cli import ExitCode, main


def test_a_missing_source_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["batch", str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
    assert code == ExitCode.USAGE
    assert "no such file or folder" in capsys.readouterr().err


def test_workers_must_be_positive(tmp_path: Path) -> None:
    assert main(["batch", str(tmp_path), "--out", str(tmp_path / "o"), "--workers", "0"]) == 4


def test_out_must_not_be_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert main(["batch", str(tmp_path), "--out", str(tmp_path / "file")]) == ExitCode.USAGE


def test_an_empty_class_still_writes_empty_exports(tmp_path: Path) -> None:
    (tmp_path / "class").mkdir()
    assert main(["batch", str(tmp_path / "class"), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "grades.csv").read_text().startswith("student,name,total")
    assert (tmp_path / "out" / "summary.json").exists()


def test_batch_refuses_files_as_large_as_single_grading_does() -> None:
    from grader.grading import MAX_NOTEBOOK_BYTES

    assert settings.MAX_NOTEBOOK_BYTES == MAX_NOTEBOOK_BYTES
