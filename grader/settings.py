"""Defaults in one place: the CLI and the Python API both read them here."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

SCHEMA_VERSION = 1

# Grading seed used when the instructor keeps none secret (GRADER_SEED or --seed-file override it).
DEFAULT_GRADING_SEED = 20261128
# Seed of the public random cases: public by definition, shown in feedback.
PUBLIC_SEED = 7
HIDDEN_CASE_COUNT = 10


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Resource limits for one submission's sandboxed child."""

    submission_seconds: float = 60.0  # wall clock for the whole submission, restarts included
    call_seconds: float = 10.0  # wall clock for one call of a student function
    setup_seconds: float = 30.0  # child start: protections, device warm-up, the module's top level
    memory_mb: int = 1024  # address space the child may add on top of torch's own
    file_size_mb: int = 16  # largest file the child may write
    open_files: int = 256  # descriptors the child may hold
    output_chars: int = 20_000  # captured stdout+stderr kept per submission
    result_bytes: int = 16 * 1024 * 1024  # largest result stream read back from the child
    max_tensor_elements: int = 1_000_000  # largest tensor accepted back from the child


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, kw_only=True)
class Tolerance:
    """allclose tolerances for comparing against the float64 reference."""

    rtol: float
    atol: float


TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(rtol=1e-7, atol=1e-9),
    "float32": Tolerance(rtol=1e-4, atol=1e-5),
}

# Batch grading (`python -m grader batch`).


def default_workers() -> int:
    """One worker per CPU this process may use: a worker, its zygote and the child keep a
    CPU busy between them (the zygote reaps a finished child while the next one works).

    Measured on 2 cores, 500 notebooks, three runs each: 2 workers 27.5 / 34.8 / 29.2 per s,
    3 workers 28.3 / 27.4 / 27.2 per s, and the third worker costs ~0.6 GB of RSS.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024  # larger files are ungradable, in grade and batch alike
MAX_NOTEBOOK_DEPTH = 200  # JSON nesting a notebook may have (nbformat itself needs about 8)
MAX_CODE_CHARS = 1_000_000  # code parsed from one notebook: a course notebook holds ~20,000
MAX_CODE_CELLS = 10_000  # code cells read from one notebook: a course notebook has ~30
MAX_NESTED_ZIP_BYTES = 512 * 1024 * 1024  # a zip inside the class zip is opened up to this size
BATCH_WORKER_SLACK_SECONDS = 60.0  # past the sandbox's own limit, a silent worker is killed
BATCH_PROGRESS_SECONDS = 10.0  # how often non-terminal progress lines are printed


# A grading seed given as digits is read as that integer up to this many digits (int() refuses
# very long digit strings); longer ones, like any other text, are hashed.
SEED_DIGITS = 200


def seed_from_text(text: str) -> int:
    """Any secret string -> the grading seed, an integer of which every bit matters downstream.

    Surrounding whitespace is ignored. Plain decimal digits are that integer (so "42" is 42);
    anything else is SHA-256 of its UTF-8 bytes, a 256-bit integer: every byte of the secret
    changes the hidden cases, and a secret needs 128 bits of entropy or more to stay one.
    """
    text = text.strip()
    if text.isascii() and text.isdigit() and len(text) <= SEED_DIGITS:
        return int(text)
    data = text.encode("utf-8", "surrogatepass")  # a lone surrogate is still a byte sequence
    return int.from_bytes(hashlib.sha256(data).digest(), "big")
