"""The self-check cell: the student notebook grades its own saved file on the public cases."""

from __future__ import annotations

import ast
import builtins
import dataclasses
import importlib.util
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from fixtures.submissions import CATALOG, FUNCTIONS
from report_samples import hostile, mixed

from grader.assign import ASSIGNMENT_FILENAME
from grader.extract import extract, load_notebook
from grader.load import SOLUTIONS, load_sibling
from grader.results import Outcome
from grader.sandbox.client import Sandbox
from grader.selfcheck import JUPYTER_HINT, VSCODE_HINT, SelfCheck, check_notebook, find_notebook

RNN_CASES = load_sibling(SOLUTIONS / "rnn_forward" / "spec.py", "cases")  # its own cases
public_cases = RNN_CASES.public_cases

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = ROOT / "assignment" / ASSIGNMENT_FILENAME
SOLUTION = ROOT / "solutions" / "rnn_forward" / "solution.ipynb"
EXAMPLES = ROOT / "examples"
INSTALL_MESSAGE = (
    "The grader is not installed in this notebook's Python. It is not on PyPI:\n"
    "install it from the copy of rnn-grader your course gives you (the folder\n"
    "that holds pyproject.toml), from a cell of this notebook:\n"
    "    %pip install -e path/to/rnn-grader\n"
    "then restart the kernel. If you have no copy, ask your instructor.\n"
)


def self_check_cell(path: Path) -> Any:
    return nbformat.read(path, as_version=4).cells[-1]


def run_cell(source: str) -> Any:
    """Run a cell the way IPython does: the statements, then the value of a last expression."""
    tree = ast.parse(source)
    last = tree.body.pop()
    namespace: dict[str, Any] = {}
    exec(compile(tree, "<cell>", "exec"), namespace)
    assert isinstance(last, ast.Expr), "the cell must end in an expression Jupyter displays"
    return eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace)


@pytest.fixture
def no_hints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(JUPYTER_HINT, raising=False)
    monkeypatch.delattr(sys.modules["__main__"], VSCODE_HINT, raising=False)


# --- the cell in the notebooks ---------------------------------------------------------------


@pytest.mark.parametrize("path", [ASSIGNMENT, SOLUTION], ids=["assignment", "solution"])
def test_notebook_ends_with_the_self_check_cell(path: Path) -> None:
    cell = self_check_cell(path)
    assert cell.cell_type == "code" and cell.id == "self-check"
    assert "from grader.selfcheck import check_notebook" in cell.source
    assert "instructor-only" not in cell.metadata.get("tags", [])
    assert "SOLUTION" not in cell.source


def test_markdown_before_the_cell_says_to_save_first() -> None:
    markdown = nbformat.read(ASSIGNMENT, as_version=4).cells[-2]
    assert markdown.cell_type == "markdown" and "Save the notebook first" in markdown.source


def test_without_the_grader_the_cell_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_import = builtins.__import__

    def failing_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("grader"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", failing_import)
    shown = run_cell(self_check_cell(ASSIGNMENT).source)
    assert shown is None  # nothing for Jupyter to display besides the printed text
    assert capsys.readouterr().out == INSTALL_MESSAGE


@pytest.mark.parametrize(
    "path", [SOLUTION, ASSIGNMENT, *sorted(EXAMPLES.glob("*.ipynb"))], ids=lambda p: p.name
)
def test_no_notebook_tells_students_to_install_a_package_that_is_not_published(
    path: Path,
) -> None:
    source = self_check_cell(path).source
    # rnn-grader is not on PyPI: a bare `pip install rnn-grader` fails or installs a stranger's.
    assert not re.search(r"pip install (-U )?rnn[-_]grader\b", source)
    assert "pip install -e path/to/rnn-grader" in source


def test_with_the_grader_the_cell_shows_a_self_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_hints: None
) -> None:
    shutil.copyfile(EXAMPLES / "correct.ipynb", tmp_path / ASSIGNMENT_FILENAME)
    monkeypatch.chdir(tmp_path)
    shown = run_cell(self_check_cell(tmp_path / ASSIGNMENT_FILENAME).source)
    assert isinstance(shown, SelfCheck) and shown.score == 100
    assert shown.notebook == Path(ASSIGNMENT_FILENAME)


@pytest.mark.parametrize("name", ["correct.ipynb", "stub.ipynb"])
def test_extraction_leaves_the_self_check_cell_out(name: str) -> None:
    notebook = nbformat.read(EXAMPLES / name, as_version=4)
    cell_number = len(notebook.cells)
    with_cell = extract(load_notebook((EXAMPLES / name).read_bytes()), FUNCTIONS)
    notebook.cells.pop()
    without_cell = extract(load_notebook(nbformat.writes(notebook).encode()), FUNCTIONS)
    assert all(chunk.cell != cell_number for chunk in with_cell.chunks)
    assert with_cell.chunks == without_cell.chunks and with_cell.found == without_cell.found
    assert all(problem.cell != cell_number for problem in with_cell.problems)


# --- check_notebook grades the saved file, public cases only --------------------------------


def test_correct_example_scores_full_marks_on_the_public_cases(sandbox: Sandbox) -> None:
    check = check_notebook(EXAMPLES / "correct.ipynb", sandbox=sandbox)
    assert check.result is not None and check.saved_at is not None
    assert check.score == check.result.max_score == 100
    assert check.result.environment.case_set == "public"  # never the hidden cases or their seed
    assert check.result.environment.case_set_id == public_cases().id
    page = check._repr_html_()
    assert page.count("<tr>") == len(CATALOG) + 1
    for spec in CATALOG:
        assert f"<code>{spec.id}</code>" in page
    assert "100 / 100" in page and "Public cases only" in page


