"""The HTML report: self-contained, escaped, with a trajectory plot; rendered by a real browser."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from report_samples import HOSTILE, hostile, mixed

from grader.checks import forward
from grader.report import RENDERERS
from grader.results import GradeResult, Outcome

render = RENDERERS["html"]
EXAMPLES = Path(__file__).parent.parent / "examples"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TRAJECTORY = {
    "expected": [[0.9123, -0.2853], [0.9988, 0.6723], [1.0, 0.8938]],
    "actual": [[0.9123, -0.2853], [0.95, 0.1], [float("nan"), 0.2]],
}


def with_trajectory() -> GradeResult:
    """The mixed sample whose rnn_forward.values carries a public-case trajectory."""
    result = mixed()
    checks = tuple(
        dataclasses.replace(
            c,
            details={
                **c.details,
                "trajectory": TRAJECTORY,
                "step_errors": [0.0, 0.5723, float("inf")],
            },
        )
        if c.id == "rnn_forward.values"
        else c
        for c in result.checks
    )
    return dataclasses.replace(result, checks=checks)


def test_report_is_one_self_contained_document() -> None:
    page = render(with_trajectory())
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "<style>" in page and "img-src data:" in page


def test_score_and_every_outcome_are_shown_differently() -> None:
    page = render(mixed())
    assert '<p class="score" id="score">56.5 / 100</p>' in page
    for outcome in Outcome:
        assert f'<tr class="{outcome.value}">' in page


def test_failing_value_check_gets_an_embedded_plot_and_step_table() -> None:
    page = render(with_trajectory())
    assert page.count('<img src="data:image/svg+xml;base64,') == 1
    assert "<th>max |error|</th>" in page and "<td>0.5723</td>" in page


def test_no_plot_without_a_trajectory() -> None:
    assert "<img" not in render(mixed())


def test_trajectory_is_not_listed_as_a_text_detail() -> None:
    page = render(with_trajectory())
    assert "trajectory" not in page.replace("hidden-state trajectories", "")


def test_student_text_is_escaped_everywhere() -> None:
    page = render(hostile())
    assert "<script>" not in page and "alert(1)</script>" not in page
    assert "&lt;script&gt;" in page
    assert "\x00" not in page and "\x1b" not in page and "\u202e" not in page


def test_malformed_trajectory_gives_no_plot_rather_than_a_crash() -> None:
    result = mixed()
    checks = tuple(
        dataclasses.replace(c, details={**c.details, "trajectory": {"expected": "x", "actual": 3}})
        if c.id == "rnn_forward.values"
        else c
        for c in result.checks
    )
    assert "<img" not in render(dataclasses.replace(result, checks=checks))


# --- the data behind the plot: public cases only ----------------------------------------------


def _divergence(public: bool) -> dict[str, Any]:
    expected = torch.tensor([[[0.5, -0.5], [0.25, 0.75]]], dtype=torch.float64)
    output = expected.clone().to(torch.float32)
    output[0, 1, 1] = 0.0
    obs: Any = SimpleNamespace(call=SimpleNamespace(label="case 1"))
    case: Any = SimpleNamespace(public=public)
    return forward._divergence(obs, case, 1, output, expected)


def test_public_divergence_carries_trajectory_and_step_errors() -> None:
    details = _divergence(public=True)
    assert details["step_errors"] == [0.0, 0.75]
    assert details["trajectory"] == {
        "expected": [[0.5, -0.5], [0.25, 0.75]],
        "actual": [[0.5, -0.5], [0.25, 0.0]],
    }
    assert details["expected"] == 0.75 and details["actual"] == 0.0


def test_hidden_divergence_never_carries_values() -> None:
    details = _divergence(public=False)
    assert details["step_errors"] == [0.0, 0.75]
    assert not {"trajectory", "expected", "actual"} & details.keys()


# --- a real browser ---------------------------------------------------------------------------


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}"]  # fmt: skip
    return subprocess.run(
        [CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_browser_renders_the_score_and_the_plot(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render(with_trajectory()), encoding="utf-8")
    shot = tmp_path / "report.png"
    _chromium(f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri(),
              profile=tmp_path / "profile-shot")  # fmt: skip
    assert shot.exists() and shot.read_bytes().startswith(b"\x89PNG")
    assert shot.stat().st_size > 20_000  # a blank page is a few kB
    dom = _chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile-dom").stdout
    assert '<p class="score" id="score">56.5 / 100</p>' in dom
    assert '<img src="data:image/svg+xml;base64,' in dom
    assert HOSTILE not in dom


def test_the_trajectory_plot_is_well_formed_svg_with_a_line_per_unit_and_side() -> None:
    import base64
    import xml.etree.ElementTree as ET

    from grader.report.plot import trajectory_uri

    expected = [[0.1 * t + u for u in range(3)] for t in range(5)]
    actual = [[-0.1 * t + u for u in range(3)] for t in range(5)]
    uri = trajectory_uri({"expected": expected, "actual": actual}, 2)
    assert uri is not None and uri.startswith("data:image/svg+xml;base64,")
    root = ET.fromstring(base64.b64decode(uri.split(",", 1)[1]))
    lines = root.findall("{http://www.w3.org/2000/svg}polyline")
    assert len(lines) == 6  # 3 units x (reference, student)
    assert "first divergence" in "".join(root.itertext())


def test_nan_breaks_the_student_line_instead_of_breaking_the_plot() -> None:
    from grader.report.plot import trajectory_uri

    actual = [[0.1], ["NaN"], [0.3], [0.4]]
    assert trajectory_uri({"expected": [[0.1], [0.2], [0.3], [0.4]], "actual": actual}) is not None
    assert trajectory_uri({"expected": "junk", "actual": []}) is None
