"""The LSTM fixtures say what they claim, checked with plain torch (no grader involved).

Each check id of DESIGN.md §7 is judged here by a small stand-in written from the contract; correct
styles must pass every one, and each known mistake must lose exactly the ids it lists.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from fixtures.lstm_submissions import (
    LSTM_BUILTINS,
    LSTM_CHECK_IDS,
    LSTM_CHECKS,
    LSTM_CORRECT,
    LSTM_FUNCTIONS,
    LSTM_GOLDEN_C_N,
    LSTM_GOLDEN_H,
    LSTM_MISTAKES,
    LSTM_SOLUTION_PATH,
    LSTM_STYLES,
    lstm_correct_cells,
)
from torch import nn
from torch.overrides import TorchFunctionMode

Namespace = dict[str, Any]
TOLERANCE = {torch.float32: (1e-4, 1e-5), torch.float64: (1e-7, 1e-9)}  # (rtol, atol)


@dataclass(frozen=True, kw_only=True)
class Case:
    """One forward case: inputs, initial states and weights, all in one dtype."""

    x: torch.Tensor  # (batch, seq, input)
    h0: torch.Tensor  # (batch, hidden)
    c0: torch.Tensor  # (batch, hidden)
    W_xh: torch.Tensor  # (input, 4 * hidden), gate blocks i, f, g, o
    W_hh: torch.Tensor  # (hidden, 4 * hidden)
    b: torch.Tensor  # (4 * hidden,)

    def args(self) -> tuple[torch.Tensor, ...]:
        """Fresh copies, so that a function writing into its arguments harms only its own call."""
        return tuple(t.clone() for t in (self.x, self.h0, self.c0, self.W_xh, self.W_hh, self.b))

    def weights(self) -> tuple[torch.Tensor, ...]:
        return self.args()[3:]


def seeded_case(seed: int, batch: int, seq: int, inputs: int, hidden: int, dtype: Any) -> Case:
    """Random inputs with non-zero states and bias (zeros hide bias and initial-state bugs)."""
    gen = torch.Generator().manual_seed(seed)

    def draw(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return (scale * torch.randn(*shape, generator=gen, dtype=torch.float64)).to(dtype)

    return Case(
        x=draw(batch, seq, inputs),
        h0=draw(batch, hidden, scale=0.5),
        c0=draw(batch, hidden, scale=0.5),
        W_xh=draw(inputs, 4 * hidden, scale=0.7),
        W_hh=draw(hidden, 4 * hidden, scale=0.7),
        b=draw(4 * hidden, scale=0.5),
    )


def course_case() -> Case:
    """The notebook's example: seed 0, x = 1..5 as (1, 5, 1), hidden 4, zero states and bias."""
    torch.manual_seed(0)
    W_xh, W_hh = torch.randn(1, 16), torch.randn(4, 16)
    zeros = torch.zeros(1, 4)
    x = torch.arange(1.0, 6.0).reshape(1, 5, 1)
    return Case(x=x, h0=zeros, c0=zeros.clone(), W_xh=W_xh, W_hh=W_hh, b=torch.zeros(16))


SHAPES = [  # (batch, seq, input, hidden): the hidden set's ranges, ends included
    (1, 1, 1, 1),
    (2, 3, 4, 1),  # a square W_xh: a transposed layout still fits
    (3, 12, 5, 8),
    (4, 7, 2, 3),
    (1, 5, 3, 6),
    (4, 2, 1, 5),
]
CASES = [course_case()] + [
    seeded_case(seed, *shape, dtype)
    for seed, shape in enumerate(SHAPES)
    for dtype in (torch.float32, torch.float64)
]


# --------------------------------------------------------------------------------------------
# The reference: written from the equations, gate by gate, in float64.


