"""Extraction: which statements of a notebook the sandbox runs. Pure; nothing is executed."""

from __future__ import annotations

import json

import pytest
from fixtures.submissions import CORRECT, FUNCTIONS, IMPORTS, correct_cells, notebook

from grader.errors import NotebookError
from grader.extract import Extracted, extract, load_notebook, strip_magics

STEP_HELPER = """\
def _step(x_t, h, W_xh, W_hh, b_h):
    return ACTIVATION(x_t @ W_xh + h @ W_hh + b_h)
"""
FORWARD_WITH_HELPER = """\
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    h, states = h0, []
    for t in range(x.shape[1]):
        h = _step(x[:, t], h, W_xh, W_hh, b_h)
        states.append(h)
    return torch.stack(states, dim=1), h
"""


def extracted(*cells: str, markdown: list[str] | None = None) -> Extracted:
    return extract(load_notebook(notebook(list(cells), markdown=markdown)), FUNCTIONS)


def code(result: Extracted) -> str:
    """Everything the child would run, in order."""
    return "\n".join(chunk.source for chunk in result.chunks)


def statements(result: Extracted) -> list[str]:
    return [chunk.source for chunk in result.chunks]


def test_a_clean_notebook_yields_all_five_functions_and_no_problems() -> None:
    result = extracted(*correct_cells())
    assert result.found == {name: cell for cell, name in enumerate(FUNCTIONS, start=2)}
    assert result.missing == {}
    assert result.problems == ()
    assert statements(result) == [
        "import torch",
        "import torch.nn as nn",
        *(CORRECT[f].rstrip("\n") for f in FUNCTIONS),
    ]


def test_cells_are_numbered_among_code_cells_as_a_student_counts_them() -> None:
    result = extracted(*correct_cells(), markdown=["# Title", "Some text"])
    assert result.found["init_hidden"] == 2  # the second code cell, not the fourth JSON cell


def test_a_statement_knows_the_line_it_starts_on() -> None:
    result = extracted(IMPORTS, "# a comment\n\n" + CORRECT["init_hidden"])
    (chunk,) = [c for c in result.chunks if "init_hidden" in c.binds]
    assert (chunk.cell, chunk.line) == (2, 3)


# ---------------------------------------------------------------------------------- magics


def test_line_magics_and_shell_commands_are_blanked_keeping_line_numbers() -> None:
    cell = "%matplotlib inline\n!pip install torch\n" + IMPORTS
    result = extracted(cell, *correct_cells()[1:])
    assert result.problems == ()
    assert "import torch" in statements(result)
    assert [c.line for c in result.chunks if c.cell == 1] == [3, 4]


def test_a_magic_inside_a_function_body_leaves_valid_code() -> None:
    timed = CORRECT["init_hidden"].replace("    return", "    %time torch.zeros(1)\n    return")
    result = extracted(*correct_cells(init_hidden=timed))
    assert result.problems == ()
    assert "init_hidden" in result.found
    for chunk in result.chunks:
        compile(chunk.source, "<chunk>", "exec")


def test_a_block_made_only_of_magics_stays_a_block() -> None:
    compile(strip_magics("if True:\n    %load_ext autoreload\n    !ls\n"), "<cell>", "exec")


def test_a_writefile_cell_is_file_content_not_code() -> None:
    result = extracted(IMPORTS, "%%writefile helpers.py\n" + CORRECT["init_hidden"])
    assert "init_hidden" in result.missing
    assert result.problems == ()


# ----------------------------------------------------------------------- what gets pulled in


def test_later_definitions_win_and_the_duplicate_is_noted() -> None:
    wrong = CORRECT["rnn_forward"].replace("torch.tanh", "torch.relu")
    result = extracted(IMPORTS, wrong, *correct_cells()[1:])
    assert result.found["rnn_forward"] == 5
    forwards = [s for s in statements(result) if s.startswith("def rnn_forward(")]
    assert forwards == [CORRECT["rnn_forward"].rstrip("\n")]
    notes = [p for p in result.problems if "rnn_forward" in p.message]
    assert len(notes) == 1 and notes[0].cell == 5 and "2" in notes[0].message


def test_helpers_imports_and_constants_are_pulled_in_transitively() -> None:
    result = extracted(
        IMPORTS + "import torch.nn.functional as F\nimport math\n",
        "ACTIVATION = F.tanh\nUNUSED = math.pi\n",
        STEP_HELPER,
        *correct_cells(rnn_forward=FORWARD_WITH_HELPER)[1:],
    )
    kept = statements(result)
    for needed in ("import torch", "import torch.nn.functional as F", "ACTIVATION = F.tanh"):
        assert needed in kept
    assert STEP_HELPER.rstrip("\n") in kept
    assert "import math" not in kept and "UNUSED = math.pi" not in kept


def test_a_helper_defined_after_its_caller_is_still_pulled_in() -> None:
    result = extracted(
        IMPORTS + "ACTIVATION = torch.tanh\n",
        *correct_cells(rnn_forward=FORWARD_WITH_HELPER)[1:],
        STEP_HELPER,
    )
    assert STEP_HELPER.rstrip("\n") in statements(result)
    assert statements(result)[-1] == STEP_HELPER.rstrip("\n")  # notebook order is kept


