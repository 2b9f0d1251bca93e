"""No value credit when a built-in recurrent kernel computed the result, however the call hides.

The attacks assemble kernel names at run time, so the static scan cannot see them: what stops
them is the sandbox refusing every recurrent kernel at the dispatcher before student code runs.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from fixtures.helpers import by_id, describe
from fixtures.submissions import CORRECT, FUNCTIONS, correct_cells, notebook

from grader.extract import extract, load_notebook
from grader.grading import grade_bytes
from grader.results import GradeResult
from grader.sandbox import kernels
from grader.sandbox.client import Sandbox

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's walls are Linux's")

# Names put together at run time, out of the static scan's sight.
_HIDE = """\
def _k(*parts):
    return "".join(parts)

"""


def _forward(step: str, *, fused: bool = False) -> str:
    """A loop over time whose step is `step` (one statement setting h from x_t and h)."""
    name = "rnn_forward_fused" if fused else "rnn_forward"
    body = textwrap.indent(textwrap.dedent(step), " " * 8)
    return (
        _HIDE + f"def {name}(x, h0, W_xh, W_hh, b_h):\n"
        "    h = h0.to(dtype=x.dtype)\n    states = []\n    for t in range(x.shape[1]):\n"
        "        x_t = x[:, t]\n" + body + "        states.append(h)\n"
        "    return torch.stack(states, dim=1), h\n"
    )


_CELL = 'getattr(torch, _k("rnn_", "tanh_cell"))'
_CELL_ARGS = "(x_t, h, W_xh.T.contiguous(), W_hh.T.contiguous(), b_h, torch.zeros_like(b_h))"
_GRU = 'getattr(torch, _k("gr", "u_cell"))'


def _gru(lookup: str = _GRU, within: str = "") -> str:
    """A GRU cell with pinned gates as the step: with z = 0 and r = 1, h' = (1 - z) n + z h is
    exactly tanh(x W_xh + h W_hh + b_h). `within` is a with-statement header around the call."""
    call = f"h = {lookup}(x_t, h, w_ih, w_hh, b_ih, torch.zeros_like(b_ih))\n"
    return (
        "H = W_hh.shape[0]\n"
        "big = torch.full((H,), 100.0, dtype=x.dtype)\n"
        "w_ih = torch.cat([torch.zeros_like(W_xh.T), torch.zeros_like(W_xh.T), W_xh.T])\n"
        "w_hh = torch.cat([torch.zeros_like(W_hh), torch.zeros_like(W_hh), W_hh.T])\n"
        "b_ih = torch.cat([big, -big, b_h])\n" + (f"{within}\n    {call}" if within else call)
    )


# With i = 1 and c = 0 the LSTM's cell state is tanh(x W_xh + h W_hh + b_h).
_LSTM_PINNED = """\
H = W_hh.shape[0]
zero_x, zero_h = torch.zeros_like(W_xh.T), torch.zeros_like(W_hh.T)
big = torch.full((H,), 100.0, dtype=x.dtype)
w_ih = torch.cat([zero_x, zero_x, W_xh.T, zero_x])
w_hh = torch.cat([zero_h, zero_h, W_hh.T, zero_h])
b = torch.cat([big, -big, b_h, big])
_, h = getattr(torch, _k("ls", "tm_cell"))(x_t, (h, torch.zeros_like(h)), w_ih, w_hh, b, 0 * b)
"""
_SEQUENCE_OP = (
    _HIDE
    + """\
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    weights = [W_xh.T.contiguous(), W_hh.T.contiguous(), b_h, torch.zeros_like(b_h)]
    op = getattr(getattr(torch.ops.aten, _k("rnn_", "tanh")), "input")
    output, h_n = op(x, h0.unsqueeze(0).to(x.dtype), weights, True, 1, 0.0, False, False, True)
    return output, h_n[0]
"""
)
_UNDO = """\
import gc
for _thing in gc.get_objects():
    for _undo in ("reset", "_destroy"):
        if type(_thing).__name__ in ("_DispatchModule", "Library"):
            try:
                getattr(_thing, _undo)()
            except Exception:
                pass
