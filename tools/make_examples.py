"""Regenerate the student notebooks in assignment/ and the example submissions in examples/.

    python tools/make_examples.py

For the RNN: stub.ipynb is the generated assignment byte for byte; correct.ipynb fills each
`raise NotImplementedError(...)` line with an answer written the way a student might write it;
buggy-whh-transposed.ipynb is correct.ipynb with `h @ W_hh.T` in rnn_forward. For the LSTM:
lstm-correct.ipynb and lstm-buggy-sigmoid-on-g.ipynb (`sigmoid` on the g gate in lstm_forward).
Together they make a mixed class: `python -m grader batch examples --out OUT`.
"""

from __future__ import annotations

import copy
import shutil
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.assign import write_assignment  # noqa: E402

SOLUTION = ROOT / "solutions" / "rnn_forward" / "solution.ipynb"
LSTM_SOLUTION = ROOT / "solutions" / "lstm_forward" / "solution.ipynb"
ASSIGNMENT_DIR = ROOT / "assignment"
EXAMPLES = ROOT / "examples"

# A student's answers, by function: the body that replaces the NotImplementedError line.
STUDENT_ANSWERS: dict[str, str] = {
    "init_hidden": """\
h = torch.zeros((batch_size, hidden_size))
return h""",
    "init_weights": """\
torch.manual_seed(seed)
Wx = torch.randn(input_size, hidden_size)   # input -> hidden
Wh = torch.randn(hidden_size, hidden_size)  # hidden -> hidden
b = torch.zeros(hidden_size)
return Wx, Wh, b""",
    "rnn_forward": """\
batch, seq_len, _ = x.shape
h = h0
outputs = []
for t in range(seq_len):
    x_t = x[:, t, :]
    h = torch.tanh(x_t @ W_xh + h @ W_hh + b_h)
    outputs.append(h)
output = torch.stack(outputs, dim=1)
return output, h""",
    "rnn_forward_fused": """\
W = torch.cat((W_xh, W_hh), dim=0)  # (input + hidden, hidden)
h = h0
hs = []
for t in range(x.size(1)):
    xh = torch.cat((x[:, t, :], h), dim=1)
    h = torch.tanh(xh @ W + b_h)
    hs.append(h)
return torch.stack(hs, 1), h""",
    "to_nn_rnn": """\
n_in, n_hidden = W_xh.shape
rnn = nn.RNN(n_in, n_hidden, batch_first=True).to(device=W_xh.device, dtype=W_xh.dtype)
with torch.no_grad():
    rnn.weight_ih_l0.copy_(W_xh.t())
    rnn.weight_hh_l0.copy_(W_hh.t())
    rnn.bias_ih_l0.copy_(b_h)
    rnn.bias_hh_l0.fill_(0.0)
return rnn""",
}
CORRECT_STEP = "h = torch.tanh(x_t @ W_xh + h @ W_hh + b_h)"
BUGGY_STEP = "h = torch.tanh(x_t @ W_xh + h @ W_hh.T + b_h)"

