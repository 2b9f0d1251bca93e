"""One code cell -> its top-level statements, with the names each binds, reads and changes.

Pure and bounded: nothing is executed, and a cell Python itself cannot compile (a syntax error,
or nesting so deep that `ast` runs out of recursion or memory) becomes a Problem, not an exception.
Every walk over an expression is iterative, so a deep expression costs time, never the stack.
"""

from __future__ import annotations

import ast
import re
import symtable
from collections.abc import Iterator
from dataclasses import dataclass

from grader.notebook import first_line
from grader.results import Problem

DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
# What ast.parse and symtable raise on code Python cannot compile; none of them is our bug.
COMPILE_FAILURES = (SyntaxError, RecursionError, MemoryError, ValueError)
# Statements that hold statements, and those that can change an object (a definition's body runs
# later, so it is not entered).
_BLOCKS = (
    ast.If,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.With,
    ast.AsyncWith,
    ast.Try,
    ast.TryStar,
    ast.Match,
    ast.excepthandler,
    ast.match_case,
    ast.Assign,
    ast.AugAssign,
    ast.AnnAssign,
    ast.Delete,
    ast.Expr,
)
_MAGIC = re.compile(r"^(\s*)(%|!)")
_CELL_MAGIC = re.compile(r"^\s*%%")
_LINE_BREAK = re.compile(r"\r\n?")


@dataclass(frozen=True, kw_only=True)
class Statement:
    """One top-level statement of a code cell."""

    node: ast.stmt  # its syntax tree
    source: str  # its own text, decorators included
    cell: int  # code cell number, 1-based among the notebook's code cells
    line: int  # 1-based line in the cell where it starts
    binds: tuple[str, ...]  # module-level names it (re)binds
    uses: frozenset[str]  # global names it reads (a definition: when called)
    assigns_into: frozenset[str]  # names whose object it changes: `N[k] = v`, `N.a = v`, `del N[k]`
    calls_on: frozenset[str]  # names it calls a method of, when that runs now: `N.update(...)`


def strip_magics(source: str) -> str:
    """Blank IPython magics and shell lines; a cell magic drops the whole cell.

    Line breaks become `\\n` (as the tokenizer reads them), so lines split as `ast` counts them.
    """
    if _CELL_MAGIC.match(source):
        return ""
    lines = _LINE_BREAK.sub("\n", source).split("\n")
    # `pass` keeps line numbers and keeps an indented block non-empty.
    return "\n".join(_MAGIC.sub(r"\1pass  # ", line) for line in lines)


def cell_statements(cell: int, raw_source: str, problems: list[Problem]) -> Iterator[Statement]:
    """The cell's statements in order; none, with a Problem, when Python cannot compile it."""
    source = strip_magics(raw_source)
    try:
        tree = ast.parse(source)
    except COMPILE_FAILURES as exc:
        problems.append(_unreadable(cell, raw_source, exc))
        return
    lines = source.split("\n")
    encoded = _Lines(lines)
    for node in tree.body:
        start, text = _segment(lines, encoded, node)
        assigned, called = _changes(node)
        yield Statement(
            node=node,
            source=text,
            cell=cell,
            line=start,
            binds=tuple(_binds(node)),
            uses=frozenset(_uses(node, text)),
            assigns_into=assigned,
            calls_on=called,
        )


def _unreadable(cell: int, source: str, exc: BaseException) -> Problem:
    quoted = f"this cell, which starts `{first_line(source)}`, was skipped"
    if isinstance(exc, SyntaxError):
        return Problem(
            message=f"syntax error: {exc.msg}; {quoted}",
            cell=cell,
            line=exc.lineno,
            severity="error",
        )
    reason = "nests too deeply" if isinstance(exc, RecursionError | MemoryError) else "is invalid"
    return Problem(
        message=f"Python cannot compile this cell: its code {reason}"
        f" ({type(exc).__name__}); {quoted}",
        cell=cell,
        severity="error",
    )


