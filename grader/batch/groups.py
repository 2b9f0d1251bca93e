"""A class's rows by assignment: which assignments are present, in which order, with which checks.

Everything comes from the gradebook's rows (each check as recorded, in its spec's order), so the
exports need neither torch nor the assignment folders, and a gradebook keeps exporting after an
assignment's folder is gone.
"""

from __future__ import annotations

from collections.abc import Iterable

from grader.batch.gradebook import ROUND_ONE_ASSIGNMENT, Row

# Round 1's assignment leads, so a class that held only it keeps its columns where they were.
LEADING = ROUND_ONE_ASSIGNMENT


def ordered(names: Iterable[str]) -> list[str]:
    """Assignment names, distinct: the leading one first, then by name; "" (none told) last."""
    return sorted(set(names), key=lambda name: (name == "", name != LEADING, name))


def present(rows: Iterable[Row]) -> list[str]:
    """The assignments that graded some row, in order; "" (no assignment told) left out."""
    return [name for name in ordered(row.assignment for row in rows) if name]


def of(rows: Iterable[Row], assignment: str) -> list[Row]:
    return [row for row in rows if row.assignment == assignment]


def check_ids(rows: list[Row], assignment: str) -> list[str]:
    """The check ids of `assignment`'s rows, each once, in the order recorded: the spec's."""
    return list(dict.fromkeys(check for row in of(rows, assignment) for check in row.checks))


def columns(rows: list[Row]) -> list[tuple[str, str]]:
    """(assignment, check id) of every check of every assignment, the assignments in order."""
    names = ordered(row.assignment for row in rows)
    return [(name, check) for name in names for check in check_ids(rows, name)]


def label(assignment: str, check_id: str, mixed: bool) -> str:
    """A check's name in a class's files: its id, with its assignment's name in a mixed class
    (assignments may share ids: both the RNN and the LSTM have `init_weights.values`)."""
    return f"{assignment}:{check_id}" if mixed and assignment else check_id


def is_mixed(rows: list[Row]) -> bool:
    """Whether checks of more than one assignment are among the rows."""
    return len({name for name, _ in columns(rows)}) > 1


def max_points(rows: list[Row], check_id: str) -> float:
    """The points a check is worth, as recorded (its largest, were a spec to change them)."""
    return max((row.max_points.get(check_id, 0.0) for row in rows), default=0.0)
