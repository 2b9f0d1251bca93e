"""The Gradescope bundle, unzipped into a folder laid out like Gradescope's /autograder and run.

setup.sh is never run here (it installs packages); run_autograder runs with AUTOGRADER_ROOT set
and `python3` on PATH a wrapper that execs this interpreter: `python3 -m grader` is this checkout.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from fixtures.submissions import CATALOG

from grader.bundle import README, RUN, SEED, SETUP, build_bundle, new_seed, torch_requirement
from grader.cli import main
from grader.errors import UsageError
from grader.load import SOLUTIONS, load_sibling
from grader.settings import seed_from_text

RNN_CASES = load_sibling(SOLUTIONS / "rnn_forward" / "spec.py", "cases")  # its own cases
full_cases = RNN_CASES.full_cases

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SECRET = "correct horse battery staple"
TOP_LEVEL = {"score", "execution_time", "output", "output_format", "test_output_format",
             "test_name_format", "visibility", "stdout_visibility", "extra_data", "tests",
             "leaderboard"}  # fmt: skip
TEST_FIELDS = {"score", "max_score", "status", "name", "name_format", "number", "output",
               "output_format", "tags", "visibility", "extra_data"}  # fmt: skip
FORMATS = {"text", "html", "simple_format", "md", "ansi"}
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zip built with a known seed file."""
    work = tmp_path_factory.mktemp("bundle")
    (work / "seed.txt").write_text(SECRET + "\n")
    return build_bundle(
        work / "autograder.zip", seed_file=work / "seed.txt", assignment="rnn_forward"
    ).path


def unzip(bundle: Path, target: Path) -> None:
    """Extract keeping the permission bits (zipfile's extractall drops them, Gradescope's not)."""
    with zipfile.ZipFile(bundle) as archive:
        for info in archive.infolist():
            path = Path(archive.extract(info, target))
            path.chmod((info.external_attr >> 16) & 0o777)


def autograder_root(tmp_path: Path, bundle: Path, *uploads: tuple[str, bytes]) -> Path:
    root = tmp_path / "autograder"
    unzip(bundle, root / "source")
    (root / "results").mkdir()
    (root / "submission").mkdir()
    for name, data in uploads:
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / name).write_bytes(data)
    return root


def run_autograder(root: Path, tmp_path: Path, python: Path | None = None) -> dict[str, Any]:
    """Run the bundle's run_autograder with `python3` being `python` (default: this one)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    # A wrapper, not a symlink: a virtual environment's python linked from elsewhere is not in
    # the environment (it finds no pyvenv.cfg beside it), so it would miss the grader.
    wrapper = bin_dir / "python3"
    wrapper.write_text(f'#!/bin/sh\nexec "{python or sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    done = subprocess.run([str(root / "source" / RUN)], env=env, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    text = (root / "results" / "results.json").read_text(encoding="utf-8")
    return validated(json.loads(text, parse_constant=reject))


def reject(constant: str) -> None:
    raise AssertionError(f"{constant} is not valid JSON")


def validated(data: dict[str, Any]) -> dict[str, Any]:
    """`data` after checking it against Gradescope's documented results.json fields."""
    assert set(data) <= TOP_LEVEL and isinstance(data["tests"], list) and data["tests"]
    assert data.get("output_format", "text") in FORMATS
    assert data.get("visibility", "visible") in VISIBILITIES
    assert data.get("stdout_visibility", "visible") in VISIBILITIES
    for test in data["tests"]:
        assert set(test) <= TEST_FIELDS
        assert {"name", "score", "max_score", "status", "visibility", "number"} <= set(test)
        assert test["status"] in ("passed", "failed") and test["visibility"] in VISIBILITIES
        assert isinstance(test["number"], str) and isinstance(test["name"], str)
        assert 0 <= test["score"] <= test["max_score"]
    assert data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]))
    return data


# --- what the zip holds -----------------------------------------------------------------------


