"""Notebook -> the graded functions' source, without executing anything.

Takes the five graded functions, the helpers they call and the imports and module-level names they
use, in notebook order, the way running the notebook top to bottom would define them.
"""

from __future__ import annotations

import ast
import json
import re
import symtable
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from grader import builtins_scan
from grader.catalog import FUNCTIONS
from grader.errors import NotebookError
from grader.results import Problem

_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_MAGIC = re.compile(r"^(\s*)(%|!)")
_CELL_MAGIC = re.compile(r"^\s*%%")


@dataclass(frozen=True, kw_only=True)
class Chunk:
    """One top-level statement the child executes, in notebook order."""

    source: str  # the statement's code, magics removed
    cell: int  # 1-based cell number in the notebook
    line: int  # 1-based line in the cell where the statement starts
    binds: tuple[str, ...]  # names it defines at module level


@dataclass(frozen=True, kw_only=True)
class Extracted:
    """What the sandbox runs and what the checks need to know about the source."""

    chunks: tuple[Chunk, ...]  # statements to execute, in notebook order
    found: dict[str, int]  # graded function -> cell its (last) definition is in
    missing: dict[str, str]  # graded function -> why it could not be found
    problems: tuple[Problem, ...]  # notes that name their cell
    builtin_rnn_users: frozenset[str]  # graded functions whose code reaches a built-in RNN
    builtin_rnn_names: dict[str, str] = field(default_factory=dict)  # function -> built-in named
    tracer_evaders: dict[str, str] = field(default_factory=dict)  # function -> evasion it names


@dataclass(frozen=True, kw_only=True)
class Notebook:
    """The code cells of a readable notebook."""

    cells: tuple[tuple[int, str], ...]  # (1-based cell number, source) of every code cell
    problems: tuple[Problem, ...]  # oddities that did not stop grading


@dataclass(frozen=True, kw_only=True)
class _Statement:
    node: ast.stmt
    source: str
    cell: int
    line: int
    binds: tuple[str, ...]
    uses: frozenset[str]


def load_notebook(data: bytes) -> Notebook:
    """Parse notebook bytes; NotebookError if they cannot be graded at all."""
    if not data.strip():
        raise NotebookError("the file is empty")
    try:
        raw = json.loads(data.decode("utf-8-sig"))  # a BOM from a Windows editor is harmless
    except UnicodeDecodeError as exc:
        raise NotebookError(f"not a notebook: the file is not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"not a notebook: invalid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg});"
            " the file may be truncated"
        ) from None
    if not isinstance(raw, dict) or not ("cells" in raw or "worksheets" in raw):
        raise NotebookError("not a notebook: the JSON has no 'cells' list")
    if raw.get("nbformat") != 4:
        raise NotebookError(
            f"unsupported notebook format (nbformat {raw.get('nbformat')}): open and save it"
            " with Jupyter 4 or newer to convert it to nbformat 4"
        )
    return Notebook(cells=_code_cells(raw), problems=())


def _code_cells(raw: dict[str, object]) -> tuple[tuple[int, str], ...]:
    cells = raw.get("cells")
    if not isinstance(cells, list):
        raise NotebookError("not a valid notebook: 'cells' is not a list")
    out: list[tuple[int, str]] = []
    for number, cell in enumerate(cells, start=1):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            out.append(
                (number, "".join(map(str, source)) if isinstance(source, list) else str(source))
            )
    if not out:
        raise NotebookError("the notebook has no code cells")
    return tuple(out)


def strip_magics(source: str) -> str:
    """Blank IPython magics and shell lines; a cell magic drops the whole cell."""
    if _CELL_MAGIC.match(source):
        return ""
    lines = source.split("\n")
    # `pass` keeps line numbers and keeps an indented block non-empty.
    return "\n".join(_MAGIC.sub(r"\1pass  # ", line) for line in lines)


def _statements(cells: Iterable[tuple[int, str]], problems: list[Problem]) -> Iterator[_Statement]:
    for cell, raw_source in cells:
        source = strip_magics(raw_source)
        try:
            tree = ast.parse(source)
        except SyntaxError as exc:
            problems.append(
                Problem(
                    message=f"syntax error: {exc.msg}; this cell was skipped",
                    cell=cell,
                    line=exc.lineno,
                    severity="error",
                )
            )
            continue
        lines = source.split("\n") if "\r" not in source and "\f" not in source else None
        for node in tree.body:
            start, text = _segment(source, lines, node)
            yield _Statement(
                node=node,
                source=text,
                cell=cell,
                line=start,
                binds=tuple(_binds(node)),
                uses=frozenset(_uses(node, text)),
            )


def _segment(source: str, lines: list[str] | None, node: ast.stmt) -> tuple[int, str]:
    """The statement's own text and first line, decorators included.

    `lines` is the source split at newlines, None when it holds other line breaks ast honours.
    """
    decorators = getattr(node, "decorator_list", [])
    if decorators:
        start = min(d.lineno for d in decorators) - 1  # the '@' sits one column left of the name
        return start + 1, "\n".join((lines or source.split("\n"))[start : node.end_lineno])
    if lines is None:
        return node.lineno, ast.get_source_segment(source, node) or ""
    # ast.get_source_segment, without splitting the whole cell again for every statement.
    first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
    end = node.end_col_offset
    chosen = [line.encode() for line in lines[first : last + 1]]
    chosen[0] = chosen[0][node.col_offset :]
    if end is not None:
        chosen[-1] = chosen[-1][: end - (node.col_offset if first == last else 0)]
    return node.lineno, b"\n".join(chosen).decode()


