"""The simple RNN from scratch (DESIGN.md §2-§4): what the engine grades, declared."""

import torch

from grader.load import load_sibling
from grader.sandbox import kernels
from grader.settings import TOLERANCES
from grader.spec import MODULE_SLIPS, Check, Function, Mistake, Module, Replay, Spec

FORWARD_ARGS, FUSED = ("x", "h0", "W_xh", "W_hh", "b_h"), ("rnn_forward_fused",)
FORWARD = {"args": FORWARD_ARGS, "returns": "sequence", "results": ("output", "h_n")}
CASES = load_sibling(__file__, "cases")  # by path: the folder is never on sys.path


def _separate(x_t, h, W_xh, W_hh):
    return x_t @ W_xh + h @ W_hh


def _recurrence(squash=torch.tanh, step=_separate, *, keep_pre_activation=False):
    """A forward pass that differs from the solution's in how a step is computed or kept."""

    def forward(x, h0, W_xh, W_hh, b_h):
        h, states = h0, []
        for t in range(x.shape[1]):
            z = step(x[:, t], h, W_xh, W_hh) + b_h
            h = squash(z)
            states.append(z if keep_pre_activation else h)
        return torch.stack(states, dim=1)

    return forward


def _hidden_first(input_size, hidden_size, seed):
    """init_weights drawing W_hh before W_xh."""
    generator = torch.Generator().manual_seed(seed)
    W_hh = torch.randn(hidden_size, hidden_size, generator=generator)
    W_xh = torch.randn(input_size, hidden_size, generator=generator)
    return W_xh, W_hh, torch.zeros(hidden_size)


def _variant(function, only=()):
    return {"replay": Replay(variant=function), "only": only}


def _check(name, points, kind, title):
    return Check(id=name, points=points, kind=kind, function=name.split(".")[0], title=title)