def reference(case: Case) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(output, h_n, c_n) in float64."""
    x, h, c, W_xh, W_hh, b = (t.to(torch.float64) for t in case.args())
    H = W_hh.shape[0]
    steps = []
    for t in range(x.shape[1]):
        z = x[:, t] @ W_xh + h @ W_hh + b
        gate = {name: z[:, k * H : (k + 1) * H] for k, name in enumerate("ifgo")}
        c = torch.sigmoid(gate["f"]) * c + torch.sigmoid(gate["i"]) * torch.tanh(gate["g"])
        h = torch.sigmoid(gate["o"]) * torch.tanh(c)
        steps.append(h)
    return torch.stack(steps, dim=1), h, c


def design_lstm(params: dict[str, torch.Tensor]) -> nn.LSTM | None:
    """A float64 nn.LSTM as DESIGN §7 configures it, holding `params`; None if a shape misfits."""
    inputs, hidden = params["weight_ih_l0"].shape[1], params["weight_hh_l0"].shape[1]
    lstm = nn.LSTM(inputs, hidden, batch_first=True, dtype=torch.float64)
    own = dict(lstm.named_parameters())
    if set(params) != set(own) or any(params[n].shape != own[n].shape for n in own):
        return None
    with torch.no_grad():
        for name, param in own.items():
            param.copy_(params[name].detach().to(torch.float64))
    return lstm


def run_design_lstm(lstm: nn.LSTM, case: Case) -> tuple[torch.Tensor, ...]:
    x, h0, c0 = (t.to(torch.float64) for t in case.args()[:3])
    with torch.no_grad():
        output, (h_n, c_n) = lstm(x, (h0.unsqueeze(0), c0.unsqueeze(0)))
    return output, h_n[0], c_n[0]


def design_params(case: Case) -> dict[str, torch.Tensor]:
    W_xh, W_hh, b = case.weights()
    return {
        "weight_ih_l0": W_xh.T,
        "weight_hh_l0": W_hh.T,
        "bias_ih_l0": b,
        "bias_hh_l0": torch.zeros_like(b),
    }


def close(got: torch.Tensor, want: torch.Tensor, dtype: torch.dtype) -> bool:
    rtol, atol = TOLERANCE[dtype]
    return got.shape == want.shape and torch.allclose(
        got.detach().to(torch.float64), want, rtol=rtol, atol=atol
    )


# --------------------------------------------------------------------------------------------
# Stand-ins for the checks: each returns True when the check would give full points.


def load(cells: list[str]) -> Namespace:
    """Run a submission's cells in one namespace, as a notebook kernel would."""
    namespace: Namespace = {"__name__": "submission"}
    for cell in cells:
        exec(compile(cell, "<cell>", "exec"), namespace)
    return namespace


def _all_cases(judge: Callable[[Namespace, Case], bool]) -> Callable[[Namespace], bool]:
    return lambda ns: all(judge(ns, case) for case in CASES)


STATE_SIZES = [(1, 1), (3, 4), (4, 8), (2, 5)]
WEIGHT_SIZES = [(1, 4), (5, 8), (3, 1), (2, 6)]


def _state_pair(ns: Namespace, batch: int, hidden: int) -> tuple[torch.Tensor, ...] | None:
    pair = ns["init_state"](batch, hidden)
    if not isinstance(pair, tuple) or len(pair) != 2:
        return None
    if not all(type(t) is torch.Tensor and t.shape == (batch, hidden) for t in pair):
        return None
    return pair


def init_state_shape(ns: Namespace) -> bool:
    return all(_state_pair(ns, *size) is not None for size in STATE_SIZES)


def init_state_values(ns: Namespace) -> bool:
    pairs = [_state_pair(ns, *size) for size in STATE_SIZES]
    return all(
        pair is not None and all(t.is_floating_point() and not t.any() for t in pair)
        for pair in pairs
    )


