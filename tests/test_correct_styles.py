"""Any correct answer gets full marks, however it is written."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from fixtures.helpers import describe
from fixtures.submissions import (
    CORRECT,
    FUNCTIONS,
    IMPORTS,
    MAX_SCORE,
    ROOT,
    STYLES,
    correct_cells,
    notebook,
)

from grader.grading import grade_bytes
from grader.results import Outcome
from grader.sandbox.client import Sandbox

EXAMPLES = {
    "solution": "solutions/rnn_forward/solution.ipynb",
    "example-correct": "examples/correct.ipynb",
}
# Cells a real notebook carries around the answers; none of them is graded.
NOISE = [
    "%matplotlib inline\n!pip install torch\n",
    "x = torch.arange(1.0, 6.0).reshape(1, 5, 1)\nh0 = init_hidden(1, 4)\n"
    "W_xh, W_hh, b_h = init_weights(1, 4)\n",
    "output, h_n = rnn_forward(x, h0, W_xh, W_hh, b_h)\nprint(output)\n",
    "%%time\nrnn_forward_fused(x, h0, W_xh, W_hh, b_h)\n",
    "name = input('your name? ')\nassert False, 'a failing demo'\n",
    "import matplotlib.pyplot as plt\nplt.plot(output[0].detach())\n",
]

# Top-level statements real notebooks start with, next to the answers; each must cost nothing.
HOUSEKEEPING = {
    "deterministic-seeding": [
        IMPORTS,
        "torch.manual_seed(0)\ntorch.backends.cudnn.deterministic = True\n",
    ],
    "guarded-import": [
        "try:\n    import torch\nexcept ImportError:\n    torch = None\nimport torch.nn as nn\n"
    ],
}


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_style_scores_full_marks(style: str, sandbox: Sandbox) -> None:
    result = grade_bytes(notebook(correct_cells(**STYLES[style])), sandbox=sandbox)
    assert result.score == MAX_SCORE, describe(result)
    assert all(c.outcome is Outcome.PASSED for c in result.checks), describe(result)
    assert result.ungradable is None


@pytest.fixture(scope="module")
def cuda_sandbox() -> Iterator[Sandbox]:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    with Sandbox(device="cuda") as box:
        yield box


@pytest.mark.cuda
@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_style_scores_full_marks_on_cuda(style: str, cuda_sandbox: Sandbox) -> None:
    data = notebook(correct_cells(**STYLES[style]))
    result = grade_bytes(data, device="cuda", sandbox=cuda_sandbox)
    assert result.all_passed, describe(result)
    assert result.environment.device == "cuda"


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_style_passes_the_public_self_check(style: str, sandbox: Sandbox) -> None:
    data = notebook(correct_cells(**STYLES[style]))
    result = grade_bytes(data, public_only=True, sandbox=sandbox)
    assert result.all_passed, describe(result)
    assert result.environment.case_set == "public"


def test_styles_are_complete_and_genuinely_different() -> None:
    assert len(STYLES) >= 6
    for answers in STYLES.values():
        assert set(answers) == set(FUNCTIONS)
    for function in FUNCTIONS:
        variants = {answers[function] for answers in STYLES.values()}
        assert len(variants) >= 5, f"{function} is written the same way in most styles"


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_bundled_correct_notebooks_score_full_marks(example: str, sandbox: Sandbox) -> None:
    path = ROOT / EXAMPLES[example]
    result = grade_bytes(path.read_bytes(), name=str(path), sandbox=sandbox)
    assert result.all_passed, describe(result)


def test_demo_cells_magics_and_markdown_cost_nothing(sandbox: Sandbox) -> None:
    cells = correct_cells()
    cells[3:3] = NOISE  # between init_weights and rnn_forward, as in the course notebook
    data = notebook(cells, markdown=["# A Simple RNN from Scratch", "Some $h_t$ maths."])
    result = grade_bytes(data, sandbox=sandbox)
    assert result.all_passed, describe(result)


@pytest.mark.parametrize("habit", sorted(HOUSEKEEPING))
def test_notebook_housekeeping_costs_nothing(habit: str, sandbox: Sandbox) -> None:
    cells = [*HOUSEKEEPING[habit], *correct_cells()[1:]]
    result = grade_bytes(notebook(cells), sandbox=sandbox)
    assert result.all_passed, describe(result)


def test_same_answers_in_one_cell_score_full_marks(sandbox: Sandbox) -> None:
    single = "\n\n".join([*correct_cells()[:1], *CORRECT.values()])
    result = grade_bytes(notebook([single]), sandbox=sandbox)
    assert result.all_passed, describe(result)