_lib = torch.library.Library("aten", "IMPL")
_lib.impl(_k("gr", "u_cell"), torch.library.fallthrough_kernel, "CompositeImplicitAutograd")
_lib._destroy()
_own = torch.library.Library("aten", "IMPL")
for _key in ("CPU", "CompositeImplicitAutograd", "Autograd"):
    _own.impl(_k("gr", "u_cell"), lambda *a, **k: NotImplemented, _key)
_own._destroy()
"""

# Route -> the rnn_forward that takes it; each one computes the right answer without the poison.
ROUTES = {
    "torch-cell-by-getattr": _forward(_gru()),
    "lstm-cell-pinned-gates": _forward(_LSTM_PINNED),
    "torch-VF": _forward(_gru('getattr(getattr(torch, _k("_", "VF")), _k("gr", "u_cell"))')),
    "variable-functions": _forward(
        _gru('getattr(getattr(torch._C, _k("_Variable", "Functions")), _k("gr", "u_cell"))')
    ),
    "ops-aten-overload": _forward(_gru('getattr(torch.ops.aten, _k("gr", "u_cell")).default')),
    "ops-aten-decompose": _forward(
        f'h = getattr(torch.ops.aten, _k("rnn_", "tanh_cell")).default.decompose{_CELL_ARGS}\n'
    ),
    "sequence-overload": _SEQUENCE_OP,
    "nn-cell-module": _forward(
        _gru("cell")
        .replace(
            "h = cell",
            "cell = getattr(nn, _k('GRU', 'Cell'))(W_xh.shape[0], H, dtype=x.dtype)\n"
            "with torch.no_grad():\n"
            "    cell.weight_ih.copy_(w_ih); cell.weight_hh.copy_(w_hh)\n"
            "    cell.bias_ih.copy_(b_ih); cell.bias_hh.zero_()\n"
            "h = cell",
        )
        .replace("(x_t, h, w_ih, w_hh, b_ih, torch.zeros_like(b_ih))", "(x_t, h).detach()")
    ),
    "torch-function-disabled": _forward(
        f'with getattr(torch._C, _k("Disable", "TorchFunction"))():\n    h = {_CELL}{_CELL_ARGS}\n'
    ),
    "below-autograd-inference": _forward(
        _gru(within="with torch.inference_mode(), torch._C._AutoDispatchBelowAutograd():")
    ),
    "computed-kernel": _forward(
        "cpu = torch._C.DispatchKey.CPU\n"
        'op = _k("aten::rnn_", "tanh_cell")\n'
        "k = torch._C._dispatch_get_computed_kernel_for_dispatch_key(op, cpu)\n"
        f"h = k.call_boxed(torch._C.DispatchKeySet(torch._C.DispatchKey.CPU), *{_CELL_ARGS})\n"
    ),
    "python-decomposition": _forward(
        'd = getattr(getattr(torch, _k("_dec", "omp")), _k("decomp", "ositions"))\n'
        'h = getattr(d, _k("gr", "u_cell"))(x_t, h, torch.cat([0 * W_xh.T, 0 * W_xh.T, W_xh.T]), '
        "torch.cat([100 + 0 * b_h, -100 + 0 * b_h, b_h]), "
        "torch.cat([0 * W_hh.T, 0 * W_hh.T, W_hh.T]), torch.cat([0 * b_h, 0 * b_h, 0 * b_h]))\n"
    ),
}


@pytest.fixture(scope="module")
def graded() -> dict[str, GradeResult]:
    return {}


def _grade(
    name: str, cells: list[str], sandbox: Sandbox, cache: dict[str, GradeResult]
) -> GradeResult:
    if name not in cache:
        cache[name] = grade_bytes(notebook(cells), name=f"{name}.ipynb", sandbox=sandbox)
    return cache[name]


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_hidden_builtin_kernel_earns_no_value_credit(
    route: str, sandbox: Sandbox, graded: dict[str, GradeResult]
) -> None:
    cells = correct_cells(rnn_forward=ROUTES[route])
    assert "rnn_forward" not in extract(load_notebook(notebook(cells)), FUNCTIONS).builtin_rnn_users
    result = _grade(route, cells, sandbox, graded)
    values = by_id(result)["rnn_forward.values"]
    assert values.points == 0, describe(result)
    assert "built-in RNN" in values.message, describe(result)
    assert by_id(result)["to_nn_rnn.parity"].points == 20, describe(result)


@pytest.mark.parametrize("route", ["torch-function-disabled", "sequence-overload"])
def test_the_refusal_names_the_kernel_the_code_reached(
    route: str, sandbox: Sandbox, graded: dict[str, GradeResult]
) -> None:
    result = _grade(route, correct_cells(rnn_forward=ROUTES[route]), sandbox, graded)
    assert "aten::rnn_tanh" in by_id(result)["rnn_forward.values"].message, describe(result)


def test_undoing_the_refusal_from_student_code_fails(
    sandbox: Sandbox, graded: dict[str, GradeResult]
) -> None:
    cells = correct_cells(rnn_forward=_forward(_gru()))
    cells.insert(1, _HIDE + _UNDO)
    result = _grade("undo", cells, sandbox, graded)
    assert not result.problems, describe(result)  # the undoing code itself ran without error
    assert by_id(result)["rnn_forward.values"].points == 0, describe(result)


def test_a_decoy_product_beside_a_hidden_builtin_earns_no_fused_points(
    sandbox: Sandbox, graded: dict[str, GradeResult]
) -> None:
    decoy = (
        "decoy = torch.cat([x_t, h], 1) @ torch.cat([W_xh, W_hh], 0)\n"
        f'with getattr(torch._C, _k("Disable", "TorchFunction"))():\n    h = {_CELL}{_CELL_ARGS}\n'
    )
    result = _grade(
        "decoy", correct_cells(rnn_forward_fused=_forward(decoy, fused=True)), sandbox, graded
    )
    checks = by_id(result)
    assert checks["rnn_forward_fused.values"].points == 0, describe(result)
    assert checks["rnn_forward_fused.structure"].points == 0, describe(result)


def test_a_tampered_tracer_earns_no_fused_structure_points(
    sandbox: Sandbox, graded: dict[str, GradeResult]
) -> None:
    # Two products per step (the wrong structure), with the recorder's hook silenced mid-call.
    tamper = (
        'if getattr(torch._C, _k("_len_torch", "_function_stack"))():\n'
        '    mode = getattr(torch._C, _k("_get_function", "_stack_at"))(0)\n'
        '    setattr(mode, _k("_rec", "ord"), lambda *a: None)\n'
        "torch.cat([x_t, h], 1) @ torch.cat([W_xh, W_hh], 0)\n"
        "h = torch.tanh(x_t @ W_xh + h @ W_hh + b_h)\n"
    )
    result = _grade(
        "tamper", correct_cells(rnn_forward_fused=_forward(tamper, fused=True)), sandbox, graded
    )
    checks = by_id(result)
    assert checks["rnn_forward_fused.values"].points == 0, describe(result)  # torch._C, getattr
    assert checks["rnn_forward_fused.structure"].points == 0, describe(result)
    assert "tamper" in checks["rnn_forward_fused.structure"].message, describe(result)


def test_hiding_calls_from_the_tracer_by_name_earns_no_fused_structure_points(
    sandbox: Sandbox,
) -> None:
    hidden = (
        "torch.cat([x_t, h], 1) @ torch.cat([W_xh, W_hh], 0)\n"
        "with torch._C.DisableTorchFunction():\n"
        "    h = torch.tanh(x_t @ W_xh + h @ W_hh + b_h)\n"
    )
    result = grade_bytes(
        notebook(correct_cells(rnn_forward_fused=_forward(hidden, fused=True))), sandbox=sandbox
    )
    structure = by_id(result)["rnn_forward_fused.structure"]
    assert structure.points == 0 and "DisableTorchFunction" in structure.message, describe(result)
    values = by_id(result)["rnn_forward_fused.values"]
    assert values.points == 0 and "torch internals" in values.message, describe(result)


def test_a_builtin_named_in_a_string_is_found_and_a_docstring_is_not() -> None:
    forward = 'def rnn_forward(x, h0, W_xh, W_hh, b_h):\n    cell = getattr(torch, "gru_cell")\n'
    extracted = extract(load_notebook(notebook(correct_cells(rnn_forward=forward))), FUNCTIONS)
    assert extracted.builtin_rnn_names.get("rnn_forward") == "gru_cell"
    documented = CORRECT["rnn_forward"].replace(
        "):\n", '):\n    """Same as nn.RNN, written out: "RNN" by hand."""\n', 1
    )
    extracted = extract(load_notebook(notebook(correct_cells(rnn_forward=documented))), FUNCTIONS)
    assert "rnn_forward" not in extracted.builtin_rnn_users


def test_to_nn_rnn_may_build_but_not_run_its_module(sandbox: Sandbox) -> None:
    runs_it = CORRECT["to_nn_rnn"].replace(
        "    return rnn\n",
        "    rnn(torch.zeros(1, 1, W_xh.shape[0], dtype=W_xh.dtype))\n    return rnn\n",
    )
    result = grade_bytes(notebook(correct_cells(to_nn_rnn=runs_it)), sandbox=sandbox)
    module = by_id(result)["to_nn_rnn.module"]
    text = f"{module.message} {module.details.get('hint', '')}"
    assert module.points == 0 and "not run it" in text, describe(result)
    output, _ = torch.nn.RNN(1, 2, batch_first=True)(torch.ones(1, 3, 1))
    assert output.shape == (1, 3, 2)  # the grader's own process is never refused its kernels


_EVERY_ROUTE = """
import gc, sys, warnings
import torch
sys.path.insert(0, sys.argv[1])
from grader.sandbox import kernels
warnings.simplefilter("ignore")
def libraries():
    return [o for o in gc.get_objects() if type(o).__name__ in ("_DispatchModule", "Library")]
