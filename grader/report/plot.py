"""Hidden-state trajectory plots for the HTML report: matplotlib (Agg) to a PNG data: URI."""

from __future__ import annotations

import base64
import io
import math
from typing import Any

MAX_UNITS = 8  # hidden units drawn; more would be unreadable
MAX_STEPS = 64  # time steps drawn
LIMIT = 5.0  # |values| beyond this are clipped so one runaway unit cannot flatten the rest

Grid = list[list[float]]


def trajectory_png_uri(trajectory: Any, step: Any = None) -> str | None:
    """A `data:image/png;base64,...` plot of trajectory["actual"] against ["expected"].

    `trajectory` holds per-step, per-unit values of batch row 0; `step` (1-based) marks the first
    divergence. None when the data is malformed or matplotlib is not installed.
    """
    expected = _grid(trajectory.get("expected") if isinstance(trajectory, dict) else None)
    actual = _grid(trajectory.get("actual") if isinstance(trajectory, dict) else None)
    if not expected or actual is None:
        return None
    try:
        png = _draw(expected, actual, step if isinstance(step, int) else None)
    except ImportError:
        return None
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _grid(rows: Any) -> Grid | None:
    if not isinstance(rows, list):
        return None
    grid: Grid = []
    for row in rows[:MAX_STEPS]:
        if not isinstance(row, list):
            return None
        grid.append([_number(v) for v in row[:MAX_UNITS]])
    return grid


def _number(value: Any) -> float:
    try:
        number = float(value)  # also reads "NaN" / "Infinity" from the canonical JSON
    except (TypeError, ValueError):
        return math.nan
    return max(-LIMIT, min(LIMIT, number)) if not math.isnan(number) else number


def _draw(expected: Grid, actual: Grid, step: int | None) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(9, 4), dpi=80)
    # Fixed margins and a two-entry legend: tight_layout and a legend per unit tripled the cost.
    figure.subplots_adjust(left=0.08, right=0.98, top=0.93, bottom=0.13)
    axes = figure.subplots()
    units = max(len(row) for row in expected)
    for unit in range(units):
        colour = f"C{unit % 10}"
        _line(axes, expected, unit, colour, "-", "o", "reference (solid)" if unit == 0 else None)
        _line(axes, actual, unit, colour, "--", "x", "yours (dashed)" if unit == 0 else None)
    if step is not None:
        axes.axvline(step, color="#cf222e", linewidth=1, alpha=0.6)
        axes.annotate("first divergence", (step, 1.0), xycoords=("data", "axes fraction"),
                      fontsize=8, color="#cf222e", ha="left", va="top")  # fmt: skip
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("time step t")
    axes.set_ylabel("h_t (batch row 0)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="upper left")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _line(
    axes: Any, grid: Grid, unit: int, colour: str, style: str, marker: str, label: str | None
) -> None:
    points = [(t, row[unit]) for t, row in enumerate(grid, start=1) if unit < len(row)]
    if points:
        steps, values = zip(*points, strict=True)
        axes.plot(steps, values, linestyle=style, marker=marker, color=colour, label=label,
                  markersize=4, linewidth=1.4)  # fmt: skip