def _seeded_weights(inputs: int, hidden: int, seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    drawn = [torch.randn(inputs, 4 * hidden, generator=gen)]
    drawn.append(torch.randn(hidden, 4 * hidden, generator=gen))
    return [*drawn, torch.zeros(4 * hidden)]


def init_weights_shape(ns: Namespace) -> bool:
    for inputs, hidden in WEIGHT_SIZES:
        got = ns["init_weights"](inputs, hidden)
        want = _seeded_weights(inputs, hidden, 0)
        if len(got) != 3 or [t.shape for t in got] != [t.shape for t in want]:
            return False
    return True


def init_weights_values(ns: Namespace) -> bool:
    for inputs, hidden in WEIGHT_SIZES:
        for seed in (0, 1, 7):
            got = ns["init_weights"](inputs, hidden, seed=seed)
            want = _seeded_weights(inputs, hidden, seed)
            if len(got) != 3 or not all(map(torch.equal, got, want)):
                return False
    return True


def _forward(ns: Namespace, name: str, case: Case) -> tuple[Any, Any, Any, bool]:
    """(output, h_n, c_n, whether the call left its arguments as they were)."""
    args = case.args()
    kept = tuple(t.clone() for t in args)
    output, (h_n, c_n) = ns[name](*args)
    return output, h_n, c_n, all(map(torch.equal, args, kept))


def forward_shape(ns: Namespace, case: Case) -> bool:
    output, h_n, c_n, _ = _forward(ns, "lstm_forward", case)
    batch, seq = case.x.shape[:2]
    hidden = case.h0.shape[1]
    return bool(output.shape == (batch, seq, hidden) and h_n.shape == c_n.shape == (batch, hidden))


def _values(name: str) -> Callable[[Namespace, Case], bool]:
    def judge(ns: Namespace, case: Case) -> bool:
        output, h_n, c_n, untouched = _forward(ns, name, case)
        results = (output, h_n, c_n)
        if not untouched or any(type(t) is not torch.Tensor for t in results):
            return False
        if any(t.dtype != case.x.dtype for t in results):
            return False
        want, want_h, want_c = reference(case)
        dtype = case.x.dtype
        if output.dim() == 3 and output.shape[1] == want.shape[1] + 1:  # h0 first: line up
            output = output[:, 1:] if close(output[:, 0], case.h0.double(), dtype) else output
        return (
            close(output, want, dtype) and close(h_n, want_h, dtype) and close(c_n, want_c, dtype)
        )

    return judge


class _Products(TorchFunctionMode):
    """Counts the matrix products a call makes (torch-level calls, not their internals)."""

    NAMES = frozenset(
        {"matmul", "__matmul__", "__rmatmul__", "mm", "addmm", "bmm", "baddbmm", "einsum"}
        | {"linear", "mv", "addmv", "tensordot", "inner", "dot", "chain_matmul", "multi_dot"}
    )

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.count += getattr(func, "__name__", "") in self.NAMES
        return func(*args, **(kwargs or {}))


def fused_structure(ns: Namespace, case: Case) -> bool:
    products = _Products()
    with products:
        ns["lstm_forward_fused"](*case.args())
    return products.count == int(case.x.shape[1])


_WEIGHTS = ("weight_ih_l0", "weight_hh_l0")


def module_config(ns: Namespace, case: Case) -> bool:
    W_xh, W_hh, b = case.weights()
    lstm = ns["to_nn_lstm"](W_xh, W_hh, b)
    if type(lstm) is not nn.LSTM:
        return False
    inputs, hidden = W_xh.shape[0], W_hh.shape[0]
    layout = lstm.num_layers == 1 and lstm.batch_first and lstm.bias
    layout = layout and not lstm.bidirectional and lstm.proj_size == 0
    sizes = lstm.input_size == inputs and lstm.hidden_size == hidden
    params = dict(lstm.named_parameters())
    want = {name: t.shape for name, t in design_params(case).items()}
    shapes = {name: p.shape for name, p in params.items()} == want
    dtypes = all(p.dtype == W_xh.dtype for p in params.values())
    return bool(layout and sizes and shapes and dtypes)


def module_parity(ns: Namespace, case: Case) -> bool:
    """A fresh, correctly configured nn.LSTM with the returned parameters (or with the weights
    transposed back, which the module check charges) reproduces the reference."""
    lstm = ns["to_nn_lstm"](*case.weights())
    params = {name: p.detach() for name, p in lstm.named_parameters()}
    loosest = max((case.x.dtype, *(p.dtype for p in params.values())), key=lambda d: TOLERANCE[d])
    want = reference(case)
    for candidate in (params, {**params, **{n: params[n].T for n in _WEIGHTS}}):
        rebuilt = design_lstm(candidate)
        if rebuilt is not None and all(
            close(got, w, loosest)
            for got, w in zip(run_design_lstm(rebuilt, case), want, strict=True)
        ):
            return True
    return False


JUDGES: dict[str, Callable[[Namespace], bool]] = {
    "init_state.shape": init_state_shape,
    "init_state.values": init_state_values,
    "init_weights.shape": init_weights_shape,
    "init_weights.values": init_weights_values,
    "lstm_forward.shape": _all_cases(forward_shape),
    "lstm_forward.values": _all_cases(_values("lstm_forward")),
    "lstm_forward_fused.values": _all_cases(_values("lstm_forward_fused")),
    "lstm_forward_fused.structure": _all_cases(fused_structure),
    "to_nn_lstm.module": _all_cases(module_config),
    "to_nn_lstm.parity": _all_cases(module_parity),
}


def _passes(judge: Callable[[Namespace], bool], ns: Namespace) -> bool:
    try:
        return judge(ns)
    except Exception:  # a crash scores like a wrong answer here
        return False


def losses(cells: list[str], *, of: str = "") -> frozenset[str]:
    """The check ids (of one function, or all) that would not get full points."""
    ns = load(cells)
    judges = {check: judge for check, judge in JUDGES.items() if check.startswith(of)}
    return frozenset(check for check, judge in judges.items() if not _passes(judge, ns))


# --------------------------------------------------------------------------------------------
# The contract and the reference.


def test_the_checks_are_designs_ten_ids_worth_100_points() -> None:
    assert set(JUDGES) == LSTM_CHECK_IDS
    assert sum(LSTM_CHECKS.values()) == 100
    assert {check.split(".")[0] for check in LSTM_CHECK_IDS} == set(LSTM_FUNCTIONS)


def test_the_cases_cover_the_hidden_sets_ranges() -> None:
    dims = [(*c.x.shape, c.h0.shape[1]) for c in CASES]
    for axis, (low, high) in enumerate([(1, 4), (1, 12), (1, 5), (1, 8)]):
        assert {low, high} <= {d[axis] for d in dims}
    assert {c.x.dtype for c in CASES} == {torch.float32, torch.float64}
    assert all(c.h0.any() and c.c0.any() and c.b.any() for c in CASES[1:])


@pytest.mark.parametrize("index", range(len(CASES)))
def test_the_reference_is_nn_lstm_configured_as_design_says(index: int) -> None:
    case = CASES[index]
    lstm = design_lstm(design_params(case))
    assert lstm is not None
    for got, want in zip(run_design_lstm(lstm, case), reference(case), strict=True):
        assert torch.allclose(got, want, rtol=1e-12, atol=1e-12)


def test_the_golden_values_are_the_references_to_4_decimals() -> None:
    output, _, c_n = reference(course_case())
    assert output[0].round(decimals=4).tolist() == [list(row) for row in LSTM_GOLDEN_H]
    assert c_n[0].round(decimals=4).tolist() == list(LSTM_GOLDEN_C_N)
    # Four decimals are stable in float32 too: no value sits near a rounding boundary.
    margins = ((torch.cat([output[0].flatten(), c_n[0]]) * 1e4) % 1 - 0.5).abs()
    assert float(margins.min()) > 0.01


# --------------------------------------------------------------------------------------------
# The solution notebook.


def _notebook_cells() -> list[dict[str, Any]]:
    cells: list[dict[str, Any]] = json.loads(LSTM_SOLUTION_PATH.read_text("utf-8"))["cells"]
    return cells


def _without_docstring(source: str) -> str:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef) or not node.body:
            continue
        first = node.body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            node.body = node.body[1:] if isinstance(first.value.value, str) else node.body
    return ast.dump(tree)


