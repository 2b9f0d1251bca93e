"""Regenerate assignment/rnn_forward.ipynb and the bundled example submissions in examples/.

    python tools/make_examples.py

stub.ipynb is the generated assignment byte for byte; correct.ipynb fills each
`raise NotImplementedError(...)` line with an answer written the way a student might write it;
buggy-whh-transposed.ipynb is correct.ipynb with `h @ W_hh.T` in rnn_forward.
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


def main() -> None:
    assignment_path = write_assignment(SOLUTION, ASSIGNMENT_DIR)
    EXAMPLES.mkdir(exist_ok=True)
    shutil.copyfile(assignment_path, EXAMPLES / "stub.ipynb")
    assignment = nbformat.read(assignment_path, as_version=4)
    _write(fill(assignment, STUDENT_ANSWERS), EXAMPLES / "correct.ipynb")
    buggy = dict(STUDENT_ANSWERS)
    buggy["rnn_forward"] = buggy["rnn_forward"].replace(CORRECT_STEP, BUGGY_STEP)
    assert buggy["rnn_forward"] != STUDENT_ANSWERS["rnn_forward"]
    _write(fill(assignment, buggy), EXAMPLES / "buggy-whh-transposed.ipynb")
    for name in ("stub.ipynb", "correct.ipynb", "buggy-whh-transposed.ipynb"):
        print(EXAMPLES / name)


if __name__ == "__main__":
    main()