before = len(libraries())
assert kernels.disable() == []
hunted = len(libraries()) - before  # the refusal's handles are out of the collector's sight
x, h = torch.ones(2, 3, 1), torch.zeros(1, 2, 4)
rnn = torch.nn.RNN(1, 4, batch_first=True)
cell_args = (x[:, 0], h[0], torch.ones(4, 1), torch.ones(4, 4))
weights = list(rnn._flat_weights)
routes = {
    "module": lambda: rnn(x, h),
    "float64 module": lambda: rnn.double()(x.double(), h.double()),
    "gru module": lambda: torch.nn.GRU(1, 4)(x),
    "lstm cell module": lambda: torch.nn.LSTMCell(1, 4)(x[:, 0]),
    "no_grad": lambda: (torch.no_grad().__enter__(), rnn.float()(x, h)),
    "meta": lambda: torch.rnn_tanh_cell(*(a.to("meta") for a in cell_args)),
    "scripted": lambda: torch.jit.trace(torch.nn.RNN(1, 4), (x[0], h[:, 0])),
    "python dispatcher": lambda: (torch._C._EnablePythonDispatcher().__enter__(), rnn(x, h)),
    "vmap": lambda: torch.vmap(lambda a: torch.rnn_tanh_cell(a, *cell_args[1:]))(x.transpose(0, 1)),
    "call boxed": lambda: torch._C._dispatch_call_boxed(
        torch._C._dispatch_find_schema_or_throw("aten::rnn_tanh_cell", ""), *cell_args),
    "decompose": lambda: torch.ops.aten.rnn_tanh.input.decompose(
        x, h, weights, True, 1, 0.0, False, False, True),
    "autograd excluded": lambda: (torch._C._ExcludeDispatchKeyGuard(
        torch._C.DispatchKeySet(torch._C.DispatchKey.AutogradCPU)).__enter__(), rnn(x, h)),
    "autocast": lambda: (torch.autocast("cpu").__enter__(), rnn(x, h)),
    "quantizable lstm": lambda: torch.ao.nn.quantizable.LSTM(1, 4)(x),
    "dynamic quantized": lambda: torch.ao.nn.quantized.dynamic.LSTM(1, 4)(x),
    "mkldnn layer": lambda: torch.mkldnn_rnn_layer(x, torch.ones(4, 1), torch.ones(4, 4),
        torch.ones(4), torch.ones(4), h[0], h[0], False, [], 1, 4, 1, True, False, True, False),
}
ran = []
for name, route in routes.items():
    try:
        route()
        ran.append(name)
    except Exception as exc:
        if kernels.MESSAGE not in str(exc):
            ran.append(f"{name}: {exc}")