def _segment(lines: list[str], encoded: _Lines, node: ast.stmt) -> tuple[int, str]:
    """The statement's own text and first line, decorators included (ast.get_source_segment,
    without splitting the cell again, or copying a whole line, for every statement: a line of
    100,000 `x = 1;` statements must cost its length once, not once per statement)."""
    decorators = getattr(node, "decorator_list", [])
    if decorators:
        start = min(d.lineno for d in decorators) - 1  # the '@' sits one column left of the name
        return start + 1, "\n".join(lines[start : node.end_lineno])
    first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
    begin, end = node.col_offset, node.end_col_offset  # in UTF-8 bytes, as ast counts them
    if first == last:
        return node.lineno, encoded[first][begin:end].decode()
    middle = [line.encode() for line in lines[first + 1 : last]]
    chosen = [encoded[first][begin:], *middle, encoded[last][:end]]
    return node.lineno, b"\n".join(chosen).decode()


class _Lines:
    """A cell's lines as UTF-8, each encoded once and only when a statement needs it."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines
        self._encoded: dict[int, bytes] = {}

    def __getitem__(self, index: int) -> bytes:
        if index not in self._encoded:
            self._encoded[index] = self._lines[index].encode()
        return self._encoded[index]


def _binds(node: ast.stmt) -> Iterator[str]:
    """Module-level names a statement binds; compound statements bind what their blocks bind."""
    if isinstance(node, DEFINITIONS):
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
        if isinstance(child, ast.stmt) and not isinstance(node, DEFINITIONS):
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
    if isinstance(node, DEFINITIONS):
        try:
            return _free_names(source)
        except COMPILE_FAILURES:  # too deep for symtable: every name it mentions, to be safe
            return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
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


def _changes(node: ast.stmt) -> tuple[frozenset[str], frozenset[str]]:
    """Names whose objects the statement changes when it runs: by assigning into them, and by a
    method call standing as a statement (`N.append(v)`; a call inside an expression, such as
    `plot(N.numpy())`, is a read). A definition changes nothing until it is called."""
    if isinstance(node, DEFINITIONS):
        return frozenset(), frozenset()
    assigned: set[str] = set()
    called: set[str] = set()
    stack: list[ast.AST] = [node]
    while stack:
        sub = stack.pop()
        if isinstance(sub, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete):
            targets = sub.targets if isinstance(sub, ast.Assign | ast.Delete) else [sub.target]
            assigned.update(_assigned_roots(list(targets)))
        elif isinstance(sub, ast.Expr) and (receiver := _receiver(sub.value)) is not None:
            called.update(_root(receiver))
        # Only statements change objects, and they nest only in statement blocks.
        stack.extend(c for c in ast.iter_child_nodes(sub) if isinstance(c, _BLOCKS))
    return frozenset(assigned), frozenset(called)


def _receiver(expr: ast.expr) -> ast.expr | None:
    """`N` in the method call `N.method(...)`, else None."""
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        return expr.func.value
    return None


def _assigned_roots(targets: list[ast.expr]) -> Iterator[str]:
    """The names under `N[k]`, `N.a.b`, `(N[0], M.x)` targets; plain names are bindings."""
    stack = list(targets)
    while stack:
        target = stack.pop()
        if isinstance(target, ast.Tuple | ast.List):
            stack.extend(target.elts)
        elif isinstance(target, ast.Starred):
            stack.append(target.value)
        elif isinstance(target, ast.Attribute | ast.Subscript):
            yield from _root(target.value)


def _root(expr: ast.expr) -> Iterator[str]:
    """The name an attribute, item or method chain starts from: `N` in `N.get("a")[0].b`."""
    while True:
        if isinstance(expr, ast.Attribute | ast.Subscript):
            expr = expr.value
        elif isinstance(expr, ast.Call):
            expr = expr.func
        else:
            break
    if isinstance(expr, ast.Name):
        yield expr.id
