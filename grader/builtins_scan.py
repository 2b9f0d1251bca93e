"""Static signals read from the source: built-in recurrences it names, tracer evasion it names.

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
    """The first built-in recurrence and the first tracer evasion a statement names."""

    builtin: str | None = None
    evasion: str | None = None


@dataclass(frozen=True, kw_only=True)
class Findings:
    """Per graded function, what the code it reaches names."""

    builtins: dict[str, str] = field(default_factory=dict)  # function -> built-in it reaches
    evasions: dict[str, str] = field(default_factory=dict)  # function -> tracer evasion it names


def scan(
    roots: Mapping[str, int],
    statements: Sequence[Statement],
    reach: Callable[[int], Iterable[int]],
) -> Findings:
    """roots: graded function -> its statement; reach(index): the statements it needs."""
    memo: dict[int, Named] = {}
    builtins: dict[str, str] = {}
    evasions: dict[str, str] = {}
    for function, root in roots.items():
        for index in reach(root):
            if index not in memo:
                memo[index] = names_in(statements[index])
            named = memo[index]
            if named.builtin and function not in builtins:
                builtins[function] = named.builtin
            if named.evasion and function not in evasions:
                evasions[function] = named.evasion
    return Findings(builtins=builtins, evasions=evasions)


def names_in(statement: Statement) -> Named:
    text = statement.source
    # Names come from the text, unless non-ASCII letters normalise into one (NFKC): then walk.
    if text.isascii() and not _ANY_NAME.search(text):
        return Named()
    builtin = evasion = None
    for sub in ast.walk(statement.node):
        for name in _names_of(sub):
            if builtin is None and name in BUILTIN_RNN_NAMES:
                builtin = name
            if evasion is None and name in TRACER_EVASION_NAMES:
                evasion = name
        if builtin and evasion:
            break
    return Named(builtin=builtin, evasion=evasion)


def _names_of(node: ast.AST) -> list[str]:
    """Identifiers a node names: attributes, names, imports, and name-like string constants
    (getattr(torch, "gru_cell"), torch.ops lookups by "aten::rnn_tanh.input")."""
    if isinstance(node, ast.Attribute):
        return [node.attr]
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.alias):
        return node.name.split(".")
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 200:
        value = node.value
        # A capitalised word alone is as likely a label ("RNN") as a lookup: only paths count.
        if _DOTTED.fullmatch(value) and ("." in value or ":" in value or not value[0].isupper()):
            return [part for part in re.split(r"[.:]+", value) if part]
    return []
