"""Grade every round-1 fixture and write its canonical JSON, minus timings and grader version.

    python tools/dump_canonical.py OUT_DIR

Run before and after a refactor of grading, then `diff -r BEFORE AFTER`: any difference is a
change of results. Uses the default grading seed and one Grader for everything (as a batch does).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fixtures.submissions import (  # noqa: E402
    FAIRNESS,
    HOSTILE,
    MISTAKES,
    STYLES,
    correct_cells,
    notebook,
)

from grader.grading import GradeOptions, Grader  # noqa: E402
from grader.report import canonical  # noqa: E402

VOLATILE = frozenset({"duration", "grader_version"})  # differ from run to run or by version


def fixtures() -> Iterator[tuple[str, bytes]]:
    """(name, notebook bytes) of every round-1 fixture, in a fixed order."""
    yield "correct", notebook(correct_cells())
    for name, overrides in STYLES.items():
        yield f"style-{name}", notebook(correct_cells(**overrides))
    for name, mistake in MISTAKES.items():
        yield f"mistake-{name}", notebook(mistake.cells)
    for name, overrides in FAIRNESS.items():
        yield f"fairness-{name}", notebook(correct_cells(**overrides))
    for name, hostile in HOSTILE.items():
        yield f"hostile-{name}", notebook(list(hostile.cells))
    for path in sorted((ROOT / "examples").glob("*.ipynb")):
        yield f"example-{path.stem}", path.read_bytes()
    for path in sorted((ROOT / "solutions" / "rnn_forward").rglob("*.ipynb")):  # round 1's RNN
        name = path.parent.name if path.stem == "solution" else path.stem.removesuffix("_solution")
        yield f"solution-{name}", path.read_bytes()


def stable(value: Any) -> Any:
    """`value` without the keys that change from run to run."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for public_only in (False, True):
        options = GradeOptions(public_only=public_only, assignment="rnn_forward")
        with Grader(options) as grader:
            for name, data in fixtures():
                result = grader.grade_bytes(data, name=f"{name}.ipynb")
                document = stable(json.loads(canonical.render(result)))
                suffix = "check" if public_only else "grade"
                text = json.dumps(document, indent=2) + "\n"
                (out / f"{name}.{suffix}.json").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
