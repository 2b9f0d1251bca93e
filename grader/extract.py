"""Notebook -> the graded functions' source, without executing anything.

Takes the graded functions, the helpers they call and the imports and module-level names they
use, in notebook order, the way running the notebook top to bottom would define them; with them,
the statements that change those names' objects in between (`CONFIG["k"] = v`, `LOG.append(v)`).
Every step is linear in the number of statements (name lookups bisect; each change is taken once).
"""

from __future__ import annotations

import ast
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from grader import builtins_scan
from grader.notebook import Notebook, first_line, load_notebook
from grader.results import Problem
from grader.statements import DEFINITIONS, Statement, cell_statements, strip_magics

__all__ = ["Chunk", "Extracted", "Notebook", "extract", "load_notebook", "strip_magics"]

_DEFINITIONS = DEFINITIONS
_Statement = Statement


@dataclass(frozen=True, kw_only=True)
class Chunk:
    """One top-level statement the child executes, in notebook order."""

    source: str  # the statement's code, magics removed
    cell: int  # code cell number, 1-based among code cells (as a student counts them)
    line: int  # 1-based line in the cell where the statement starts
    binds: tuple[str, ...]  # names it defines at module level


@dataclass(frozen=True, kw_only=True)
class Extracted:
    """What the sandbox runs and what the checks need to know about the source."""

    chunks: tuple[Chunk, ...]  # statements to execute, in notebook order
    found: dict[str, int]  # graded function -> code cell its (last) definition is in
    missing: dict[str, str]  # graded function -> why it could not be found
    problems: tuple[Problem, ...]  # notes that name their code cell
    builtin_rnn_users: frozenset[str]  # graded functions whose code reaches a built-in RNN
    builtin_rnn_names: dict[str, str] = field(default_factory=dict)  # function -> built-in named
    tracer_evaders: dict[str, str] = field(default_factory=dict)  # function -> evasion it names
    escapes: dict[str, str] = field(default_factory=dict)  # function -> escape it names


def extract(notebook: Notebook, functions: tuple[str, ...]) -> Extracted:
    """Select what the graded `functions` (an assignment's, in its spec) need, in notebook order."""
    problems: list[Problem] = list(notebook.problems)
    statements = [s for cell, source in notebook.cells
                  for s in cell_statements(cell, source, problems)]  # fmt: skip
    bindings: dict[str, list[int]] = {}
    for index, stmt in enumerate(statements):
        for name in stmt.binds:
            bindings.setdefault(name, []).append(index)
    last = {name: indexes[-1] for name, indexes in bindings.items()}
    keep = _closure([last[f] for f in functions if f in last], statements, bindings)
    problems.extend(_duplicate_notes(statements, functions))
    chunks = tuple(
        Chunk(source=s.source, cell=s.cell, line=s.line, binds=s.binds)
        for i, s in enumerate(statements)
        if i in keep
    )
    found = {f: statements[last[f]].cell for f in functions if f in last}
    missing = {f: _why_missing(f, notebook.cells, problems) for f in functions if f not in last}
    scanned = _scan_builtins({f: last[f] for f in found}, statements, bindings)
    return Extracted(
        chunks=chunks,
        found=found,
        missing=missing,
        problems=tuple(problems),
        builtin_rnn_users=frozenset(scanned.builtins),
        builtin_rnn_names=scanned.builtins,
        tracer_evaders=scanned.evasions,
        escapes=scanned.escapes,
    )


def _closure(
    roots: list[int], statements: list[_Statement], bindings: dict[str, list[int]]
) -> set[int]:
    """Statements the roots need: each name read, at the binding in force when it is read, and
    the changes made to that binding's object before the read."""
    changes = _Changes(statements)
    keep: set[int] = set()
    todo = list(roots)
    while todo:
        index = todo.pop()
        if index in keep:
            continue
        keep.add(index)
        # A definition's body reads names when called, after the whole notebook has run.
        until = len(statements) if isinstance(statements[index].node, _DEFINITIONS) else index
        for name in statements[index].uses:
            found = bindings.get(name, [])
            position = bisect_left(found, until) if until < len(statements) else len(found)
            if position:
                todo.append(found[position - 1])
                todo.extend(changes.take(name, found[position - 1], until))
    return keep