functions = [o for o in gc.get_objects() if type(o).__name__ == "function"]
refusers = [o for o in functions if o.__qualname__.endswith("refuse")]
print(ran, hunted, len(refusers))
"""


@pytest.mark.slow
def test_every_route_to_a_recurrent_kernel_is_refused_after_disable() -> None:
    root = str(__import__("pathlib").Path(__file__).resolve().parents[1])
    done = subprocess.run(
        [sys.executable, "-c", _EVERY_ROUTE, root], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[-2] == "[] 0 0", done.stdout


def test_the_refusal_is_recognised_even_when_its_text_is_withheld() -> None:
    from grader.load import SOLUTIONS, load_spec
    from grader.misconceptions import error_mistake, quotable

    refusal = f"RuntimeError: {kernels.MESSAGE}: aten::gru_cell"
    assert quotable(refusal) == f"RuntimeError: {kernels.MESSAGE}"
    for name in ("rnn_forward", "lstm_forward"):
        assert error_mistake(refusal, load_spec(SOLUTIONS / name)) == "builtin-rnn"


# Code that reaches past torch's Python API (red-team a2, a14): names the static scan refuses.
_CTYPES_FORWARD = CORRECT["rnn_forward"].replace(
    "):\n", "):\n    assert ctypes.sizeof(ctypes.c_void_p) > 0\n", 1
)
# torch's own Python RNN, cut out of its decomposition source and run (red-team a14).
_DECOMPOSITION_SOURCE = """\
import os, ast


