"""The LSTM from scratch (DESIGN.md §7): what the engine grades, declared."""

import torch

from grader.load import load_sibling
from grader.sandbox import kernels
from grader.settings import TOLERANCES
from grader.spec import MODULE_SLIPS, Check, Function, Mistake, Module, Replay, Spec

ARGS, FUSED = ("x", "h0", "c0", "W_xh", "W_hh", "b"), ("lstm_forward_fused",)
FORWARD = {"args": ARGS, "returns": "sequence", "results": ("output", ("h_n", "c_n"))}
WEIGHTS = {"W_xh": ("input", "4*hidden"), "W_hh": ("hidden", "4*hidden"), "b": ("4*hidden",)}
CASES = load_sibling(__file__, "cases")  # by path: the folder is never on sys.path


def _lstm(order="ifgo", squash_g=torch.tanh, squash_c=torch.tanh, *, forget=True, fused=False):
    """A forward pass that differs from the solution's in its gates or how a step is computed."""

    def forward(x, h0, c0, W_xh, W_hh, b):
        h, c, states = h0, c0, []
        for t in range(x.shape[1]):
            if fused:  # cat([h, x_t]) against cat([W_xh, W_hh]): the halves do not line up
                z = torch.cat([h, x[:, t]], 1) @ torch.cat([W_xh, W_hh], 0) + b
            else:
                z = x[:, t] @ W_xh + h @ W_hh + b
            gates = dict(zip(order, z.chunk(4, dim=1), strict=True))
            i, f, o = (torch.sigmoid(gates[k]) for k in "ifo")
            c = (f * c if forget else 0) + i * squash_g(gates["g"])
            h = o * squash_c(c)
            states.append(h)
        return torch.stack(states, dim=1)

    return forward


def _hidden_first(input_size, hidden_size, seed):
    """init_weights drawing W_hh before W_xh."""
    generator = torch.Generator().manual_seed(seed)
    W_hh = torch.randn(hidden_size, 4 * hidden_size, generator=generator)
    W_xh = torch.randn(input_size, 4 * hidden_size, generator=generator)
    return W_xh, W_hh, torch.zeros(4 * hidden_size)


def _variant(function, only=()):
    return {"replay": Replay(variant=function), "only": only}


def _check(name, points, kind, title):
    return Check(id=name, points=points, kind=kind, function=name.split(".")[0], title=title)


