"""The Gradescope autograder bundle: one zip with setup.sh, run_autograder, the seed and a wheel.

`build_bundle` builds a wheel of this package from its source checkout (in a temporary copy, so
the checkout gets no build/ or egg-info litter), fills in the shell templates shipped in
`grader/templates/` and writes the zip. The hidden cases come from the seed in `seed.txt`: the
instructor's seed file, or a fresh secret from `secrets`. The wheel holds only the `grader`
package; the assignment's spec and solution (the reference) go beside it, in `assignment/`.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from grader.errors import InternalError, UsageError
from grader.load import SOLUTION_FILE, SPEC_FILE, find_assignment, load_spec
from grader.report.text import fmt_points

__all__ = ["Bundle", "build_bundle", "new_seed", "project_root"]

SETUP = "setup.sh"
RUN = "run_autograder"
SEED = "seed.txt"
ASSIGNMENT = "assignment"  # the folder holding the assignment's spec and solution
README = "README.txt"
_TEMPLATES = {SETUP: "gradescope_setup.sh", RUN: "gradescope_run_autograder",
              README: "gradescope_README.txt"}  # fmt: skip
_EXECUTABLE = frozenset({SETUP, RUN})
_SOURCES = ("pyproject.toml", "README.md", "grader")  # what building the wheel reads
_WHEEL_SECONDS = 300


@dataclass(frozen=True, kw_only=True)
class Bundle:
    """A written autograder zip."""

    path: Path  # the zip
    wheel: str  # file name of the grader wheel inside it
    seed_generated: bool  # True when seed.txt holds a fresh secret rather than the given file's


def build_bundle(
    out: Path, *, seed_file: Path | None = None, project: Path | None = None, assignment: str = ""
) -> Bundle:
    """Write the Gradescope autograder zip to `out`; UsageError for bad paths or seed files.

    `seed_file` holds the grading seed to bake in (else a fresh one is generated); `project` is
    the source checkout to build the wheel from (default: the one this package runs from);
    `assignment` names the assignment folder whose spec and solution grade (default: the only one).
    """
    seed = _read_seed(seed_file) if seed_file is not None else new_seed()
    root = project_root() if project is None else Path(project)
    with tempfile.TemporaryDirectory(prefix="rnn-grader-bundle-") as tmp:
        wheel = build_wheel(root, Path(tmp))  # first: it says when root is no source checkout
        folder = find_assignment(assignment, root / "solutions")
        _write_zip(Path(out), wheel, seed, folder)
    return Bundle(path=Path(out), wheel=wheel.name, seed_generated=seed_file is None)


def new_seed() -> str:
    """A fresh secret grading seed: 128 random bits as hex."""
    return secrets.token_hex(16)


def project_root() -> Path:
    """The source checkout this package runs from; UsageError when it is an installed wheel."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file():
        raise UsageError(
            "building the Gradescope bundle needs the grader's source checkout (its"
            " pyproject.toml); install it with `pip install -e .` from a clone"
        )
    return root


def build_wheel(project: Path, work: Path) -> Path:
    """Build the wheel of `project` in a copy under `work`; return the wheel's path."""
    source, wheels = work / "source", work / "wheels"
    for name in _SOURCES:
        if not (project / name).exists():
            raise UsageError(f"{project} is not the grader's source checkout: no {name}")
    shutil.copytree(project / "grader", source / "grader",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
    for name in _SOURCES[:2]:
        shutil.copy2(project / name, source / name)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels)]
    if importlib.util.find_spec("setuptools") is not None:
        command.append("--no-build-isolation")  # offline and fast; else pip fetches setuptools
    done = subprocess.run([*command, str(source)], capture_output=True, text=True,
                          timeout=_WHEEL_SECONDS, check=False)  # fmt: skip
    built = sorted(wheels.glob("*.whl"))
    if done.returncode != 0 or len(built) != 1:
        raise InternalError(f"building the grader wheel failed: {done.stderr.strip()[-2000:]}")
    return built[0]


def torch_requirement(version: str | None = None) -> str:
    """The torch the bundle installs: the installed release when it is a plain one, else >= 2.1."""
    release = (version or importlib.metadata.version("torch")).split("+", 1)[0]
    return f"torch=={release}" if re.fullmatch(r"\d+\.\d+\.\d+", release) else "torch>=2.1"


def _read_seed(path: Path) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the seed file {path}: {exc}") from exc
    if not text:
        raise UsageError(f"the seed file {path} is empty")
    return text


def _write_zip(out: Path, wheel: Path, seed: str, folder: Path) -> None:
    spec = load_spec(folder)
    fills = {"@WHEEL@": wheel.name, "@MAX_SCORE@": fmt_points(spec.max_score),
             "@TORCH_REQUIREMENT@": torch_requirement(), "@NOTEBOOK@": spec.notebook}  # fmt: skip
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            for name, template in _TEMPLATES.items():
                _add(bundle, name, _fill(_template(template), fills).encode())
            _add(bundle, SEED, (seed + "\n").encode())
            # The autograder's reference, never students': the spec, its modules, the solution.
            for name in (SPEC_FILE, *_siblings(folder), SOLUTION_FILE):
                _add(bundle, f"{ASSIGNMENT}/{name}", (folder / name).read_bytes())
            bundle.write(wheel, wheel.name)
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from exc


def _siblings(folder: Path) -> list[str]:
    """The spec's own modules beside it (its cases), loaded by path as it is."""
    return sorted(p.name for p in folder.glob("*.py") if p.name != SPEC_FILE and p.is_file())


def _template(name: str) -> str:
    return (resources.files("grader") / "templates" / name).read_text(encoding="utf-8")


def _fill(text: str, fills: dict[str, str]) -> str:
    for placeholder, value in fills.items():
        text = text.replace(placeholder, value)
    return text


def _add(bundle: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    mode = 0o755 if name in _EXECUTABLE else 0o644
    info.external_attr = (0o100000 | mode) << 16  # a regular file with these permissions
    bundle.writestr(info, data)