def _torch_layer():
    path = os.path.join(os.path.dirname(torch.__file__), "_de" + "comp", "de" + "compositions.py")
    tree = ast.parse(open(path).read())
    want = {"r" + "nn_cell", "one_layer_" + "r" + "nn"}
    body = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in want]
    namespace = {"torch": torch, "F": torch.nn.functional}
    exec(compile(ast.Module(body=body, type_ignores=[]), "torch-source", "exec"), namespace)
    return namespace["one_layer_" + "r" + "nn"], namespace["r" + "nn_cell"](torch.tanh)


def rnn_forward(x, h0, W_xh, W_hh, b_h):
    layer, cell = _torch_layer()
    weights = [W_xh.t(), W_hh.t(), b_h, torch.zeros_like(b_h)]
    out, h = layer(x.transpose(0, 1), h0.to(x.dtype), weights, True, cell)
    return out.transpose(0, 1), h
"""
ESCAPES: dict[str, tuple[str, str | None]] = {
    "ctypes": ("import ctypes\n\n\n" + _CTYPES_FORWARD, "ctypes"),
    "decomposition-source": (_DECOMPOSITION_SOURCE, None),  # ast, __file__, open, exec...
    "dunder-import": (
        CORRECT["rnn_forward"].replace("):\n", '):\n    __import__("ct" + "ypes")\n', 1),
        "__import__",
    ),
    "computed-getattr": (
        CORRECT["rnn_forward"].replace("):\n", '):\n    getattr(torch, "_" + "C")\n', 1),
        "getattr with a computed attribute name",
    ),
    "sys-modules": (
        "import sys\n\n\n"
        + CORRECT["rnn_forward"].replace("):\n", '):\n    sys.modules.get("torch")\n', 1),
        "sys.modules",
    ),
}


@pytest.mark.parametrize("route", sorted(ESCAPES))
def test_code_that_reaches_past_torch_earns_no_value_credit(
    route: str, sandbox: Sandbox, graded: dict[str, GradeResult]
) -> None:
    forward, named = ESCAPES[route]
    cells = correct_cells(rnn_forward=forward)
    escape = extract(load_notebook(notebook(cells)), FUNCTIONS).escapes.get("rnn_forward")
    assert escape is not None and (named is None or escape == named)
    result = _grade(f"escape-{route}", cells, sandbox, graded)
    values = by_id(result)["rnn_forward.values"]
    assert values.points == 0 and escape in values.message, describe(result)
    assert by_id(result)["rnn_forward_fused.values"].points == 15, describe(result)


def test_honest_code_names_no_escape() -> None:
    honest = CORRECT["rnn_forward"].replace(
        "):\n", '):\n    act = getattr(torch, "tanh")\n    model = nn.Linear(1, 1).eval()\n', 1
    )
    extracted = extract(load_notebook(notebook(correct_cells(rnn_forward=honest))), FUNCTIONS)
    assert extracted.escapes == {}


_TORCH_CTYPES = """\
def init_hidden(batch_size, hidden_size):
    held = [m for m in (torch, torch._ops) if m.__dict__.get("ct" + "ypes") is not None]
    return torch.full((batch_size, hidden_size), float(len(held)))  # zeros only if none holds it
