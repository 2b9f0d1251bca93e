"""An assignment folder -> its spec (and, run trusted, its reference solution).

The spec file is loaded by path under a private module name; its folder is never put on
`sys.path`, because every child's sandbox may read what `sys.path` lists.
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib.util
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from grader.errors import NotebookError, UsageError
from grader.extract import Notebook, extract, load_notebook
from grader.results import Problem
from grader.spec import Spec
from grader.statements import cell_statements

SPEC_FILE = "spec.py"
SOLUTION_FILE = "solution.ipynb"
SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"  # the instructors' folders
# A student release's recorded assignments (package data of its wheel; no solutions/ there).
RELEASED = Path(__file__).resolve().parent / "released"


@dataclass(frozen=True, kw_only=True)
class Assignment:
    """One assignment, ready to grade with: what it declares and its trusted reference."""

    folder: Path  # solutions/NAME/
    spec: Spec  # what it declares
    reference: Mapping[str, Callable[..., Any]]  # the solution's functions, by name


def load_assignment(folder: Path) -> Assignment:
    """Spec and reference of an assignment folder; run in the grader's own process only, after
    any zygote is forked (the reference is the answer: no child may inherit it).
    On a student's install (no solutions/ beside the package), the release's recording of that
    name: public cases only."""
    if (recording := _released(folder)) is not None:
        from grader.recording import load_recording  # it imports this module

        return load_recording(recording)
    spec = load_spec(folder)
    from grader.checks import KINDS  # the engine's kinds: a spec may only use those

    kinds = {c.id: (c.kind, spec.function(c.function).returns) for c in spec.checks}
    if unknown := sorted(i for i, kind in kinds.items() if kind not in KINDS):
        raise UsageError(f"{folder}: no kind of check the engine has for {', '.join(unknown)}")
    return Assignment(folder=folder, spec=spec, reference=load_reference(folder, spec))


def find_assignment(name: str = "", root: Path | None = None) -> Path:
    """The folder of assignment `name` (a folder under `root`, or a path to an assignment folder);
    without a name, the only one there is. UsageError, listing the choices, otherwise."""
    root = SOLUTIONS if root is None else root
    names = assignment_names(root)
    if name in names:
        return root / name
    if name and (Path(name) / SPEC_FILE).is_file() and (Path(name) / SOLUTION_FILE).is_file():
        return Path(name)
    listed = ", ".join(names) or "none"
    if name:
        raise UsageError(f"no assignment {name!r}; there are: {listed}")
    if len(names) != 1:
        raise UsageError(f"say which assignment with --assignment NAME; there are: {listed}")
    return root / names[0]


def choose_assignment(
    data: bytes, given: str = "", *, metadata_first: bool = False, root: Path | None = None
) -> str:
    """The assignment that grades notebook `data`: `given` (--assignment), or the one its metadata
    names (before `given` with `metadata_first`, as a class batch does), else the only one there
    is, else the one it defines the most functions of; "" when nothing decides. Bytes that are
    no notebook get the first assignment: they are ungradable whichever grades them."""
    declared = declared_assignment(data, root)
    for choice in (declared, given) if metadata_first else (given, declared):
        if choice:
            return choice
    names = assignment_names(root)
    if len(names) == 1:
        return names[0]
    try:
        defined = defined_names(load_notebook(data))
    except NotebookError:
        return names[0] if names else ""  # ungradable whatever grades it: any lists its checks
    counts = {name: len(defined.intersection(_functions(name, root))) for name in names}
    most = max(counts.values(), default=0)
    best = [name for name, count in counts.items() if count == most]
    return best[0] if most and len(best) == 1 else ""  # init_weights alone tells nothing


def defined_names(notebook: Notebook) -> frozenset[str]:
    """The names a notebook's code cells bind at top level (parsed, never run)."""
    problems: list[Problem] = []
    return frozenset(name for cell, source in notebook.cells
                     for statement in cell_statements(cell, source, problems)
                     for name in statement.binds)  # fmt: skip


