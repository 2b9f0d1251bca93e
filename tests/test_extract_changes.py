"""Extraction matches running the notebook: statements that change an object a graded function
reads (item and attribute assignment, augmented assignment, method calls) are kept, in notebook
order, and only for names the graded functions need."""

from __future__ import annotations

import pytest
from fixtures.helpers import describe
from fixtures.submissions import CORRECT, FUNCTIONS, IMPORTS, correct_cells, notebook

from grader.extract import Extracted, extract, load_notebook
from grader.grading import grade_bytes
from grader.sandbox.client import Sandbox

# rnn_forward reads its activation from a module-level object instead of calling torch.tanh.
FORWARD_READING = {
    "CONFIG": CORRECT["rnn_forward"].replace("torch.tanh(", 'CONFIG["activation"]('),
    "cfg": CORRECT["rnn_forward"].replace("torch.tanh(", "cfg.activation("),
    "LAYERS": CORRECT["rnn_forward"].replace("torch.tanh(", "LAYERS[-1]("),
    "SCALE": CORRECT["rnn_forward"].replace("torch.tanh(", "SCALE[0] * torch.tanh("),
}
# name -> (cell before the graded functions, cell after them): the notebook runs fine top to bottom.
SET_UP_IN_TWO_CELLS = {
    "item assignment": ("CONFIG", "CONFIG = {}\n", 'CONFIG["activation"] = torch.tanh\n'),
    "attribute assignment": (
        "cfg",
        "class Config:\n    activation = torch.relu\n\n\ncfg = Config()\n",
        "cfg.activation = torch.tanh\n",
    ),
    "a method call": ("LAYERS", "LAYERS = [torch.relu]\n", "LAYERS.append(torch.tanh)\n"),
    "dict.update and del": (
        "CONFIG",
        'CONFIG = {"activation": torch.relu, "unused": 1}\n',
        'del CONFIG["unused"]\nCONFIG.update(activation=torch.tanh)\n',
    ),
    "augmented assignment to an item": ("SCALE", "SCALE = [3.0]\n", "SCALE[0] -= 2.0\n"),
    "a change inside a loop": (
        "CONFIG",
        "CONFIG = {}\n",
        'for key in ["activation"]:\n    CONFIG[key] = torch.tanh\n',
    ),
}


def changed_notebook(how: str) -> bytes:
    name, before, after = SET_UP_IN_TWO_CELLS[how]
    cells = correct_cells(rnn_forward=FORWARD_READING[name])
    return notebook([cells[0] + before, *cells[1:], after])


@pytest.mark.parametrize("how", sorted(SET_UP_IN_TWO_CELLS))
def test_a_change_in_a_later_cell_to_an_object_a_function_reads_earns_full_marks(
    how: str, sandbox: Sandbox
) -> None:
    result = grade_bytes(changed_notebook(how), sandbox=sandbox)
    assert result.score == 100, describe(result)


def kept(*cells: str) -> list[str]:
    result: Extracted = extract(load_notebook(notebook(list(cells))), FUNCTIONS)
    return [chunk.source for chunk in result.chunks]


def test_only_changes_to_an_object_a_function_reads_are_kept_not_demo_code() -> None:
    name, before, after = SET_UP_IN_TWO_CELLS["item assignment"]
    cells = correct_cells(rnn_forward=FORWARD_READING[name])
    demos = [
        "RESULTS = []\nRESULTS.append(rnn_forward(x, h0, W_xh, W_hh, b_h))\nRESULTS[0] = 1\n",
        "torch.manual_seed(0)\ntorch.save(torch.zeros(3), 'x.pt')\nnn.init.zeros_(W)\n",
        "print(CONFIG.get('activation'))\n",  # a call inside an expression only reads
    ]
    statements = kept(cells[0] + before, *cells[1:], after, *demos)
    assert statements == [*kept(cells[0] + before, *cells[1:]), after.rstrip("\n")]


def test_a_change_to_an_object_that_was_replaced_later_is_not_kept() -> None:
    statements = kept(
        IMPORTS,
        'CONFIG = {}\nCONFIG["activation"] = torch.relu\n',
        'CONFIG = {}\nCONFIG["activation"] = torch.tanh\n',
        *correct_cells(rnn_forward=FORWARD_READING["CONFIG"])[1:],
    )
    assert 'CONFIG["activation"] = torch.relu' not in statements
    assert 'CONFIG["activation"] = torch.tanh' in statements


def test_changes_are_kept_in_notebook_order_with_what_they_read() -> None:
    statements = kept(
        IMPORTS + "import torch.nn.functional as F\n",
        "CONFIG = {}\n",
        *correct_cells(rnn_forward=FORWARD_READING["CONFIG"])[1:],
        'CONFIG["activation"] = F.tanh\n',
        'CONFIG["activation"] = torch.tanh\n',
    )
    assert "import torch.nn.functional as F" in statements
    assert statements[-2:] == ['CONFIG["activation"] = F.tanh', 'CONFIG["activation"] = torch.tanh']


def test_a_module_level_read_sees_only_the_changes_made_before_it() -> None:
    statements = kept(
        IMPORTS,
        'CONFIG = {}\nCONFIG["activation"] = torch.tanh\nACT = CONFIG["activation"]\n',
        'CONFIG["later"] = 1\n',
        *correct_cells(rnn_forward=CORRECT["rnn_forward"].replace("torch.tanh(", "ACT("))[1:],
    )
    assert 'CONFIG["activation"] = torch.tanh' in statements
    assert 'CONFIG["later"] = 1' not in statements


def test_a_builtin_rnn_stored_into_a_dict_is_still_detected() -> None:
    forward = 'def rnn_forward(x, h0, W_xh, W_hh, b_h):\n    return CONFIG["rnn"](x, h0)\n'
    later = 'CONFIG["rnn"] = nn.RNN(1, 4, batch_first=True)\n'
    cells = [IMPORTS + "CONFIG = {}\n", *correct_cells(rnn_forward=forward)[1:], later]
    assert "rnn_forward" in extract(load_notebook(notebook(cells)), FUNCTIONS).builtin_rnn_users