"""


def test_torch_holds_no_ctypes_in_the_sandbox(sandbox: Sandbox) -> None:
    result = grade_bytes(notebook(correct_cells(init_hidden=_TORCH_CTYPES)), sandbox=sandbox)
    checks = [c for c in result.checks if c.function == "init_hidden"]
    assert checks and all(c.points == c.max_points for c in checks), describe(result)


_FUSED_LOOP = """\
def rnn_forward_fused(x, h0, W_xh, W_hh, b_h):
    W = torch.cat([W_xh, W_hh], 0)
    h = h0.to(device=x.device, dtype=x.dtype)
    states = []
    for t in range(x.shape[1]):
        xt = x[:, t]
        decoy = torch.cat([xt, h], 1) @ W
        h = torch.tanh({step} + b_h)
        states.append(h)
    return torch.stack(states, dim=1), h
"""
# A discarded product on the concatenation beside the real, unfused work (red-team a1).
DECOYS = {
    "linalg-matmul": "torch.linalg.matmul(xt, W_xh) + torch.linalg.matmul(h, W_hh)",
    "elementwise": "(xt[:, :, None] * W_xh).sum(1) + (h[:, :, None] * W_hh).sum(1)",
}


@pytest.mark.parametrize("route", sorted(DECOYS))
def test_a_discarded_product_beside_unfused_work_earns_no_structure_points(
    route: str, sandbox: Sandbox, graded: dict[str, GradeResult]
) -> None:
    fused = _FUSED_LOOP.format(step=DECOYS[route])
    result = _grade(f"decoy-{route}", correct_cells(rnn_forward_fused=fused), sandbox, graded)
    checks = by_id(result)
    assert checks["rnn_forward_fused.values"].points == 15, describe(result)
    assert checks["rnn_forward_fused.structure"].points == 0, describe(result)


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("match torch:\n        case object(_C=c): pass", "_C"),
        ("match rnn_forward:\n        case object(__globals__=g): pass", "__globals__"),
        ("len.__self__", "__self__"),
        ("functools.reduce(getattr, ['_', 'C'], torch)", "getattr passed around as a value"),
        ("torch.sys.modules", "sys.modules"),
        ("string.Formatter().get_field('0._C', [torch], {})", "get_field"),
    ],
)
def test_escapes_in_patterns_values_and_borrowed_modules_are_found(line: str, named: str) -> None:
    forward = CORRECT["rnn_forward"].replace("):\n", f"):\n    {line}\n", 1)
    extracted = extract(load_notebook(notebook(correct_cells(rnn_forward=forward))), FUNCTIONS)
    assert extracted.escapes.get("rnn_forward") == named


def test_a_builtin_read_by_a_class_pattern_is_found() -> None:
    forward = "def rnn_forward(x, h0, W_xh, W_hh, b_h):\n    match torch:\n" \
              "        case object(gru_cell=cell): return cell\n"  # fmt: skip
    extracted = extract(load_notebook(notebook(correct_cells(rnn_forward=forward))), FUNCTIONS)
    assert extracted.builtin_rnn_names.get("rnn_forward") == "gru_cell"