SPEC = Spec(
    name="lstm_forward",
    notebook="lstm_forward.ipynb",
    functions=(Function(name="init_state", args=("batch_size", "hidden_size"), returns="tensor",
                        results=("h0", "c0")),
               Function(name="init_weights", args=("input_size", "hidden_size", "seed"),
                        returns="tensors", results=tuple(WEIGHTS), shapes=WEIGHTS),
               Function(name="lstm_forward", **FORWARD),
               Function(name="lstm_forward_fused", **FORWARD),
               Function(name="to_nn_lstm", args=("W_xh", "W_hh", "b"), returns="module")),
    checks=(
        _check("init_state.shape", 2, "shape", "init_state returns two (batch, hidden) tensors"),
        _check("init_state.values", 3, "exact", "init_state is all zeros, floating point"),
        _check("init_weights.shape", 4, "shape", "init_weights returns the three shapes"),
        _check("init_weights.values", 6, "exact", "init_weights matches the seeded draws"),
        _check("lstm_forward.shape", 10, "shape", "lstm_forward output, h_n and c_n shapes"),
        _check("lstm_forward.values", 30, "steps", "lstm_forward hidden states, step by step"),
        _check("lstm_forward_fused.values", 15, "steps", "lstm_forward_fused hidden states"),
        _check("lstm_forward_fused.structure", 5, "structure", "one matrix product per step"),
        _check("to_nn_lstm.module", 5, "module", "to_nn_lstm returns the right nn.LSTM"),
        _check("to_nn_lstm.parity", 20, "parity", "nn.LSTM from the parameters matches"),
    ),
    mistakes=(
        Mistake(id="gate-order-ifog", **_variant(_lstm("ifog")),
                hint="the gate blocks are read as i, f, o, g: PyTorch's order is i, f, g, o"),
        Mistake(id="gate-order-figo", **_variant(_lstm("figo")),
                hint="the gate blocks are read as f, i, g, o: PyTorch's order is i, f, g, o"),
        Mistake(id="sigmoid-on-g", **_variant(_lstm(squash_g=torch.sigmoid)),
                hint="the candidate g goes through tanh, not sigmoid (only i, f and o are gates)"),
        Mistake(id="h-without-tanh", **_variant(_lstm(squash_c=lambda c: c)),
                hint="h_t = o * tanh(c_t): the cell state is squashed before the output gate"),
        Mistake(id="forget-gate-dropped", **_variant(_lstm(forget=False)),
                hint="c_t forgets nothing it does not keep: c_t = f * c_{t-1} + i * g, not i * g"),
        Mistake(id="bias-missing", replay=Replay(inputs={"b": "zeros"}),
                hint="the bias b is never added to the gates' pre-activation"),
        Mistake(id="h0-ignored", replay=Replay(inputs={"h0": "zeros"}),
                hint="the given h0 is ignored: the first step must start from h0, not zeros"),
        Mistake(id="c0-ignored", replay=Replay(inputs={"c0": "zeros"}),
                hint="the given c0 is ignored: the first step must start from c0, not zeros"),
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
        Mistake(id="concat-order-swapped", **_variant(_lstm(fused=True), FUSED),
                hint="cat([h, x_t]) does not line up with cat([W_xh, W_hh]): same order in both"),
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
                hint="built-in recurrent kernels (nn.LSTM, nn.LSTMCell, torch.lstm_cell) do not"
                     " run while grading: write the recurrence yourself; to_nn_lstm may build"
                     " an nn.LSTM, but not run it"),
        Mistake(id="fused-two-products",
                hint="two products per step: multiply cat([x_t, h]) by cat([W_xh, W_hh]) once"),
        Mistake(id="nn-linear-layout",
                hint="a weight is in nn.Linear's (out, in) layout; here W_xh is (input, 4*hidden)"),
        Mistake(id="init-hidden-fixed-rows",
                hint="the number of rows stays the same whatever batch_size is"),
        Mistake(id="nn-lstm-untransposed",
                hint="nn.LSTM stores weight_ih_l0 as (4*hidden, input): copy W_xh.T and W_hh.T"),
        Mistake(id="nn-lstm-bias-hh",
                hint="nn.LSTM adds bias_ih_l0 and bias_hh_l0: b in one, zeros in the other"),
        Mistake(id="nn-lstm-not-batch-first",
                hint="the module must take (batch, seq, feature): batch_first=True"),
        Mistake(id="nn-lstm-default-dtype",
                hint="nn.LSTM is float32 unless told: build it with nn.LSTM(..., dtype=W_xh.dtype)"
                     " or convert it with .to(W_xh.dtype)"),
        Mistake(id="copy-into-parameter-with-grad",
                raises="RuntimeError: a leaf Variable that requires grad is being used in an"
                       " in-place operation",
                hint="copying into a parameter needs autograd off: wrap the copy_ calls in"
                     " `with torch.no_grad():`"),
    ),
    module=Module(type="torch.nn.LSTM", summary="one layer, batch_first=True", states=("h0", "c0"),
        config={"num_layers": 1, "batch_first": True, "bidirectional": False, "proj_size": 0},
        params={"weight_ih_l0": ("4*hidden", "input"), "weight_hh_l0": ("4*hidden", "hidden"),
                "bias_ih_l0": ("4*hidden",), "bias_hh_l0": ("4*hidden",)},
        mistakes={slip: f"nn-lstm-{slip}" for slip in MODULE_SLIPS},
    ),
    initial="h0", tolerances=TOLERANCES,
    builtins=frozenset({"rnn_tanh", "rnn_relu", "rnn_tanh_cell", "rnn_relu_cell", "lstm",
                        "gru", "lstm_cell", "gru_cell"}),
    public_cases=CASES.public_cases, full_cases=CASES.full_cases,
)  # fmt: skip