# The same for the LSTM (DESIGN.md §7): gate blocks i, f, g, o along the last dim.
LSTM_ANSWERS: dict[str, str] = {
    "init_state": """\
h = torch.zeros(batch_size, hidden_size)
c = torch.zeros(batch_size, hidden_size)
return h, c""",
    "init_weights": """\
torch.manual_seed(seed)
W_xh = torch.randn(input_size, 4 * hidden_size)
W_hh = torch.randn(hidden_size, 4 * hidden_size)
b = torch.zeros(4 * hidden_size)
return W_xh, W_hh, b""",
    "lstm_forward": """\
h, c = h0, c0
outputs = []
for t in range(x.shape[1]):
    z = x[:, t, :] @ W_xh + h @ W_hh + b
    i, f, g, o = z.chunk(4, dim=1)
    i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
    g = torch.tanh(g)
    c = f * c + i * g
    h = o * torch.tanh(c)
    outputs.append(h)
return torch.stack(outputs, dim=1), (h, c)""",
    "lstm_forward_fused": """\
W = torch.cat((W_xh, W_hh), dim=0)  # (input + hidden, 4 * hidden)
h, c = h0, c0
hs = []
for t in range(x.size(1)):
    z = torch.cat((x[:, t, :], h), dim=1) @ W + b
    i, f, g, o = z.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    hs.append(h)
return torch.stack(hs, 1), (h, c)""",
    "to_nn_lstm": """\
n_in, n_gates = W_xh.shape
lstm = nn.LSTM(n_in, n_gates // 4, batch_first=True).to(device=W_xh.device, dtype=W_xh.dtype)
with torch.no_grad():
    lstm.weight_ih_l0.copy_(W_xh.t())
    lstm.weight_hh_l0.copy_(W_hh.t())
    lstm.bias_ih_l0.copy_(b)
    lstm.bias_hh_l0.zero_()
return lstm""",
}
LSTM_CORRECT_GATE = "g = torch.tanh(g)"
LSTM_BUGGY_GATE = "g = torch.sigmoid(g)"


def fill(assignment: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of `assignment` with each function's placeholder line replaced by its answer."""
    filled = copy.deepcopy(assignment)
    for cell in filled.cells:
        if cell.cell_type == "code":
            cell.source = "\n".join(_answer(line, answers) for line in cell.source.split("\n"))
            if "raise NotImplementedError" in cell.source:
                raise ValueError(f"cell {cell.id}: no answer for its placeholder")
    return filled


def _answer(line: str, answers: dict[str, str]) -> str:
    for name, body in answers.items():
        if line.strip() == f'raise NotImplementedError("{name}: replace this line with your code")':
            indent = line[: len(line) - len(line.lstrip())]
            return "\n".join(indent + body_line for body_line in body.split("\n"))
    return line


def _write(notebook: nbformat.NotebookNode, path: Path) -> None:
    nbformat.validate(notebook)
    text = nbformat.writes(notebook).rstrip("\n") + "\n"
    path.write_text(text, encoding="utf-8", newline="\n")


def _pair(solution: Path, answers: dict[str, str], bug: tuple[str, str, str],
          names: tuple[str, str]) -> Path:  # fmt: skip
    """The assignment of `solution`, and into examples/ the correct `names[0]` and `names[1]`,
    which has `bug` (function, correct line, buggy line); returns the assignment's path."""
    assignment_path = write_assignment(solution, ASSIGNMENT_DIR)
    assignment = nbformat.read(assignment_path, as_version=4)
    _write(fill(assignment, answers), EXAMPLES / names[0])
    function, correct, wrong = bug
    buggy = {**answers, function: answers[function].replace(correct, wrong)}
    assert buggy[function] != answers[function]
    _write(fill(assignment, buggy), EXAMPLES / names[1])
    return assignment_path


def main() -> None:
    EXAMPLES.mkdir(exist_ok=True)
    rnn = _pair(SOLUTION, STUDENT_ANSWERS, ("rnn_forward", CORRECT_STEP, BUGGY_STEP),
                ("correct.ipynb", "buggy-whh-transposed.ipynb"))  # fmt: skip
    shutil.copyfile(rnn, EXAMPLES / "stub.ipynb")
    _pair(LSTM_SOLUTION, LSTM_ANSWERS, ("lstm_forward", LSTM_CORRECT_GATE, LSTM_BUGGY_GATE),
          ("lstm-correct.ipynb", "lstm-buggy-sigmoid-on-g.ipynb"))  # fmt: skip
    for name in ("stub.ipynb", "correct.ipynb", "buggy-whh-transposed.ipynb",
                 "lstm-correct.ipynb", "lstm-buggy-sigmoid-on-g.ipynb"):  # fmt: skip
        print(EXAMPLES / name)


if __name__ == "__main__":
    main()