@pytest.fixture(scope="module")
def notebook_run() -> tuple[Namespace, str]:
    """The notebook's code cells run top to bottom (bar the self-check cell), and their prints."""
    code = [
        "".join(c["source"])
        for c in _notebook_cells()
        if c["cell_type"] == "code" and c.get("id") != "self-check"
    ]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        namespace = load(code)
    return namespace, printed.getvalue()


def test_the_solution_notebook_runs_and_prints_its_golden_values(
    notebook_run: tuple[Namespace, str],
) -> None:
    namespace, printed = notebook_run
    assert "golden values reproduced" in printed
    assert torch.equal(namespace["output"][0].round(decimals=4), torch.tensor(LSTM_GOLDEN_H))
    assert torch.equal(namespace["c_n"][0].round(decimals=4), torch.tensor(LSTM_GOLDEN_C_N))
    for step, row in enumerate(LSTM_GOLDEN_H, 1):
        assert f"h{step} = tensor([" in printed
        for value in row:
            assert f"{value:.4f}" in printed


def test_the_solution_notebooks_graded_functions_are_the_fixtures_base() -> None:
    graded = {
        "".join(c["source"]).split("(")[0].removeprefix("def ").strip(): "".join(c["source"])
        for c in _notebook_cells()
        if "graded" in c["metadata"].get("tags", [])
    }
    assert set(graded) == set(LSTM_FUNCTIONS)
    for name in LSTM_FUNCTIONS:
        assert "    ### BEGIN SOLUTION\n" in graded[name]
        assert graded[name].rstrip().endswith("### END SOLUTION")
        assert _without_docstring(graded[name]) == _without_docstring(LSTM_CORRECT[name]), name