def test_stub_scores_zero_saying_not_implemented(sandbox: Sandbox) -> None:
    check = check_notebook(EXAMPLES / "stub.ipynb", sandbox=sandbox)
    assert check.result is not None and check.score == 0
    assert all(c.outcome is Outcome.ERROR for c in check.result.checks)
    assert check._repr_html_().count("is not implemented yet") == len(CATALOG)
    assert "Score: 0 / 100" in str(check)


def test_buggy_example_shows_where_it_diverges_with_a_plot(sandbox: Sandbox) -> None:
    check = check_notebook(EXAMPLES / "buggy-whh-transposed.ipynb", sandbox=sandbox)
    page = check._repr_html_()
    assert check.result is not None and 0 < check.score < 100
    assert "✘ failed" in page and 'src="data:image/svg+xml;base64,' in page


def test_missing_notebook_says_to_save_it_and_grades_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_hints: None
) -> None:
    monkeypatch.chdir(tmp_path)
    check = check_notebook()
    assert check.result is None and check.score == 0
    assert str(check).splitlines()[1].startswith(f"{ASSIGNMENT_FILENAME} was not found in")
    assert "Save the notebook first" in str(check) and "Save the notebook first" in repr(check)
    assert "check_notebook(&quot;your_notebook.ipynb&quot;)" in check._repr_html_()


# --- how it shows itself ---------------------------------------------------------------------


def test_html_escapes_student_text_everywhere() -> None:
    check = SelfCheck(notebook=Path("<b>nb</b>.ipynb"), result=hostile(), saved_at=0.0)
    page = check._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>nb</b>" not in page and "&lt;b&gt;nb&lt;/b&gt;" in page
    assert "\x1b" not in page and "\x00" not in page
    assert len(page) < 1_000_000  # messages and output are capped


def test_html_is_a_fragment_with_inline_styles_only() -> None:
    page = SelfCheck(notebook=Path("nb.ipynb"), result=mixed())._repr_html_()
    assert not re.search(r"<(html|head|body|style|script)\b", page)
    assert "Public cases only" not in page  # the sample's case set is the full one


def test_terminal_form_is_the_text_report() -> None:
    check = SelfCheck(notebook=Path("nb.ipynb"), result=mixed(), saved_at=0.0)
    assert str(check) == repr(check)
    assert str(check).startswith("Self-check of nb.ipynb, as saved at ")
    assert "rnn_forward.values" in str(check) and "<" not in str(check).split("\n", 1)[0]


def test_a_failing_public_case_gets_its_plot() -> None:
    result = mixed()
    trajectory = {"expected": [[0.1, 0.2], [0.3, 0.4]], "actual": [[0.1, 0.2], [0.5, 0.1]]}
    checks = tuple(
        dataclasses.replace(c, details={**c.details, "trajectory": trajectory})
        if c.id == "rnn_forward.values"
        else c
        for c in result.checks
    )
    page = SelfCheck(notebook=Path("nb.ipynb"), result=dataclasses.replace(result, checks=checks))
    assert 'src="data:image/svg+xml;base64,' in page._repr_html_()


# --- which notebook ---------------------------------------------------------------------------


def test_an_explicit_path_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    hinted = tmp_path / "hinted.ipynb"
    hinted.write_text("{}")
    monkeypatch.setenv(JUPYTER_HINT, str(hinted))
    assert find_notebook("mine.ipynb") == Path("mine.ipynb")


def test_vscode_hint_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    vscode, session = tmp_path / "vscode.ipynb", tmp_path / "session.ipynb"
    vscode.write_text("{}")
    session.write_text("{}")
    monkeypatch.setattr(sys.modules["__main__"], VSCODE_HINT, str(vscode), raising=False)
    monkeypatch.setenv(JUPYTER_HINT, str(session))
    assert find_notebook() == vscode


@pytest.mark.parametrize("session", ["{dir}/renamed.ipynb", "course/week3/renamed.ipynb"])
def test_jupyter_session_hint_absolute_or_relative_to_the_server_root(
    session: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_hints: None
) -> None:
    (tmp_path / "renamed.ipynb").write_text("{}")
    monkeypatch.chdir(tmp_path)  # the kernel starts in the notebook's folder
    monkeypatch.setenv(JUPYTER_HINT, session.format(dir=tmp_path))
    assert find_notebook().resolve() == (tmp_path / "renamed.ipynb").resolve()


def test_stale_hints_fall_back_to_the_assignment_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_hints: None
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        sys.modules["__main__"], VSCODE_HINT, str(tmp_path / "gone.ipynb"), raising=False
    )
    monkeypatch.setenv(JUPYTER_HINT, "gone.ipynb")
    assert find_notebook() == Path(ASSIGNMENT_FILENAME)


# --- in a real Jupyter kernel ----------------------------------------------------------------

HAVE_KERNEL = all(importlib.util.find_spec(m) for m in ("nbclient", "ipykernel"))


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_KERNEL, reason="needs nbclient and ipykernel (pip install them)")
def test_running_the_notebook_in_a_kernel_displays_the_html_table(tmp_path: Path) -> None:
    import nbclient

    shutil.copyfile(EXAMPLES / "buggy-whh-transposed.ipynb", tmp_path / ASSIGNMENT_FILENAME)
    notebook = nbformat.read(tmp_path / ASSIGNMENT_FILENAME, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})  # fmt: skip
    client.execute()
    (output,) = notebook.cells[-1].outputs
    assert output.output_type == "execute_result"
    assert "<code>rnn_forward.values</code>" in output.data["text/html"]
    assert "✘ failed" in output.data["text/html"]
    assert output.data["text/plain"].startswith("Self-check of rnn_forward.ipynb")
