"""Which part of a returned output is judged against which reference steps and rows."""

from __future__ import annotations

import torch

from grader.cases import Case
from grader.misconceptions import Replays


def judged(
    output: torch.Tensor | None,
    expected: torch.Tensor,
    case: Case,
    known: Replays,
    *,
    fused: bool,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """What output is compared with: lined up for rnn_forward, position by position for fused.

    rnn_forward.shape charges a wrong length once; the fused variant has no shape check of its
    own, so there a missing or extra step costs its values.
    """
    if output is None or output.shape[0] == 0:  # no row at all: nothing to judge, no credit
        return None, None
    if not fused:
        return lined_up(output, expected, case, known)
    return (output, expected) if output.shape[0] == case.dims[0] else (None, None)


def lined_up(
    output: torch.Tensor, expected: torch.Tensor, case: Case, known: Replays
) -> tuple[torch.Tensor, torch.Tensor]:
    """The part of output that has a reference step and row to compare with, and those.

    Extra or missing steps and rows cost the shape check's points; here the steps present are
    judged against the reference steps they stand for (after an h0 put first, in particular).
    """
    batch, steps, _, _ = case.dims
    if output.shape[:2] == (steps, batch) and steps != batch:
        output = output.transpose(0, 1)  # time-first: the shape check charges the layout
    offset = known.step_offset(case, output)
    rows = min(output.shape[0], batch)
    count = max(0, min(steps, output.shape[1] - offset))
    return output[:rows, offset : offset + count], expected[:rows, :count]