def test_the_solution_notebook_is_source_without_outputs() -> None:
    code = [c for c in _notebook_cells() if c["cell_type"] == "code"]
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)


def test_the_solution_notebooks_functions_pass_every_check(
    notebook_run: tuple[Namespace, str],
) -> None:
    namespace, _ = notebook_run
    assert all(_passes(judge, namespace) for judge in JUDGES.values())


# --------------------------------------------------------------------------------------------
# Correct styles.


def test_there_are_at_least_8_styles_each_different_in_every_function() -> None:
    assert len(LSTM_STYLES) >= 8
    for name in LSTM_FUNCTIONS:
        sources = [style.get(name, LSTM_CORRECT[name]) for style in LSTM_STYLES.values()]
        assert len({_without_docstring(s) for s in sources}) == len(sources), name


@pytest.mark.parametrize("style", sorted(LSTM_STYLES))
def test_every_style_passes_every_check(style: str) -> None:
    assert losses(lstm_correct_cells(**LSTM_STYLES[style])) == frozenset()


@pytest.mark.parametrize("style", sorted(LSTM_STYLES))
def test_every_styles_forward_matches_nn_lstm(style: str) -> None:
    ns = load(lstm_correct_cells(**LSTM_STYLES[style]))
    for case in CASES:
        lstm = design_lstm(design_params(case))
        assert lstm is not None
        want = run_design_lstm(lstm, case)
        for name in ("lstm_forward", "lstm_forward_fused"):
            output, h_n, c_n, _ = _forward(ns, name, case)
            for got, expected in zip((output, h_n, c_n), want, strict=True):
                assert close(got, expected, case.x.dtype), (name, case.x.shape)


# --------------------------------------------------------------------------------------------
# Known mistakes.

REQUIRED_MISTAKES = {  # issue 10's list
    "gate-order-ifog",
    "gate-order-figo",
    "sigmoid-on-g",
    "tanh-missing-in-h",
    "forget-gate-dropped",
    "cell-state-not-carried",
    "h-n-c-n-swapped",
    "whh-transposed",
    "missing-bias",
    "output-includes-h0",
    "last-step-dropped",
    "to-nn-lstm-untransposed",
    "to-nn-lstm-not-batch-first",
    "to-nn-lstm-default-dtype",
    "init-weights-whh-drawn-first",
    "init-state-one-tensor",
}


def test_the_catalogue_of_mistakes_is_consistent() -> None:
    assert len(LSTM_MISTAKES) >= 15
    assert set(LSTM_MISTAKES) >= REQUIRED_MISTAKES
    for name, mistake in LSTM_MISTAKES.items():
        assert len(mistake.overrides) == 1, f"{name} must change exactly one function"
        (function,) = mistake.overrides
        assert mistake.overrides[function] != LSTM_CORRECT[function], name
        assert mistake.failing and mistake.failing <= LSTM_CHECK_IDS, name
        assert {check.split(".")[0] for check in mistake.failing} == {function}, name
        assert mistake.misconception, name