class _Changes:
    """Statements that change a name's object, each handed out once, in time linear overall."""

    def __init__(self, statements: list[_Statement]) -> None:
        self._statements = statements
        assigned: dict[str, list[int]] = {}
        called: dict[str, list[int]] = {}
        for index, stmt in enumerate(statements):
            for name in stmt.assigns_into:
                assigned.setdefault(name, []).append(index)
            for name in stmt.calls_on:
                called.setdefault(name, []).append(index)
        self._assigned = {name: _Pending(indexes) for name, indexes in assigned.items()}
        self._called = {name: _Pending(indexes) for name, indexes in called.items()}

    def take(self, name: str, binding: int, before: int) -> Iterator[int]:
        """Changes to `name` after `binding` and before `before` not handed out yet. A module's
        functions are not its methods: `torch.manual_seed(0)` changes no object a function reads."""
        yield from self._take(self._assigned, name, binding, before)
        if not isinstance(self._statements[binding].node, ast.Import | ast.ImportFrom):
            yield from self._take(self._called, name, binding, before)

    @staticmethod
    def _take(pending: dict[str, _Pending], name: str, after: int, before: int) -> list[int]:
        found = pending.get(name)
        return found.take(after, before) if found is not None else []


class _Pending:
    """One name's changes in notebook order; taken ones are skipped (path-compressed)."""

    def __init__(self, indexes: list[int]) -> None:
        self.indexes = indexes  # statement indexes, ascending
        self._next = list(range(len(indexes)))  # position -> one at or after it maybe untaken

    def take(self, after: int, before: int) -> list[int]:
        """Untaken indexes strictly between `after` and `before`, now taken."""
        taken = []
        position = self._find(bisect_right(self.indexes, after))
        while position < len(self.indexes) and self.indexes[position] < before:
            taken.append(self.indexes[position])
            self._next[position] = position + 1
            position = self._find(position + 1)
        return taken

    def _find(self, position: int) -> int:
        root = position
        while root < len(self._next) and self._next[root] != root:
            root = self._next[root]
        while position != root:
            self._next[position], position = root, self._next[position]
        return root


def _scan_builtins(
    roots: dict[str, int], statements: list[_Statement], bindings: dict[str, list[int]]
) -> builtins_scan.Findings:
    """What each graded function's code names: built-in recurrences, tracer evasion, escapes."""
    return builtins_scan.scan(
        roots, statements, lambda root: _closure([root], statements, bindings)
    )


def _duplicate_notes(statements: list[_Statement], functions: tuple[str, ...]) -> Iterator[Problem]:
    cells: dict[str, list[int]] = {}
    for stmt in statements:
        if isinstance(stmt.node, ast.FunctionDef) and stmt.node.name in functions:
            cells.setdefault(stmt.node.name, []).append(stmt.cell)
    for name, where in cells.items():
        if len(where) > 1:
            listed = ", ".join(str(c) for c in where[:-1]) + f" and {where[-1]}"
            yield Problem(
                message=f"{name} is defined in cells {listed}, counting code cells; the last"
                f" one (code cell {where[-1]}) is graded, as running the notebook would do",
                cell=where[-1],
            )


def _why_missing(function: str, cells: Iterable[tuple[int, str]], problems: list[Problem]) -> str:
    broken = {p.cell: p for p in problems if p.severity == "error"}
    for cell, source in cells:
        if cell in broken and re.search(rf"\bdef\s+{function}\b", source):
            problem, quoted = broken[cell], first_line(source)
            if problem.line is None:
                return f"{function} is in code cell {cell} (`{quoted}`), which Python cannot read"
            return (f"{function} is in code cell {cell} (`{quoted}`), which has a syntax error"
                    f" at line {problem.line}")  # fmt: skip
    return f"{function} is not defined anywhere in the notebook"
