"""A release: what students get, and what the autograder and the instructors keep.

`release(out)` writes, for every assignment (or those named):

    out/student/      the student notebooks, the grader wheel with each assignment's public data
                      (`grader.recording`) and README.txt: nothing from which a solution is read
    out/autograder/   per assignment: the Gradescope bundle, and the instructor's material
                      (solution notebook, spec and its modules) as copies

The solutions are checked first (`verify`, the kernel preflight), then everything is built in a
private folder inside `out` and moved into place last: a refusal or a failure writes nothing.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader.assign import write_assignment
from grader.bundle import build_bundle, project_root
from grader.errors import InternalError, UsageError
from grader.load import (
    SOLUTION_FILE,
    SOLUTIONS,
    Assignment,
    assignment_names,
    find_assignment,
    load_assignment,
)
from grader.recording import Recorded, record
from grader.wheel import write_wheel

__all__ = ["BUNDLE_FILE", "STUDENT_README", "Release", "release"]

STUDENT, AUTOGRADER = "student", "autograder"
BUNDLE_FILE = "gradescope_autograder.zip"
STUDENT_README = """\
{notebooks}: your assignment{s}, and {wheel}: the grader you check your work with.

1. Install the grader (Python 3.11 or newer; it brings PyTorch):

       pip install {wheel}

2. Open the notebook in Jupyter (or VS Code), write the functions, save the notebook.

3. Run the last cell, the self-check: it grades the saved notebook on the public cases, in a
   sandbox, and shows which checks pass, where the others go wrong and what to look at.
   From a terminal, the same check is:

       python -m grader check NOTEBOOK.ipynb

Your grade comes from more cases than the self-check runs, so make every check pass here first.
"""


@dataclass(frozen=True, kw_only=True)
class Release:
    """What a release wrote."""

    student: Path  # out/student
    autograder: Path  # out/autograder
    wheel: Path  # the student wheel, in student/
    notebooks: tuple[Path, ...]  # the student notebooks, in student/
    bundles: tuple[Path, ...]  # one Gradescope zip per assignment, in autograder/NAME/
    seeds_generated: bool  # the bundles hold fresh secret seeds (no seed file was given)


def release(
    out: Path,
    *,
    assignments: Sequence[str] = (),
    verify: Callable[[Path], object] | None = None,
    seed_file: Path | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> Release:
    """Write the release of `assignments` (default: every one) into `out`; UsageError for an
    unknown assignment, a solution `verify` refuses, or an `out` that already holds a release."""
    project = project_root()  # UsageError on a student's install: releasing needs a checkout
    loaded = [_load(name) for name in _names(assignments)]
    for target in (out / STUDENT, out / AUTOGRADER):
        if target.exists():
            raise UsageError(f"{target} exists already: remove it, or choose another --out")
    if verify is not None:
        for assignment in loaded:
            progress(f"running {assignment.folder / SOLUTION_FILE} in a Jupyter kernel")
            verify(assignment.folder / SOLUTION_FILE)
    _make_folder(out)
    work = Path(tempfile.mkdtemp(prefix=".release-", dir=out))
    try:
        built = _build(work, project, loaded, seed_file, progress)
        for part in (STUDENT, AUTOGRADER):
            (work / part).rename(out / part)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _moved(built, work, out)


def _names(assignments: Sequence[str]) -> list[str]:
    names = list(dict.fromkeys(assignments)) or list(assignment_names())
    if not names:
        raise UsageError(f"no assignment to release: {SOLUTIONS} holds no assignment folder")
    return names


def _load(name: str) -> Assignment:
    """The assignment `name` with its reference; UsageError when it is unknown or recorded only."""
    assignment = load_assignment(find_assignment(name))
    if isinstance(assignment, Recorded):
        raise UsageError("releasing needs the instructor's checkout, with solutions/")
    return assignment


def _build(
    work: Path,
    project: Path,
    loaded: list[Assignment],
    seed_file: Path | None,
    progress: Callable[[str], None],
) -> Release:
    student, autograder = work / STUDENT, work / AUTOGRADER
    notebooks, recordings, bundles = [], {}, []
    for assignment in loaded:
        name = assignment.spec.name
        progress(f"{name}: student notebook")
        notebook = write_assignment(assignment.folder / SOLUTION_FILE, student)
        notebooks.append(_named(notebook, name))
        progress(f"{name}: public cases, expected answers and known mistakes, recorded")
        recordings[name] = json.dumps(record(assignment), separators=(",", ":")).encode()
        progress(f"{name}: Gradescope bundle and instructor material")
        bundles.append(_autograder(assignment, autograder / name, project, seed_file))
    progress("student wheel")
    wheel = write_wheel(project, recordings, student)
    names = ", ".join(p.name for p in notebooks)
    text = STUDENT_README.format(notebooks=names, s="s" if len(notebooks) > 1 else "",
                                 wheel=wheel.name)  # fmt: skip
    (student / "README.txt").write_text(text, encoding="utf-8")
    return Release(student=student, autograder=autograder, wheel=wheel, notebooks=tuple(notebooks),
                   bundles=tuple(bundles), seeds_generated=seed_file is None)  # fmt: skip


def _named(notebook: Path, name: str) -> Path:
    """The student notebook, its metadata naming its assignment (`check` and the self-check
    read it to choose among several)."""
    student = nbformat.read(notebook, as_version=4)  # type: ignore[no-untyped-call]
    named = student.metadata.get("rnn_grader", {}).get("assignment")
    if named is None:  # `assign` names it; an older one did not
        student.metadata.setdefault("rnn_grader", {})["assignment"] = name
        nbformat.write(student, notebook)  # type: ignore[no-untyped-call]
    elif named != name:
        raise InternalError(f"{notebook} names assignment {named!r}, not {name!r}")
    return notebook


def _autograder(assignment: Assignment, folder: Path, project: Path, seed: Path | None) -> Path:
    """The assignment's Gradescope bundle and a copy of its folder, in `folder`."""
    bundle = build_bundle(folder / BUNDLE_FILE, seed_file=seed, project=project,
                          assignment=assignment.folder.name)  # fmt: skip
    for source in sorted(assignment.folder.iterdir()):
        if source.is_file() and (source.suffix == ".py" or source.name == SOLUTION_FILE):
            shutil.copy2(source, folder / source.name)
    return bundle.path


def _moved(built: Release, work: Path, out: Path) -> Release:
    """`built`'s paths once its folders moved from `work` to `out`."""

    def moved(path: Path) -> Path:
        return out / path.relative_to(work)

    return Release(student=moved(built.student), autograder=moved(built.autograder),
                   wheel=moved(built.wheel), notebooks=tuple(map(moved, built.notebooks)),
                   bundles=tuple(map(moved, built.bundles)),
                   seeds_generated=built.seeds_generated)  # fmt: skip


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write into {folder}: {exc.strerror or exc}") from exc