def _binds(node: ast.stmt) -> Iterator[str]:
    """Module-level names a statement binds; compound statements bind what their blocks bind."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        yield node.name
    elif isinstance(node, ast.Import | ast.ImportFrom):
        for alias in node.names:
            if alias.name != "*":
                yield (alias.asname or alias.name).split(".")[0]
    elif isinstance(node, ast.Assign):
        for target in node.targets:
            yield from _target_names(target)
    elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.For | ast.AsyncFor):
        yield from _target_names(node.target)
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.stmt) and not isinstance(node, _DEFINITIONS):
            yield from _binds(child)
        elif isinstance(child, ast.ExceptHandler | ast.match_case):
            yield from ([child.name] if isinstance(child, ast.ExceptHandler) and child.name else [])
            for statement in child.body:
                yield from _binds(statement)
        elif isinstance(child, ast.withitem) and child.optional_vars is not None:
            yield from _target_names(child.optional_vars)


def _target_names(target: ast.expr) -> Iterator[str]:
    """Names an assignment target binds; `module.attr = ...` and `x[i] = ...` bind nothing."""
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, ast.Tuple | ast.List):
        for element in target.elts:
            yield from _target_names(element)
    elif isinstance(target, ast.Starred):
        yield from _target_names(target.value)


def _uses(node: ast.stmt, source: str) -> set[str]:
    """Global names a statement reads (free names of a definition, loads of anything else)."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        return set()
    if isinstance(node, _DEFINITIONS):
        return _free_names(source)
    names = {
        n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }
    if isinstance(node, ast.AugAssign):
        names.update(_target_names(node.target))  # x += 1 reads x first
    return names


def _free_names(source: str) -> set[str]:
    table = symtable.symtable(source, "<cell>", "exec")
    # Decorators, defaults and bases are read in the module scope itself.
    names = {s.get_name() for s in table.get_symbols() if s.is_referenced()}
    stack = list(table.get_children())
    while stack:
        scope = stack.pop()
        stack.extend(scope.get_children())
        names.update(s.get_name() for s in scope.get_symbols() if s.is_global())
    return names


def extract(notebook: Notebook) -> Extracted:
    """Select what the graded functions need, in notebook order."""
    problems: list[Problem] = list(notebook.problems)
    statements = list(_statements(notebook.cells, problems))
    bindings: dict[str, list[int]] = {}
    for index, stmt in enumerate(statements):
        for name in stmt.binds:
            bindings.setdefault(name, []).append(index)
    last = {name: indexes[-1] for name, indexes in bindings.items()}
    keep = _closure([last[f] for f in FUNCTIONS if f in last], statements, bindings)
    problems.extend(_duplicate_notes(statements))
    chunks = tuple(
        Chunk(source=s.source, cell=s.cell, line=s.line, binds=s.binds)
        for i, s in enumerate(statements)
        if i in keep
    )
    found = {f: statements[last[f]].cell for f in FUNCTIONS if f in last}
    missing = {f: _why_missing(f, notebook.cells, problems) for f in FUNCTIONS if f not in last}
    scanned = _scan_builtins({f: last[f] for f in found}, statements, bindings)
    return Extracted(
        chunks=chunks,
        found=found,
        missing=missing,
        problems=tuple(problems),
        builtin_rnn_users=frozenset(scanned.builtins),
        builtin_rnn_names=scanned.builtins,
        tracer_evaders=scanned.evasions,
    )


def _closure(
    roots: list[int], statements: list[_Statement], bindings: dict[str, list[int]]
) -> set[int]:
    """Statements the roots need, following each name to the binding in force when it is read."""
    keep: set[int] = set()
    todo = list(roots)
    while todo:
        index = todo.pop()
        if index in keep:
            continue
        keep.add(index)
        # A definition's body reads names when called, after the whole notebook has run.
        deferred = isinstance(statements[index].node, _DEFINITIONS)
        for name in statements[index].uses:
            earlier = [i for i in bindings.get(name, []) if deferred or i < index]
            if earlier:
                todo.append(earlier[-1])
    return keep


def _scan_builtins(
    roots: dict[str, int], statements: list[_Statement], bindings: dict[str, list[int]]
) -> builtins_scan.Findings:
    """What each graded function's code names: built-in recurrences, tracer evasion."""
    return builtins_scan.scan(
        roots, statements, lambda root: _closure([root], statements, bindings)
    )


def _duplicate_notes(statements: list[_Statement]) -> Iterator[Problem]:
    cells: dict[str, list[int]] = {}
    for stmt in statements:
        if isinstance(stmt.node, ast.FunctionDef) and stmt.node.name in FUNCTIONS:
            cells.setdefault(stmt.node.name, []).append(stmt.cell)
    for name, where in cells.items():
        if len(where) > 1:
            listed = ", ".join(str(c) for c in where)
            yield Problem(
                message=f"{name} is defined in cells {listed}; the last one (cell {where[-1]})"
                " is graded, as running the notebook would do",
                cell=where[-1],
            )


def _why_missing(function: str, cells: Iterable[tuple[int, str]], problems: list[Problem]) -> str:
    broken = {p.cell: p for p in problems if p.severity == "error"}
    for cell, source in cells:
        if cell in broken and re.search(rf"\bdef\s+{function}\b", source):
            line = broken[cell].line
            return f"{function} is in cell {cell}, which has a syntax error at line {line}"
    return f"{function} is not defined anywhere in the notebook"