SPEC = Spec(
    name="rnn_forward",
    notebook="rnn_forward.ipynb",
    functions=(Function(name="init_hidden", args=("batch_size", "hidden_size"), returns="tensor"),
               Function(name="init_weights", args=("input_size", "hidden_size", "seed"),
                        returns="tensors"),
               Function(name="rnn_forward", **FORWARD),
               Function(name="rnn_forward_fused", **FORWARD),
               Function(name="to_nn_rnn", args=("W_xh", "W_hh", "b_h"), returns="module")),
    checks=(
        _check("init_hidden.shape", 2, "shape", "init_hidden returns (batch, hidden)"),
        _check("init_hidden.values", 3, "exact", "init_hidden is all zeros, floating point"),
        _check("init_weights.shape", 4, "shape", "init_weights returns the three shapes"),
        _check("init_weights.values", 6, "exact", "init_weights matches the seeded draws"),
        _check("rnn_forward.shape", 10, "shape", "rnn_forward output and h_n shapes"),
        _check("rnn_forward.values", 30, "steps", "rnn_forward hidden states, step by step"),
        _check("rnn_forward_fused.values", 15, "steps", "rnn_forward_fused hidden states"),
        _check("rnn_forward_fused.structure", 5, "structure", "one matrix product per time step"),
        _check("to_nn_rnn.module", 5, "module", "to_nn_rnn returns the right nn.RNN"),
        _check("to_nn_rnn.parity", 20, "parity", "nn.RNN from the parameters matches"),
    ),
    mistakes=(
        Mistake(id="whh-transposed", replay=Replay(inputs={"W_hh": "transpose"}),
                hint="W_hh looks transposed: with row-vector states the recurrence is h @ W_hh"),
        Mistake(id="bias-missing", replay=Replay(inputs={"b_h": "zeros"}),
                hint="the bias b_h is never added to the pre-activation"),
        Mistake(id="relu", **_variant(_recurrence(torch.relu)),
                hint="this looks like relu: the simple RNN squashes with tanh"),
        Mistake(id="sigmoid", **_variant(_recurrence(torch.sigmoid)),
                hint="this looks like sigmoid: the simple RNN squashes with tanh"),
        Mistake(id="no-activation", **_variant(_recurrence(lambda z: z)),
                hint="no nonlinearity is applied: each h_t should go through tanh"),
        Mistake(id="pre-activation", **_variant(_recurrence(keep_pre_activation=True)),
                hint="the stored states are the values before tanh; store h_t after it"),
        Mistake(id="h0-ignored", replay=Replay(inputs={"h0": "zeros"}),
                hint="the given h0 is ignored: the first step must start from h0, not zeros"),
        Mistake(id="output-includes-h0", replay=Replay(output="prepend-initial"),
                hint="output starts with h0: it should hold h_1..h_T, not the initial state"),
        Mistake(id="output-shifted", replay=Replay(output="shift-by-initial"),
                hint="output is one step behind (h_0..h_{T-1}): it should hold h_1..h_T"),
        Mistake(id="last-step-dropped", replay=Replay(output="drop-last"),
                hint="output lacks its last step h_T: it should hold all seq_len steps"),
        Mistake(id="time-first-output", replay=Replay(output="time-first"),
                hint="output is time-first: stack the steps along dim 1 (batch-first)"),
        Mistake(id="batch-of-one-only", replay=Replay(output="first-row"),
                hint="only the first sequence comes back: keep every row of the batch"),
        Mistake(id="concat-order-swapped",
                **_variant(_recurrence(step=lambda x_t, h, W_xh, W_hh:
                                       torch.cat([h, x_t], 1) @ torch.cat([W_xh, W_hh], 0)), FUSED),
                hint="cat([h, x_t]) does not line up with cat([W_xh, W_hh]): same order in both"),
        Mistake(id="fused-weights-swapped",
                **_variant(_recurrence(step=lambda x_t, h, W_xh, W_hh:
                                       torch.cat([x_t, h], 1) @ torch.cat([W_hh, W_xh], 0)), FUSED),
                hint="cat([W_hh, W_xh]) does not line up with cat([x_t, h]): same order in both"),
        Mistake(id="init-weights-order", **_variant(_hidden_first, ("init_weights",)),
                hint="W_hh was drawn before W_xh: the order of the randn calls matters"),
        Mistake(id="hard-coded-length",
                hint="output has as many steps whatever x's length: one per step of x"),
        Mistake(id="overwrites-argument",
                hint="an argument was modified in place: build new tensors instead"),
        Mistake(id="ignores-input-dtype",
                hint="output does not follow x's dtype/device: tensors made inside must"
                     " take x's (x.new_zeros(...), dtype=x.dtype)"),
        Mistake(id="builtin-rnn", raises=f"RuntimeError: {kernels.MESSAGE}",
                hint="built-in recurrent kernels (nn.RNN, GRU/LSTM and their cells,"
                     " torch.rnn_tanh) do not run while grading: write the recurrence yourself;"
                     " to_nn_rnn may build an nn.RNN, but not run it"),
        Mistake(id="fused-two-products",
                hint="two products per step: multiply cat([x_t, h]) by cat([W_xh, W_hh]) once"),
        Mistake(id="nn-linear-layout",
                hint="a weight is in nn.Linear's (out, in) layout; here W_xh is (input, hidden)"),
        Mistake(id="init-hidden-fixed-rows",
                hint="the number of rows stays the same whatever batch_size is"),
        Mistake(id="nn-rnn-untransposed",
                hint="nn.RNN stores weight_ih_l0 as (hidden, input): copy W_xh.T and W_hh.T"),
        Mistake(id="nn-rnn-bias-hh", replay=Replay(inputs={"bias_hh_l0": "zeros"}),
                hint="nn.RNN adds bias_ih_l0 and bias_hh_l0: b_h in one, zeros in the other"),
        Mistake(id="nn-rnn-not-batch-first",
                hint="the module must take (batch, seq, feature): batch_first=True"),
        Mistake(id="nn-rnn-default-dtype",
                hint="nn.RNN is float32 unless told: build it with nn.RNN(..., dtype=W_xh.dtype),"
                     " or call .to(W_xh.dtype) / .double() on it"),
        Mistake(id="copy-into-parameter-with-grad",
                raises="RuntimeError: a leaf Variable that requires grad is being used in an"
                       " in-place operation",
                hint="copying into a parameter needs autograd off: wrap the copy_ calls in"
                     " `with torch.no_grad():`, or assign rnn.weight_ih_l0 = nn.Parameter(...)"),
    ),
    module=Module(type="torch.nn.RNN", summary="one layer, tanh, batch_first=True", states=("h0",),
        config={"num_layers": 1, "nonlinearity": "tanh", "batch_first": True,
                "bidirectional": False},
        params={"weight_ih_l0": ("hidden", "input"), "weight_hh_l0": ("hidden", "hidden"),
                "bias_ih_l0": ("hidden",), "bias_hh_l0": ("hidden",)},
        mistakes={slip: f"nn-rnn-{slip}" for slip in MODULE_SLIPS},
    ),
    builtins=frozenset({"rnn_tanh", "rnn_relu", "rnn_tanh_cell", "rnn_relu_cell", "lstm",
                        "gru", "lstm_cell", "gru_cell"}),
    initial="h0", tolerances=TOLERANCES, golden=CASES.GOLDEN,
    public_cases=CASES.public_cases, full_cases=CASES.full_cases,
)  # fmt: skip
