"""Static signals read from the source: built-in recurrences, tracer evasion, and escapes it names.

An escape is machinery a from-scratch forward never needs and that reaches code outside the
notebook's own: foreign functions (ctypes), code loading (exec, importlib, pickle, and the
standard library's other loaders: pydoc, timeit, doctest, typing's hint evaluation), reading
source or library files, introspection (frames, __globals__, gc), torch's internals (torch._C,
torch.ops) and attribute lookups by a computed name, which could spell any of these.

The sandbox refuses every built-in recurrent kernel at run time whatever the code looks like;
this scan is the second signal, and the one that can name what was reached for. Each statement
is scanned once (memo shared by the graded functions), so the cost is linear in the source.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

# Names whose use means the code did not build the recurrence itself: modules, cells, kernels.
BUILTIN_RNN_NAMES = frozenset(
    {
        "RNN", "RNNCell", "LSTM", "LSTMCell", "GRU", "GRUCell", "RNNBase", "RNNCellBase",
        "rnn_tanh", "rnn_relu", "rnn_tanh_cell", "rnn_relu_cell", "gru", "gru_cell", "lstm",
        "lstm_cell", "_VF", "_VariableFunctions", "_thnn_fused_lstm_cell",
        "_thnn_fused_gru_cell", "mkldnn_rnn_layer", "_cudnn_rnn", "miopen_rnn", "_lstm_mps",
        "quantized_lstm", "quantized_gru", "quantized_lstm_cell", "quantized_gru_cell",
        "quantized_rnn_tanh_cell", "quantized_rnn_relu_cell", "quantizable", "_decomp",
        "decompositions", "one_layer_rnn", "rnn_tanh_input", "gru_impl", "lstm_impl",
    }
)  # fmt: skip
# Names that switch the torch-function tracer off or take it off the stack.
TRACER_EVASION_NAMES = frozenset(
    {
        "DisableTorchFunction", "DisableTorchFunctionSubclass", "_disabled_torch_function_impl",
        "_pop_torch_function_stack", "_push_on_torch_function_stack", "_len_torch_function_stack",
        "_get_function_stack_at", "_get_current_function_mode_stack", "_pop_mode",
        "_pop_mode_temporarily", "_set_torch_function_state", "_set_skip_next_torch_function",
        "_skip_one_hop_torch_function", "_no_torch_function_mode", "TorchFunctionMode",
        "_TorchFunctionModeInfra", "_set_torch_function_mode",
    }
)  # fmt: skip
# Escape names that count wherever they appear: identifiers, attributes, imports, lookups.
ESCAPE_NAMES = frozenset(
    {
        "ctypes", "_ctypes", "cffi", "CDLL", "cdll", "PyDLL", "pydll", "pythonapi", "dlopen",
        "_cdata", "ctypeslib", "importlib", "import_module", "__import__", "inspect", "marshal",
        "pickle", "_pickle", "cPickle", "dill", "cloudpickle", "shelve", "copyreg", "runpy",
        "pkgutil", "zipimport", "subprocess", "multiprocessing", "cpp_extension", "load_inline",
        "__subclasses__", "__globals__", "__builtins__", "__code__", "__closure__", "__dict__",
        "__getattribute__", "__loader__", "__spec__", "__file__", "__bases__", "__base__",
        "__mro__", "__reduce__", "__reduce_ex__", "f_globals", "f_locals", "f_back", "f_builtins",
        "f_code", "tb_frame", "gi_frame", "cr_frame", "co_code", "FunctionType", "CodeType",
        "_getframe", "_current_frames", "meta_path", "path_hooks", "attrgetter", "methodcaller",
        "_C", "_ops", "_refs", "_prims", "_library", "_dynamo", "_inductor", "_imp",
        "_frozen_importlib", "_frozen_importlib_external", "__self__", "__func__", "__wrapped__",
        "__objclass__", "__defaults__", "__kwdefaults__", "cell_contents", "__traceback__",
        "tb_next", "gi_code", "ag_frame", "__getattr__", "get_field", "Formatter",
        "load_library", "PackageImporter", "pydoc", "importfile", "timeit", "doctest",
        "cProfile", "get_type_hints", "ForwardRef", "_import_dotted_name", "_importer",
        "_dot_lookup",
    }
)  # fmt: skip
# Builtins that load or reach code (as plain names); `model.eval()` is an attribute, not these.
ESCAPE_BUILTINS = frozenset(
    {"exec", "eval", "compile", "open", "__import__", "globals", "locals", "vars", "breakpoint"}
)
# Attributes that read files or reach torch's operator registry, whatever they are read on.
ESCAPE_ATTRIBUTES = frozenset(
    {"open", "read_text", "read_bytes", "load", "loads", "ops", "library", "hub", "system",
     "popen", "FileIO"}
)  # fmt: skip
# Modules counted when imported (as names they are too common to flag): gc, ast, builtins, io.
ESCAPE_IMPORTS = frozenset(
    {"gc", "ast", "builtins", "io", "types", "pathlib", "code", "codeop", "imp", "pdb", "bdb",
     "site", "profile", "trace", "modulefinder", "idlelib"}
)  # fmt: skip
_SYS_ESCAPES = frozenset({"modules", "_getframe", "meta_path", "path_hooks", "settrace"})
_LOOKUPS = frozenset({"getattr", "setattr", "hasattr", "delattr"})
_FROM_IMPORTED = ESCAPE_NAMES | ESCAPE_BUILTINS | ESCAPE_ATTRIBUTES  # `from torch import ops`
_AS_NAME = ESCAPE_NAMES | ESCAPE_BUILTINS
_AS_ATTRIBUTE = ESCAPE_NAMES | ESCAPE_ATTRIBUTES
_AS_MODULE = ESCAPE_NAMES | ESCAPE_IMPORTS
_ESCAPE_WORDS = ESCAPE_NAMES | ESCAPE_BUILTINS | ESCAPE_ATTRIBUTES | ESCAPE_IMPORTS | _LOOKUPS
_ANY_ESCAPE = re.compile(
    r"\b(?:"
    + "|".join(re.escape(n) for n in sorted(_ESCAPE_WORDS | {"sys"}, key=len)[::-1])
    + r")\b"
)
_ANY_NAME = re.compile(
    "|".join(re.escape(n) for n in sorted(BUILTIN_RNN_NAMES | TRACER_EVASION_NAMES, key=len)[::-1])
)
_DOTTED = re.compile(r"[A-Za-z_][\w.:]*")


class Statement(Protocol):
    """What the scan needs of an extracted top-level statement."""

    @property
    def node(self) -> ast.stmt: ...

    @property
    def source(self) -> str: ...


@dataclass(frozen=True, kw_only=True)
class Named:
    """The first built-in recurrence, tracer evasion and escape a statement names."""

    builtin: str | None = None
    evasion: str | None = None
    escape: str | None = None


@dataclass(frozen=True, kw_only=True)
class Findings:
    """Per graded function, what the code it reaches names."""

    builtins: dict[str, str] = field(default_factory=dict)  # function -> built-in it reaches
    evasions: dict[str, str] = field(default_factory=dict)  # function -> tracer evasion it names
    escapes: dict[str, str] = field(default_factory=dict)  # function -> escape it names


def scan(
    roots: Mapping[str, int],
    statements: Sequence[Statement],
    reach: Callable[[int], Iterable[int]],
) -> Findings:
    """roots: graded function -> its statement; reach(index): the statements it needs."""
    memo: dict[int, Named] = {}
    builtins: dict[str, str] = {}
    evasions: dict[str, str] = {}
    escapes: dict[str, str] = {}
    for function, root in roots.items():
        for index in reach(root):
            if index not in memo:
                memo[index] = names_in(statements[index])
            named = memo[index]
            if named.builtin and function not in builtins:
                builtins[function] = named.builtin
            if named.evasion and function not in evasions:
                evasions[function] = named.evasion
            if named.escape and function not in escapes:
                escapes[function] = named.escape
    return Findings(builtins=builtins, evasions=evasions, escapes=escapes)


def names_in(statement: Statement) -> Named:
    text = statement.source
    # Names come from the text, unless non-ASCII letters normalise into one (NFKC): then walk.
    if text.isascii() and not _ANY_NAME.search(text) and not _ANY_ESCAPE.search(text):
        return Named()
    builtin = evasion = escape = None
    fixed: set[int] = set()  # getattr names called with a literal attribute name
    for sub in ast.walk(statement.node):
        for name in _names_of(sub):
            if builtin is None and name in BUILTIN_RNN_NAMES:
                builtin = name
            if evasion is None and name in TRACER_EVASION_NAMES:
                evasion = name
        if escape is None:
            escape = _escape_of(sub, fixed)
        if builtin and evasion and escape:
            break
    return Named(builtin=builtin, evasion=evasion, escape=escape)


def _escape_of(node: ast.AST, fixed: set[int]) -> str | None:
    """The escape one node names, if any (walked parents first, so a call precedes its name)."""
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Attribute) and node.func.attr == "modules":
            fixed.add(id(node.func))  # `net.modules()`: a method; `sys.modules` is never called
        return _lookup_escape(node, fixed)
    if isinstance(node, ast.Name):
        if node.id in _LOOKUPS and id(node) not in fixed:
            return f"{node.id} passed around as a value"
        return node.id if node.id in _AS_NAME else None
    if isinstance(node, ast.Attribute):
        if node.attr in _AS_ATTRIBUTE or node.attr in _LOOKUPS:
            return node.attr  # `builtins.getattr` reached as an attribute is getattr all the same
        if node.attr in _SYS_ESCAPES and id(node) not in fixed:
            return f"{_tail(node.value) or '...'}.{node.attr}"  # sys under any name or path
        return None
    if isinstance(node, ast.Import | ast.ImportFrom):
        return _import_escape(node)
    if isinstance(node, ast.MatchClass):
        return next((a for a in node.kwd_attrs if a in _AS_ATTRIBUTE), None)
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 200:
        return next((n for n in _names_of(node) if n in ESCAPE_NAMES), None)
    return None


def _lookup_escape(call: ast.Call, fixed: set[int]) -> str | None:
    """getattr and kin: a literal name is judged as written; a computed one could be anything."""
    func = call.func
    if not isinstance(func, ast.Name) or func.id not in _LOOKUPS or len(call.args) < 2:
        return None
    name = call.args[1]
    if isinstance(name, ast.Constant) and isinstance(name.value, str):
        fixed.add(id(func))
        return name.value if name.value in _AS_ATTRIBUTE else None
    return f"{func.id} with a computed attribute name"


def _import_escape(node: ast.Import | ast.ImportFrom) -> str | None:
    modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    for module in modules:
        parts = module.split(".")
        if hits := [p for p in parts if p in _AS_MODULE]:
            return hits[0]
    for alias in node.names:
        if isinstance(node, ast.ImportFrom) and node.module == "sys" and alias.name in _SYS_ESCAPES:
            return f"sys.{alias.name}"
        if isinstance(node, ast.ImportFrom) and alias.name in _FROM_IMPORTED:
            return alias.name
        if alias.name == "sys" and alias.asname not in (None, "sys"):
            return "sys under another name"  # sys.modules would no longer read as such
    return None


def _tail(node: ast.expr) -> str | None:
    """The last name of a dotted expression: `torch.sys` -> "sys"."""
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None


def _names_of(node: ast.AST) -> list[str]:
    """Identifiers a node names: attributes, names, imports, and name-like string constants
    (getattr(torch, "gru_cell"), torch.ops lookups by "aten::rnn_tanh.input")."""
    if isinstance(node, ast.Attribute):
        return [node.attr]
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.alias):
        return node.name.split(".")
    if isinstance(node, ast.MatchClass):  # `case object(gru_cell=cell)` reads an attribute
        return node.kwd_attrs
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 200:
        value = node.value
        # A capitalised word alone is as likely a label ("RNN") as a lookup: only paths count.
        if _DOTTED.fullmatch(value) and ("." in value or ":" in value or not value[0].isupper()):
            return [part for part in re.split(r"[.:]+", value) if part]
    return []
