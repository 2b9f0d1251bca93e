"""An assignment's cases live in its own folder, beside its spec, loaded by path."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from grader import cases
from grader.load import SOLUTIONS, load_sibling, load_spec


def _copy(tmp_path: Path) -> Path:
    folder = tmp_path / "renamed_rnn"
    shutil.copytree(SOLUTIONS / "rnn_forward", folder)
    return folder


def test_a_spec_takes_its_cases_from_the_cases_file_beside_it(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    source = (folder / "cases.py").read_text(encoding="utf-8")
    (folder / "cases.py").write_text(source.replace('"course"', '"lecture"'), encoding="utf-8")
    path_before = list(sys.path)
    spec = load_spec(folder)
    assert spec.public_cases().forward[0].name == "lecture"
    assert spec.full_cases(3).forward[0].name == "lecture"
    assert sys.path == path_before  # the folder is never importable by children
    assert not any(name.startswith("renamed_rnn") or name == "cases" for name in sys.modules)


def test_the_engine_holds_no_assignments_case_generator() -> None:
    assert not hasattr(cases, "public_cases") and not hasattr(cases, "full_cases")
    rnn = load_spec(SOLUTIONS / "rnn_forward")
    assert rnn.public_cases().forward[0].name == "course"


def test_a_sibling_module_is_loaded_once_per_file(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    first = load_sibling(folder / "spec.py", "cases")
    assert load_sibling(folder / "spec.py", "cases") is first
    assert load_sibling(SOLUTIONS / "rnn_forward" / "spec.py", "cases") is not first
    assert first.public_cases().id == load_spec(SOLUTIONS / "rnn_forward").public_cases().id
