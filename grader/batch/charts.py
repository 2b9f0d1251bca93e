"""The class's score histogram and per-check pass rates as PNG, drawn headless from summary data.

matplotlib is used through `Figure` and the Agg canvas only: no pyplot state, no display needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

HISTOGRAM_PNG = "score_histogram.png"
PASS_RATES_PNG = "check_pass_rates.png"


def draw(summary: dict[str, Any], out: Path) -> tuple[Path, ...]:
    """Both charts into `out`; returns their paths."""
    return (_histogram(summary, out / HISTOGRAM_PNG), _pass_rates(summary, out / PASS_RATES_PNG))


def _histogram(summary: dict[str, Any], path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    bins = summary["score"]["histogram"]
    figure = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    width = bins[0]["to"] - bins[0]["from"] if bins else 1.0
    axes.bar(
        [b["from"] for b in bins],
        [b["count"] for b in bins],
        width=width,
        align="edge",
        color="#4878a8",
        edgecolor="white",
    )
    axes.set_xlabel(f"score (out of {summary['score']['max_score']:g})")
    axes.set_ylabel("students")
    axes.set_title(f"Scores of {summary['students']} students")
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path


def _pass_rates(summary: dict[str, Any], path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    checks = list(reversed(summary["checks"]))  # contract order, top to bottom
    figure = Figure(figsize=(7, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    rates = [100 * c["pass_rate"] for c in checks]
    axes.barh([c["id"] for c in checks], rates, color="#59a14f")
    axes.set_xlim(0, 100)
    axes.set_xlabel("students passing (%)")
    axes.set_title("Pass rate per check")
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path
