"""An assignment folder -> its spec (and, run trusted, its reference solution).

The spec file is loaded by path under a private module name; its folder is never put on
`sys.path`, because every child's sandbox may read what `sys.path` lists.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from grader.errors import UsageError
from grader.spec import Spec

SPEC_FILE = "spec.py"
SOLUTION_FILE = "solution.ipynb"
SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"  # the instructors' folders


def assignment_names(root: Path = SOLUTIONS) -> tuple[str, ...]:
    """The assignments under `root`: every folder holding a spec and a solution."""
    if not root.is_dir():
        return ()
    folders = (p for p in root.iterdir() if (p / SPEC_FILE).is_file())
    return tuple(sorted(p.name for p in folders if (p / SOLUTION_FILE).is_file()))


def load_spec(folder: Path) -> Spec:
    """The `SPEC` an assignment folder's spec.py binds, loaded without touching sys.path."""
    path = folder / SPEC_FILE
    name = f"_grader_assignment_{folder.name}"  # private: never an importable name
    loader_spec = importlib.util.spec_from_file_location(name, path)
    if loader_spec is None or loader_spec.loader is None or not path.is_file():
        raise UsageError(f"no assignment spec at {path}")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        loader_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    spec = getattr(module, "SPEC", None)
    if not isinstance(spec, Spec):
        raise UsageError(f"{path} binds no SPEC (a grader.spec.Spec)")
    return spec