def test_zip_holds_the_scripts_the_seed_a_readme_and_one_wheel(bundle: Path) -> None:
    with zipfile.ZipFile(bundle) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        wheels = [name for name in infos if name.endswith(".whl")]
        reference = {"assignment/spec.py", "assignment/cases.py", "assignment/solution.ipynb"}
        assert set(infos) == {SETUP, RUN, SEED, README, *reference, *wheels} and len(wheels) == 1
        assert archive.read(SEED).decode() == SECRET + "\n"
        for name in (SETUP, RUN):
            mode = infos[name].external_attr >> 16
            assert stat.S_ISREG(mode) and mode & 0o111, f"{name} is not executable"
            assert archive.read(name).startswith(b"#!/usr/bin/env bash\n")
            assert not re.search(rb"@[A-Z_]+@", archive.read(name)), "unfilled placeholder"


def test_wheel_holds_only_the_grader_package(bundle: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(bundle) as archive:
        (wheel,) = [name for name in archive.namelist() if name.endswith(".whl")]
        archive.extract(wheel, tmp_path)
    names = zipfile.ZipFile(tmp_path / wheel).namelist()
    assert "grader/cli.py" in names and "grader/selfcheck.py" in names
    assert all(n.startswith(("grader/", "rnn_grader-")) for n in names)
    assert not any("solution" in n or n.endswith(("seed.txt", ".pyc", ".ipynb")) for n in names)
    assert not any(SECRET.encode() in zipfile.ZipFile(tmp_path / wheel).read(n) for n in names)


def test_setup_installs_cpu_torch_then_the_wheel_and_is_valid_bash(
    bundle: Path, tmp_path: Path
) -> None:
    unzip(bundle, tmp_path)
    setup = (tmp_path / SETUP).read_text()
    wheel = next(tmp_path.glob("*.whl")).name
    torch_line = setup.index("--index-url https://download.pytorch.org/whl/cpu")
    assert f'"{torch_requirement()}"' in setup and setup.index(f"./{wheel}") > torch_line
    for script in (SETUP, RUN):
        subprocess.run(["bash", "-n", str(tmp_path / script)], check=True)


def test_torch_requirement_pins_plain_releases_only() -> None:
    assert torch_requirement("2.13.0+cu128") == "torch==2.13.0"
    assert torch_requirement("2.14.0.dev20260101+cpu") == "torch>=2.1"


# --- run_autograder --------------------------------------------------------------------------


def test_buggy_notebook_is_graded_on_the_hidden_cases_of_the_bundled_seed(
    bundle: Path, tmp_path: Path
) -> None:
    upload = ("buggy-whh-transposed.ipynb", (EXAMPLES / "buggy-whh-transposed.ipynb").read_bytes())
    data = run_autograder(autograder_root(tmp_path, bundle, upload), tmp_path)
    assert [t["name"].split(":")[0] for t in data["tests"]] == [spec.id for spec in CATALOG]
    assert [t["number"] for t in data["tests"]] == [str(n) for n in range(1, len(CATALOG) + 1)]
    assert 0 < data["score"] < 100
    failed = {t["name"].split(":")[0] for t in data["tests"] if t["status"] == "failed"}
    assert "rnn_forward.values" in failed
    assert data["extra_data"]["case_set"] == "full"
    assert data["extra_data"]["case_set_id"] == full_cases(seed_from_text(SECRET)).id
    assert all(t["visibility"] == "visible" for t in data["tests"])


def test_rnn_forward_ipynb_is_picked_among_several_notebooks(bundle: Path, tmp_path: Path) -> None:
    correct = (EXAMPLES / "correct.ipynb").read_bytes()
    uploads = [("repo/rnn_forward.ipynb", correct), ("repo/scratch.ipynb", b"{}"),
               ("repo/.ipynb_checkpoints/rnn_forward-checkpoint.ipynb", b"{}")]  # fmt: skip
    data = run_autograder(autograder_root(tmp_path, bundle, *uploads), tmp_path)
    assert data["score"] == 100


@pytest.mark.parametrize(
    ("uploads", "says"),
    [
        ([], "The submission is empty"),
        ([("notes.txt", b"hi"), ('we"ird\\name\n.py', b"x")], "it holds: notes.txt, weirdname.py"),
        ([("a.ipynb", b"{}"), ("b.ipynb", b"{}")], "holds 2 notebooks (a.ipynb, b.ipynb)"),
    ],
    ids=["empty", "not-a-notebook", "two-notebooks"],
)
def test_nothing_to_grade_gets_a_valid_score_zero_result(
    bundle: Path, tmp_path: Path, uploads: list[tuple[str, bytes]], says: str
) -> None:
    data = run_autograder(autograder_root(tmp_path, bundle, *uploads), tmp_path)
    assert data["score"] == 0 and data["tests"][0]["max_score"] == 100
    assert says in data["output"] and "rnn_forward.ipynb" in data["output"]


def test_an_ungradable_notebook_is_reported_by_the_grader(bundle: Path, tmp_path: Path) -> None:
    root = autograder_root(tmp_path, bundle, ("rnn_forward.ipynb", b"not json"))
    data = run_autograder(root, tmp_path)
    assert data["score"] == 0 and len(data["tests"]) == len(CATALOG)
    assert "UNGRADABLE" in data["output"]


@pytest.mark.parametrize(
    "grader",
    ["exit 3", 'echo \'{"score": 1\' > "${@: -3:1}"; exit 1', "kill -9 $$"],
    ids=["internal-error", "truncated-results", "killed"],
)
def test_a_grader_crash_gets_a_valid_score_zero_result(
    bundle: Path, tmp_path: Path, grader: str
) -> None:
    """`python3 -m grader` fails; `python3 -c` (the results check) is the real interpreter."""
    fake = tmp_path / "fake-python"
    fake.write_text(f'#!/bin/bash\n[ "$1" = -m ] || exec {sys.executable} "$@"\n{grader}\n')
    fake.chmod(0o755)
    root = autograder_root(tmp_path, bundle, ("rnn_forward.ipynb", b"{}"))
    data = run_autograder(root, tmp_path, python=fake)
    assert data["score"] == 0 and "autograder failed" in data["output"]
    assert "tell your instructor" in data["tests"][0]["output"]


# --- building -------------------------------------------------------------------------------


def test_cli_generates_a_secret_seed_and_says_where_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["gradescope", "--assignment", "rnn_forward", "--out", str(tmp_path / "ag.zip")]) == 0
    )
    out, err = capsys.readouterr()
    seed = zipfile.ZipFile(tmp_path / "ag.zip").read(SEED).decode().strip()
    assert len(seed) == 32 and int(seed, 16) >= 0
    assert f"wrote {tmp_path / 'ag.zip'}" in out and "seed.txt" in err
    assert seed not in out + err


def test_fresh_seeds_differ() -> None:
    assert new_seed() != new_seed()


@pytest.mark.parametrize("content", [None, ""], ids=["missing", "empty"])
def test_unusable_seed_file_is_a_usage_error(tmp_path: Path, content: str | None) -> None:
    seed_file = tmp_path / "seed.txt"
    if content is not None:
        seed_file.write_text(content)
    with pytest.raises(UsageError, match="seed file"):
        build_bundle(tmp_path / "ag.zip", seed_file=seed_file, assignment="rnn_forward")
    command = [
        "gradescope",
        "--assignment",
        "rnn_forward",
        "--out",
        str(tmp_path / "ag.zip"),
        "--seed-file",
        str(seed_file),
    ]
    assert main(command) == 4
    assert not (tmp_path / "ag.zip").exists()


def test_building_needs_a_source_checkout(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="source checkout"):
        build_bundle(tmp_path / "ag.zip", project=tmp_path)
