"""Hidden-state trajectory plots for the HTML reports: a small hand-written SVG as a data: URI.

SVG drawn directly costs well under a millisecond; matplotlib took about 100 ms a plot, which a
class of hundreds of failing notebooks pays in full. Vector output also stays sharp when zoomed.
"""

from __future__ import annotations

import base64
import math
from typing import Any
from xml.sax.saxutils import escape

MAX_UNITS = 8  # hidden units drawn; more would be unreadable
MAX_STEPS = 64  # time steps drawn
LIMIT = 5.0  # |values| beyond this are clipped so one runaway unit cannot flatten the rest
WIDTH, HEIGHT = 720, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 30, 40
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")

Grid = list[list[float]]


def trajectory_uri(trajectory: Any, step: Any = None) -> str | None:
    """A `data:image/svg+xml;base64,...` plot of trajectory["actual"] against ["expected"].

    `trajectory` holds per-step, per-unit values of batch row 0; `step` (1-based) marks the first
    divergence. None when the data is malformed.
    """
    expected = _grid(trajectory.get("expected") if isinstance(trajectory, dict) else None)
    actual = _grid(trajectory.get("actual") if isinstance(trajectory, dict) else None)
    if not expected or actual is None:
        return None
    svg = trajectory_svg(expected, actual, step if isinstance(step, int) else None)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")


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


class _Frame:
    """Maps (step, value) to pixels inside the plotting area."""

    def __init__(self, steps: int, low: float, high: float) -> None:
        self.steps, self.low, self.high = steps, low, high

    def x(self, step: float) -> float:
        span = max(self.steps - 1, 1)
        return LEFT + (step - 1) / span * (WIDTH - LEFT - RIGHT)

    def y(self, value: float) -> float:
        return TOP + (self.high - value) / (self.high - self.low) * (HEIGHT - TOP - BOTTOM)


def trajectory_svg(expected: Grid, actual: Grid, step: int | None) -> str:
    """The plot as an SVG document: one colour per unit, reference solid, student dashed."""
    values = [v for grid in (expected, actual) for row in grid for v in row if math.isfinite(v)]
    low, high = _range(values)
    frame = _Frame(max(len(expected), len(actual)), low, high)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}"'
        f' viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        *_axes(frame),
    ]
    units = max(len(row) for row in expected)
    for unit in range(units):
        colour = COLOURS[unit % len(COLOURS)]
        parts += _series(frame, expected, unit, colour, dashed=False)
        parts += _series(frame, actual, unit, colour, dashed=True)
    if step is not None and 1 <= step <= frame.steps:
        x = frame.x(step)
        parts.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{HEIGHT - BOTTOM}"'
                     ' stroke="#cf222e" stroke-width="1"/>')  # fmt: skip
        parts.append(f'<text x="{x + 3:.1f}" y="{TOP - 4}" fill="#cf222e">first divergence</text>')
    parts += _legend()
    parts.append("</svg>")
    return "".join(parts)


def _range(values: list[float]) -> tuple[float, float]:
    low, high = (min(values), max(values)) if values else (-1.0, 1.0)
    if high - low < 1e-9:
        low, high = low - 1.0, high + 1.0
    pad = (high - low) * 0.06
    return low - pad, high + pad


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def _axes(frame: _Frame) -> list[str]:
    bottom, right = HEIGHT - BOTTOM, WIDTH - RIGHT
    parts = []
    for value in _ticks(frame.low, frame.high):
        y = frame.y(value)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>')
    every = max(1, math.ceil(frame.steps / 16))
    for step in range(1, frame.steps + 1, every):
        x = frame.x(step)
        parts.append(f'<text x="{x:.1f}" y="{bottom + 15}" text-anchor="middle">{step}</text>')
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{right - LEFT}" height="{bottom - TOP}"'
                 ' fill="none" stroke="#888"/>')  # fmt: skip
    parts.append(f'<text x="{(LEFT + right) / 2:.0f}" y="{HEIGHT - 6}" text-anchor="middle">'
                 "time step t</text>")  # fmt: skip
    parts.append(f'<text transform="translate(14 {(TOP + bottom) / 2:.0f}) rotate(-90)"'
                 ' text-anchor="middle">h_t (batch row 0)</text>')  # fmt: skip
    return parts


def _series(frame: _Frame, grid: Grid, unit: int, colour: str, *, dashed: bool) -> list[str]:
    """A polyline per run of finite values (NaN breaks the line), with a marker per point."""
    points = [(t, row[unit]) for t, row in enumerate(grid, start=1) if unit < len(row)]
    runs: list[list[tuple[float, float]]] = [[]]
    for t, value in points:
        if math.isfinite(value):
            runs[-1].append((frame.x(t), frame.y(value)))
        elif runs[-1]:
            runs.append([])
    style = ' stroke-dasharray="6 4"' if dashed else ""
    parts = []
    for run in runs:
        if len(run) > 1:
            coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}"'
                         f' stroke-width="1.6"{style}/>')  # fmt: skip
        parts += [_marker(x, y, colour, dashed) for x, y in run]
    return parts


def _marker(x: float, y: float, colour: str, cross: bool) -> str:
    if cross:
        return (f'<path d="M{x - 3:.1f},{y - 3:.1f}L{x + 3:.1f},{y + 3:.1f}M{x - 3:.1f},{y + 3:.1f}'
                f'L{x + 3:.1f},{y - 3:.1f}" stroke="{colour}" stroke-width="1.4"/>')  # fmt: skip
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="{colour}"/>'


def _legend() -> list[str]:
    """One row above the plotting area, where it can never hide a line."""
    x, y = LEFT, 12
    return [
        f'<line x1="{x}" y1="{y}" x2="{x + 26}" y2="{y}" stroke="#444" stroke-width="1.6"/>',
        f'<text x="{x + 32}" y="{y + 4}">{escape("reference (solid)")}</text>',
        f'<line x1="{x + 150}" y1="{y}" x2="{x + 176}" y2="{y}" stroke="#444" stroke-width="1.6"'
        ' stroke-dasharray="6 4"/>',
        f'<text x="{x + 182}" y="{y + 4}">{escape("yours (dashed)")}</text>',
    ]
