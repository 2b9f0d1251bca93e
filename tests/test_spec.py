"""Assignment specs: the RNN's spec declares exactly today's catalog, hints and signatures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from grader import misconceptions, plan
from grader.catalog import CATALOG, FUNCTIONS
from grader.load import SOLUTIONS, assignment_names, load_spec
from grader.spec import Check, Replay

RNN = SOLUTIONS / "rnn_forward"


def test_rnn_spec_declares_todays_catalog_ids_points_and_titles() -> None:
    spec = load_spec(RNN)
    declared = [(c.id, c.points, c.title) for c in spec.checks]
    assert declared == [(c.id, c.points, c.title) for c in CATALOG]
    assert spec.max_score == 100


def test_rnn_spec_declares_the_five_functions_and_their_arguments() -> None:
    spec = load_spec(RNN)
    assert spec.function_names == FUNCTIONS
    assert {f.name: f.args for f in spec.functions} == plan.ARG_NAMES


def test_rnn_spec_hints_are_todays_hints() -> None:
    spec = load_spec(RNN)
    known = {m.name: m.hint for m in misconceptions.KNOWN} | misconceptions.HINTS
    assert {m.id: m.hint for m in spec.mistakes} == known
    fused_only = {m.name for m in misconceptions.KNOWN if m.fused_only}
    assert {m.id for m in spec.mistakes if m.only == ("rnn_forward_fused",)} == fused_only


def test_rnn_spec_recognises_exceptions_as_todays_known_errors() -> None:
    spec = load_spec(RNN)
    raising = {m.id: m.raises for m in spec.mistakes if m.raises}
    today = {k.name: f"{k.exception}: {k.starts}" for k in misconceptions.KNOWN_ERRORS}
    assert raising == today


def test_rnn_spec_is_under_150_lines() -> None:
    assert len((RNN / "spec.py").read_text().splitlines()) < 150


def test_loading_a_spec_never_puts_its_folder_on_sys_path() -> None:
    before = list(sys.path)
    load_spec(RNN)
    assert sys.path == before
    assert not any(Path(p).resolve() == RNN.resolve() for p in sys.path if p)


def test_the_rnn_is_an_assignment_folder() -> None:
    assert "rnn_forward" in assignment_names()


def test_a_check_of_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        Check(id="f.x", points=1, title="t", kind="vibes", function="f")


def test_a_replay_must_say_exactly_one_way_to_replay() -> None:
    with pytest.raises(ValueError, match="one"):
        Replay()
    with pytest.raises(ValueError, match="unknown output change"):
        Replay(output="reverse")