@pytest.mark.parametrize("name", sorted(LSTM_MISTAKES))
def test_mistake_loses_exactly_its_checks(name: str) -> None:
    mistake = LSTM_MISTAKES[name]
    assert losses(lstm_correct_cells(**mistake.overrides)) == mistake.failing


@pytest.mark.parametrize(
    "name", sorted(n for n, m in LSTM_MISTAKES.items() if "lstm_forward" in m.overrides)
)
def test_forward_mistake_changes_the_answer_on_some_case_and_not_the_other_functions(
    name: str,
) -> None:
    mistaken = load(lstm_correct_cells(**LSTM_MISTAKES[name].overrides))
    correct = load(lstm_correct_cells())
    differs = []
    for case in CASES:
        try:
            got = _forward(mistaken, "lstm_forward", case)
        except Exception:
            differs.append(True)
            continue
        want = _forward(correct, "lstm_forward", case)
        same = [close(g, w.double(), case.x.dtype) for g, w in zip(got[:3], want[:3], strict=True)]
        differs.append(not all(same) or not got[3])
    assert any(differs)
    for other in set(LSTM_FUNCTIONS) - {"lstm_forward"}:
        assert mistaken[other].__code__.co_code == correct[other].__code__.co_code


# --------------------------------------------------------------------------------------------
# Built-in recurrent kernels.


@pytest.fixture
def kernels_disabled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every built-in LSTM kernel raises, as the sandbox makes it while grading."""

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("built-in recurrent kernels are disabled")

    for owner, name in [(torch._VF, "lstm"), (torch._VF, "lstm_cell"), (torch, "lstm_cell")]:
        monkeypatch.setattr(owner, name, refused)
    yield


@pytest.mark.parametrize("name", sorted(LSTM_BUILTINS))
def test_builtin_computes_the_right_values(name: str) -> None:
    """Only refusing the kernel keeps these from value credit: their numbers are right."""
    assert losses(lstm_correct_cells(lstm_forward=LSTM_BUILTINS[name])) == frozenset()


@pytest.mark.parametrize("name", sorted(LSTM_BUILTINS))
def test_builtin_gets_nothing_once_the_kernels_are_refused(
    name: str, kernels_disabled: None
) -> None:
    # Only lstm_forward's checks: the parity stand-in itself runs nn.LSTM, trusted, outside.
    lost = losses(lstm_correct_cells(lstm_forward=LSTM_BUILTINS[name]), of="lstm_forward.")
    assert lost == {"lstm_forward.shape", "lstm_forward.values"}


def _answers(cells: list[str], name: str) -> list[tuple[torch.Tensor, ...] | None]:
    """Each case's (output, h_n, c_n) in float64, None where the call raises."""
    ns = load(cells)
    answers: list[tuple[torch.Tensor, ...] | None] = []
    for case in CASES:
        try:
            output, h_n, c_n, _ = _forward(ns, name, case)
            answers.append(tuple(t.detach().to(torch.float64) for t in (output, h_n, c_n)))
        except Exception:
            answers.append(None)
    return answers


def _same(a: tuple[torch.Tensor, ...] | None, b: tuple[torch.Tensor, ...] | None) -> bool:
    if a is None or b is None:
        return a is b
    return all(x.shape == y.shape and torch.allclose(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("function", ["lstm_forward", "lstm_forward_fused"])
def test_value_mistakes_are_told_apart_by_some_case(function: str) -> None:
    """A replay can name a mistake only if no other known mistake gives the same numbers."""
    answers = {
        name: _answers(lstm_correct_cells(**m.overrides), function)
        for name, m in LSTM_MISTAKES.items()
        if function in m.overrides
    }
    names = sorted(answers)
    for k, first in enumerate(names):
        for second in names[k + 1 :]:
            pairs = zip(answers[first], answers[second], strict=True)
            assert not all(_same(a, b) for a, b in pairs), (first, second)