def test_names_read_by_default_arguments_are_pulled_in() -> None:
    forward = CORRECT["rnn_forward"].replace("b_h):", "b_h, act=ACTIVATION):")
    result = extracted(
        IMPORTS + "ACTIVATION = torch.tanh\n", *correct_cells(rnn_forward=forward)[1:]
    )
    assert "ACTIVATION = torch.tanh" in statements(result)


def test_demo_cells_are_not_pulled_in() -> None:
    demos = [
        "x = torch.arange(1.0, 6.0).reshape(1, 5, 1)\nh0 = init_hidden(1, 4)\n",
        "W_xh, W_hh, b_h = init_weights(1, 4)\noutput, h_n = rnn_forward(x, h0, W_xh, W_hh, b_h)\n",
        "print(output)\nassert output.shape == (1, 5, 4)\n",
        "import matplotlib.pyplot as plt\nplt.plot(output[0])\nplt.show()\n",
        "input('press enter')\n",
    ]
    result = extracted(*correct_cells(), *demos)
    assert statements(result) == statements(extracted(*correct_cells()))


def test_module_level_names_a_function_reads_are_pulled_in_with_what_they_need() -> None:
    """The course's buggy init_hidden reads the global input_size, set from the data."""
    cells = [
        IMPORTS,
        "data = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])\nx = data.reshape(1, 5, 1)\n"
        "batch_size, seq_len, input_size = x.shape\nprint(x)\n",
        "def init_hidden(batch_size, hidden_size):\n"
        "    return torch.zeros(input_size, hidden_size)\n",
    ]
    kept = statements(extracted(*cells))
    assert kept[1:4] == [
        "data = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])",
        "x = data.reshape(1, 5, 1)",
        "batch_size, seq_len, input_size = x.shape",
    ]
    assert "print(x)" not in kept


def test_a_decorated_function_keeps_its_decorator_and_what_the_decorator_needs() -> None:
    decorator = """\
import functools


def traced(function):
    @functools.wraps(function)
    def wrapper(*args):
        return function(*args)

    return wrapper
"""
    forward = "@traced\n" + CORRECT["rnn_forward"]
    result = extracted(*correct_cells()[:3], decorator, forward, *correct_cells()[4:])
    (chunk,) = [c for c in result.chunks if "rnn_forward" in c.binds]
    assert chunk.source.startswith("@traced\ndef rnn_forward(")
    assert chunk.line == 1
    assert "import functools" in statements(result)
    assert any(s.startswith("def traced(") for s in statements(result))


def test_a_decorator_call_on_torch_is_kept() -> None:
    to_nn_rnn = "@torch.no_grad()\n" + CORRECT["to_nn_rnn"].replace(
        "    with torch.no_grad():\n", ""
    )
    result = extracted(*correct_cells(to_nn_rnn=to_nn_rnn.replace("\n        ", "\n    ")))
    (chunk,) = [c for c in result.chunks if "to_nn_rnn" in c.binds]
    assert chunk.source.startswith("@torch.no_grad()\ndef to_nn_rnn(")


# ----------------------------------------------------- module-level names bound in other ways


def test_setting_a_module_attribute_does_not_lose_the_import() -> None:
    """`torch.backends.cudnn.deterministic = True` is common in seeded notebooks."""
    result = extracted(IMPORTS, "torch.backends.cudnn.deterministic = True\n", *correct_cells()[1:])
    assert "import torch" in statements(result)


def test_a_guarded_import_is_kept() -> None:
    guarded = (
        "try:\n    import torch\nexcept ImportError:\n    torch = None\nimport torch.nn as nn\n"
    )
    result = extracted(guarded, *correct_cells()[1:])
    assert statements(result)[0] == guarded.split("import torch.nn")[0].rstrip("\n")


def test_a_name_bound_in_an_if_block_is_kept() -> None:
    choose = (
        "if torch.cuda.is_available():\n    DTYPE = torch.float32\n"
        "else:\n    DTYPE = torch.float32\n"
    )
    init_hidden = CORRECT["init_hidden"].replace("hidden_size)\n", "hidden_size, dtype=DTYPE)\n")
    result = extracted(IMPORTS, choose, *correct_cells(init_hidden=init_hidden)[1:])
    assert "DTYPE = torch.float32" in code(result)


def test_a_name_rebuilt_from_its_previous_value_keeps_both_statements() -> None:
    init_hidden = CORRECT["init_hidden"].replace("return", "return SCALE *")
    result = extracted(
        IMPORTS, "SCALE = 2.0\nSCALE = SCALE / 2\n", *correct_cells(init_hidden=init_hidden)[1:]
    )
    assert statements(result)[2:4] == ["SCALE = 2.0", "SCALE = SCALE / 2"]


# ------------------------------------------------------------------------------ syntax errors