@functools.cache
def _functions_in(folder: Path) -> tuple[str, ...]:
    """The graded functions' names, read from the spec's `Function(name="...")` literals without
    running it (a spec imports torch: choosing an assignment must not); else by loading it."""
    try:
        tree = ast.parse((folder / SPEC_FILE).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        tree = None
    named = tuple(
        keyword.value.value
        for node in (ast.walk(tree) if tree is not None else ())
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        and node.func.id == "Function"
        for keyword in node.keywords
        if keyword.arg == "name" and isinstance(keyword.value, ast.Constant)
        and isinstance(keyword.value.value, str)
    )  # fmt: skip
    return named or load_spec(folder).function_names


def _functions(name: str, root: Path | None) -> tuple[str, ...]:
    return _functions_in((SOLUTIONS if root is None else root) / name)


def declared_assignment(data: bytes, root: Path | None = None) -> str:
    """The assignment a notebook's metadata names (`rnn_grader.assignment`), if it exists here."""
    try:
        metadata = json.loads(data).get("metadata", {})
        name = metadata.get("rnn_grader", {}).get("assignment", "")
    except (ValueError, AttributeError, RecursionError):
        return ""  # not a notebook: grading says why
    return name if isinstance(name, str) and name in assignment_names(root) else ""


def load_reference(folder: Path, spec: Spec) -> dict[str, Callable[..., Any]]:
    """The solution notebook's functions, extracted as a student's are, then run trusted here."""
    path = folder / SOLUTION_FILE
    try:
        notebook = load_notebook(path.read_bytes())
    except (OSError, NotebookError) as exc:
        raise UsageError(f"cannot read the solution {path}: {exc}") from exc
    extracted = extract(notebook, spec.function_names)
    if extracted.missing:
        raise UsageError(f"the solution {path} lacks {', '.join(sorted(extracted.missing))}")
    namespace: dict[str, Any] = {"__name__": f"_grader_solution_{folder.name}",
                                 "__builtins__": builtins}  # fmt: skip
    for chunk in extracted.chunks:
        code = compile(chunk.source, f"<{path} code cell {chunk.cell}>", "exec")
        exec(code, namespace)  # trusted: the instructor's own solution
    return {name: namespace[name] for name in spec.function_names}


def assignment_names(root: Path | None = None) -> tuple[str, ...]:
    """The assignments under `root` (default solutions/): folders with a spec and a solution.
    Without solutions/ (a student's install), the release's recorded assignments."""
    root = SOLUTIONS if root is None else root
    if root == SOLUTIONS and not root.is_dir():
        return tuple(sorted(p.stem for p in RELEASED.glob("*.json")))
    if not root.is_dir():
        return ()
    folders = (p for p in root.iterdir() if (p / SPEC_FILE).is_file())
    return tuple(sorted(p.name for p in folders if (p / SOLUTION_FILE).is_file()))


def load_spec(folder: Path) -> Spec:
    """The `SPEC` an assignment folder's spec.py binds, loaded without touching sys.path; on a
    student's install, the recorded spec (no code: public cases only)."""
    if _released(folder) is not None:
        return load_assignment(folder).spec
    path = folder / SPEC_FILE
    if not path.is_file():
        raise UsageError(f"no assignment spec at {path}")
    module = _load_by_path(path, f"_grader_assignment_{folder.name}", reuse=False)
    spec = getattr(module, "SPEC", None)
    if not isinstance(spec, Spec):
        raise UsageError(f"{path} binds no SPEC (a grader.spec.Spec)")
    return spec


def _released(folder: Path) -> Path | None:
    """The student release's recording standing for `folder`, on an install without solutions/."""
    if folder.parent == SOLUTIONS and not SOLUTIONS.is_dir():
        return RELEASED / f"{folder.name}.json"
    return None


def load_sibling(beside: str | Path, stem: str) -> ModuleType:
    """The module `stem`.py beside file `beside` (a spec's cases, say), loaded by path once."""
    folder = Path(beside).resolve().parent
    name = f"_grader_assignment_{folder.name}_{stem}"
    return _load_by_path(folder / f"{stem}.py", name, reuse=True)


def _load_by_path(path: Path, name: str, *, reuse: bool) -> ModuleType:
    """Run a file as module `name` (private: never an importable name); sys.path stays as is.
    With `reuse`, a file already run is not run again (one module object per file)."""
    loaded = sys.modules.get(name)
    if reuse and loaded is not None and getattr(loaded, "__file__", None) == str(path):
        return loaded
    loader_spec = importlib.util.spec_from_file_location(name, path)
    if loader_spec is None or loader_spec.loader is None or not path.is_file():
        raise UsageError(f"no assignment file at {path}")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        loader_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
