"""Run a notebook top to bottom in a real Jupyter kernel, through nbconvert's execute preprocessor.

The kernel starts in a fresh temporary home (no user configuration, no IPython startup files)
and in the notebook's own folder, with `JPY_SESSION_NAME` naming the notebook, as Jupyter Server
does, so that the notebook's self-check cell finds its file. Only trusted notebooks are run here
(the instructor's solution, or tests); students' notebooks are graded in the sandbox instead.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbconvert.preprocessors import CellExecutionError, ExecutePreprocessor
from nbformat import NotebookNode

from grader.notebook import first_line

__all__ = ["CellFailure", "Execution", "KernelUnavailable", "code_cell_label", "execute"]

# Variables the kernel must not inherit: the grading secret, and settings that point it elsewhere.
_WITHHELD = ("GRADER_SEED", "PYTHONSTARTUP", "JUPYTER_CONFIG_DIR", "IPYTHONDIR", "JPY_SESSION_NAME")


class KernelUnavailable(RuntimeError):
    """No Jupyter kernel could be started (ipykernel missing, or the kernel died at start)."""


@dataclass(frozen=True, kw_only=True)
class CellFailure:
    """The cell that stopped the run."""

    index: int  # position among all cells, 0-based
    label: str  # as a person sees it: "code cell 7 (`output, h_n = rnn_forward(...)`)"
    error: str  # "ValueError: ..." or "timed out after 120 s"


@dataclass(frozen=True, kw_only=True)
class Execution:
    """A notebook after running: its outputs filled in, and the first failure if any."""

    notebook: NotebookNode  # the executed copy
    failure: CellFailure | None  # None when every cell ran (or errors were allowed)


class _Preprocessor(ExecutePreprocessor):
    """nbconvert's preprocessor, started with our environment and remembering the current cell."""

    def __init__(self, env: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        self.kernel_env = env
        self.current = -1

    def start_new_kernel(self, **kwargs: Any) -> None:
        # The kernel's own stderr carries only start-up warnings; cell errors come as outputs.
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        super().start_new_kernel(env=self.kernel_env, **quiet, **kwargs)

    def preprocess_cell(self, cell: Any, resources: Any, index: int) -> Any:
        self.current = index
        return super().preprocess_cell(cell, resources, index)  # type: ignore[no-untyped-call]


def execute(
    notebook: NotebookNode, *, path: Path, timeout: int = 120, allow_errors: bool = False
) -> Execution:
    """Run a copy of `notebook` as if it were the file `path`; `timeout` is per cell, in seconds."""
    copy = nbformat.from_dict(notebook)  # type: ignore[no-untyped-call]
    with tempfile.TemporaryDirectory(prefix="grader-kernel-home-") as home:
        runner = _Preprocessor(
            _kernel_env(home, path),
            timeout=timeout,
            allow_errors=allow_errors,
            kernel_name="python3",
        )
        resources = {"metadata": {"path": str(path.resolve().parent)}}
        try:
            runner.preprocess(copy, resources)
        except CellExecutionError as exc:
            return Execution(notebook=copy, failure=_failure(copy, runner.current, _first(exc)))
        except TimeoutError:
            why = f"timed out after {timeout} s"
            return Execution(notebook=copy, failure=_failure(copy, runner.current, why))
        except Exception as exc:  # jupyter_client's own errors: no kernel, or it died
            if runner.current < 0:
                raise KernelUnavailable(f"{type(exc).__name__}: {exc}") from exc
            why = f"the kernel stopped ({type(exc).__name__}: {exc})"
            return Execution(notebook=copy, failure=_failure(copy, runner.current, why))
    return Execution(notebook=copy, failure=None)


def _kernel_env(home: str, path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _WITHHELD}
    env.update(
        HOME=home,
        IPYTHONDIR=os.path.join(home, ".ipython"),
        JUPYTER_CONFIG_DIR=os.path.join(home, ".jupyter"),
        MPLCONFIGDIR=os.path.join(home, ".matplotlib"),
        JPY_SESSION_NAME=str(path.resolve()),
        PYDEVD_DISABLE_FILE_VALIDATION="1",  # silences a debugger warning on frozen modules
    )
    return env


def _first(exc: CellExecutionError) -> str:
    ename, evalue = getattr(exc, "ename", ""), getattr(exc, "evalue", "")
    return f"{ename}: {evalue}" if ename else str(exc).strip().splitlines()[-1]


def _failure(notebook: NotebookNode, index: int, error: str) -> CellFailure:
    return CellFailure(index=index, label=code_cell_label(notebook, index), error=error)


def code_cell_label(notebook: NotebookNode, index: int) -> str:
    """ "code cell N (`first line`)", counting code cells from 1 as a person reading does."""
    cells = notebook.cells
    if not 0 <= index < len(cells):
        return "an unknown cell"
    number = sum(1 for cell in cells[: index + 1] if cell.cell_type == "code")
    first = first_line(cells[index].source)
    return f"code cell {number} (`{first}`)" if first else f"code cell {number}"
