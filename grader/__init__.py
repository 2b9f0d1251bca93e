"""rnn-grader: a safe, fast, tensor-aware autograder for the simple-RNN notebook assignment."""

from __future__ import annotations

__version__ = "0.1.0"
