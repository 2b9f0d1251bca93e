"""`python -m grader batch` on the command line: usage errors and settings (no grading)."""

from __future__ import annotations

import zipfile
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


def _batch_error(source: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Run `batch` on `source`; it must be a usage error that wrote nothing. Returns stderr."""
    assert main(["batch", str(source), "--out", str(out)]) == ExitCode.USAGE
    assert not out.exists()
    return capsys.readouterr().err


def test_an_empty_folder_is_a_usage_error_that_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "class" / "alice").mkdir(parents=True)
    (tmp_path / "class" / "alice" / "notes.txt").write_text("no notebook here")
    assert "no notebooks (*.ipynb) found" in _batch_error(
        tmp_path / "class", tmp_path / "o", capsys
    )


def test_a_zip_without_notebooks_is_a_usage_error_that_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with zipfile.ZipFile(tmp_path / "class.zip", "w") as archive:
        archive.writestr("alice/answers.py", "print(1)\n")
    assert "no notebooks (*.ipynb) found" in _batch_error(
        tmp_path / "class.zip", tmp_path / "o", capsys
    )


@pytest.mark.parametrize("name", ["rnn_forward.ipynb", "notes.txt", "class.zip"])
def test_a_file_that_is_not_a_class_is_a_usage_error_that_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    (tmp_path / name).write_text('{"cells": [], "nbformat": 4}')
    err = _batch_error(tmp_path / name, tmp_path / "o", capsys)
    assert "is not a class" in err and "folder or a zip of notebooks" in err


def test_batch_refuses_files_as_large_as_single_grading_does() -> None:
    from grader.grading import MAX_NOTEBOOK_BYTES

    assert settings.MAX_NOTEBOOK_BYTES == MAX_NOTEBOOK_BYTES


def test_reports_must_name_known_formats(tmp_path: Path) -> None:
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "a.ipynb").write_text("{}")
    out = tmp_path / "out"
    assert main(["batch", str(tmp_path / "class"), "--out", str(out), "--reports", "pdf"]) == 4
    assert not out.exists()