def test_a_syntax_error_names_its_cell_and_the_function_in_it() -> None:
    broken = CORRECT["rnn_forward"].replace("range(x.shape[1]):", "range(x.shape[1])")
    result = extracted(*correct_cells(rnn_forward=broken))
    (problem,) = result.problems
    assert (problem.cell, problem.line, problem.severity) == (4, 4, "error")
    assert "syntax error" in problem.message
    assert "cell 4" in result.missing["rnn_forward"]
    assert set(result.found) == set(FUNCTIONS) - {"rnn_forward"}


def test_a_syntax_error_in_another_cell_loses_nothing() -> None:
    result = extracted(*correct_cells(), 'print("h0:" h0)\n')
    assert set(result.found) == set(FUNCTIONS)
    assert [p.cell for p in result.problems] == [7]


def test_a_function_never_written_is_missing_with_a_reason() -> None:
    result = extracted(*correct_cells()[:-1])
    assert "not defined" in result.missing["to_nn_rnn"]


# ---------------------------------------------------------------------------- built-in RNNs

BUILTIN_USES = {
    "nn.RNN": """\
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    rnn = nn.RNN(W_xh.shape[0], W_xh.shape[1], batch_first=True)
    return rnn(x, h0.unsqueeze(0))
""",
    "torch.rnn_tanh": """\
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    return torch.rnn_tanh(x, h0.unsqueeze(0), [W_xh.T, W_hh.T, b_h, 0 * b_h], True, 1, 0.0,
                          False, False, True)
""",
    "renamed import": """\
from torch.nn import RNN as Recurrent


def rnn_forward(x, h0, W_xh, W_hh, b_h):
    return Recurrent(W_xh.shape[0], W_xh.shape[1], batch_first=True)(x, h0.unsqueeze(0))
""",
    "RNNCell in a helper": """\
def make_cell(W_xh):
    return torch.nn.RNNCell(*W_xh.shape)


def rnn_forward(x, h0, W_xh, W_hh, b_h):
    cell = make_cell(W_xh)
    return cell(x[:, 0], h0), h0
""",
    "_VF": """\
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    return torch._VF.rnn_tanh(x, h0, [W_xh.T, W_hh.T], False, 1, 0.0, False, False, True)
""",
    "fullwidth letters (NFKC makes them rnn_tanh)": """\
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    return torch.\uff52nn_tanh(x, h0, [W_xh.T, W_hh.T], False, 1, 0.0, False, False, True)
""",
    "its own to_nn_rnn": """\
def rnn_forward(x, h0, W_xh, W_hh, b_h):
    output, h_n = to_nn_rnn(W_xh, W_hh, b_h)(x, h0.unsqueeze(0))
    return output, h_n[0]
""",
}
NOT_BUILTIN = {
    "the reference loop": CORRECT["rnn_forward"],
    "a docstring naming nn.RNN": CORRECT["rnn_forward"].replace(
        "b_h):\n", 'b_h):\n    """Do not use nn.RNN or torch.rnn_tanh here."""\n'
    ),
    "a variable called rnn": CORRECT["rnn_forward"].replace("states", "rnn_states"),
}


@pytest.mark.parametrize("how", sorted(BUILTIN_USES))
def test_a_builtin_rnn_inside_rnn_forward_is_detected(how: str) -> None:
    result = extracted(*correct_cells(rnn_forward=BUILTIN_USES[how]))
    assert "rnn_forward" in result.builtin_rnn_users


@pytest.mark.parametrize("how", sorted(NOT_BUILTIN))
def test_a_hand_written_rnn_forward_is_not_flagged(how: str) -> None:
    result = extracted(*correct_cells(rnn_forward=NOT_BUILTIN[how]))
    assert "rnn_forward" not in result.builtin_rnn_users
    assert "to_nn_rnn" in result.builtin_rnn_users  # it is meant to build one


# ------------------------------------------------------------------------- unreadable files


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b'{"cells": [', "line 1, column 12"),
        (b"\xff\xfe{}", "UTF-8"),
        (b'{"nbformat": 3, "worksheets": []}', "nbformat 3"),
        (b'{"hello": "world"}', "not a notebook"),
        (notebook([], markdown=["only words"]), "no code cells"),
    ],
)
def test_unreadable_files_raise_a_notebook_error_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(NotebookError, match=reason):
        load_notebook(data)


def test_a_source_stored_as_one_string_reads_like_a_list_of_lines() -> None:
    document = json.loads(notebook(correct_cells()))
    for cell in document["cells"]:
        cell["source"] = "".join(cell["source"])
    as_string = load_notebook(json.dumps(document).encode())
    assert as_string.cells == load_notebook(notebook(correct_cells())).cells


def test_a_byte_order_mark_does_not_make_a_notebook_unreadable() -> None:
    from grader.extract import load_notebook
    from tests.fixtures.submissions import correct_cells, notebook

    cells = load_notebook(b"\xef\xbb\xbf" + notebook(correct_cells())).cells
    assert any("def rnn_forward" in source for _, source in cells)
