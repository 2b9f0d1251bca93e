"""A class at once: `discover` -> `students` -> `planned` -> `pool`/`worker` -> `gradebook` ->
`exports`.

`run.py` holds the orchestration; names load lazily, so a worker process (which imports
`grader.batch.worker`) does not pull the exports, the gradebook or matplotlib before its zygote.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader.batch.run import BatchOptions, BatchSummary, Progress, run_batch

__all__ = ["BatchOptions", "BatchSummary", "Progress", "run_batch"]


def __getattr__(name: str) -> Any:
    """The public names, imported from `run.py` on first use."""
    if name in __all__:
        return getattr(importlib.import_module("grader.batch.run"), name)
    raise AttributeError(name)
