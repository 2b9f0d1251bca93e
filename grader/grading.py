"""The whole pipeline for one notebook: extract -> sandbox -> observations -> checks -> result."""

from __future__ import annotations

import hashlib
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from grader import __version__, plan
from grader.cases import CaseSet
from grader.checks import Context
from grader.errors import NotebookError, UsageError
from grader.extract import extract, load_notebook
from grader.load import Assignment, choose_assignment, find_assignment, load_assignment
from grader.misconceptions import Replays
from grader.observations import observe
from grader.recording import Recorded
from grader.reference import Expected, expected_for
from grader.results import Environment, GradeResult, SubmissionInfo
from grader.sandbox.client import Sandbox
from grader.scoring import score, ungradable
from grader.settings import DEFAULT_GRADING_SEED, DEFAULT_LIMITS, MAX_NOTEBOOK_BYTES, Limits
from grader.untrusted import clean_text
from grader.withhold import withhold_hidden


@dataclass(frozen=True, kw_only=True)
class GradeOptions:
    """How to grade: which cases, on which device, under which limits."""

    public_only: bool = False  # only the public cases (the student's self-check)
    device: str = "cpu"  # "cpu" or "cuda[:N]" ("auto" is resolved by resolve_device)
    grading_seed: int = DEFAULT_GRADING_SEED  # derives the hidden cases
    limits: Limits = DEFAULT_LIMITS  # sandbox limits
    assignment: str = ""  # which assignment (a folder name under solutions/); "": the only one


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when a GPU is usable, else 'cpu'; UsageError for unusable choices."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but torch sees no CUDA GPU here")
    if device != "cpu" and not device.startswith("cuda"):
        raise UsageError(f"unknown device {device!r}: use cpu, cuda or auto")
    return device


class Grader:
    """Grades many submissions against one case set, computing the reference answers once."""

    def __init__(
        self,
        options: GradeOptions = GradeOptions(),
        sandbox: Sandbox | None = None,
        assignment: Assignment | None = None,
    ):
        self.options = options
        self._own_sandbox = sandbox is None
        # The zygote first: spawned or forked before this process loads the reference.
        self.sandbox = sandbox or Sandbox(device=options.device, limits=options.limits)
        try:
            self.assignment = assignment or load_assignment(find_assignment(options.assignment))
            spec = self.assignment.spec  # a student release's refuses hidden cases: UsageError
            self.cases: CaseSet = (
                spec.public_cases()
                if options.public_only
                else spec.full_cases(options.grading_seed)
            )
        except BaseException:
            self.close()
            raise
        self.case_set_id = self.cases.id
        self.planned = plan.plan(self.cases, self.assignment.spec)
        self.expected, self.known = _answers(self.assignment, self.planned)  # replays, once
        self.encoded = plan.encode(self.planned)
        self.openings = tuple(m.raises for m in spec.mistakes if m.raises)  # fixed words only

    def grade_path(self, path: Path) -> GradeResult:
        """Grade a notebook file; unreadable files give an ungradable result, not an exception."""
        try:
            with path.open("rb") as file:  # never more than the cap, even if the file grows
                data = file.read(MAX_NOTEBOOK_BYTES + 1)
        except OSError as exc:
            return self._ungradable(
                str(path), b"", f"cannot read the file: {exc.strerror}", time.perf_counter()
            )
        return self.grade_bytes(data, name=str(path))  # load_notebook refuses what is too large

    def grade_bytes(self, data: bytes, *, name: str = "submission.ipynb") -> GradeResult:
        """Grade notebook bytes: the pipeline of the README, stage by stage."""
        began = time.perf_counter()
        try:
            notebook = load_notebook(data)
        except NotebookError as exc:
            return self._ungradable(name, data, exc.reason, began)
        extracted = extract(notebook, self.assignment.spec.function_names)
        job = plan.job(extracted, self.encoded, self.options.device)
        reply = self.sandbox.run(job) if job.calls else {}
        observations = observe(self.planned, reply, missing=extracted.missing,
                               max_elements=self.options.limits.max_tensor_elements)  # fmt: skip
        # No student text of hidden calls past here, but the spec's declared exception openings.
        observations = withhold_hidden(observations, self.openings)
        context = Context(observations=observations, cases=self.cases, expected=self.expected,
                          extracted=extracted, device=self.options.device,
                          spec=self.assignment.spec, known=self.known)  # fmt: skip
        return GradeResult(
            submission=_info(name, data),
            checks=score(context),
            environment=self._environment(observations.active, observations.missing),
            problems=(*extracted.problems, *observations.problems),
            output=observations.output,
            duration=_duration(time.perf_counter() - began, hidden=not self.options.public_only),
        )

    def _ungradable(self, name: str, data: bytes, reason: str, began: float) -> GradeResult:
        return GradeResult(
            submission=_info(name, data),
            checks=ungradable(f"ungradable: {reason}", self.assignment.spec),
            environment=self._environment((), ()),
            ungradable=reason,
            duration=round(time.perf_counter() - began, 4),
        )

    def _environment(self, active: tuple[str, ...], missing: tuple[str, ...]) -> Environment:
        return Environment(
            grader_version=__version__,
            torch_version=torch.__version__,
            python_version=platform.python_version(),
            device=self.options.device,
            case_set=self.cases.name,
            case_set_id=self.case_set_id,
            assignment=self.assignment.spec.name,
            protections=active,
            missing_protections=missing,
        )

    def close(self) -> None:
        if self._own_sandbox:
            self.sandbox.close()

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _answers(
    assignment: Assignment, planned: tuple[plan.PlannedCall, ...]
) -> tuple[Expected, Replays]:
    """The reference's answers and mistakes' replays; a student release's are recorded ones."""
    if isinstance(assignment, Recorded):
        return assignment.expected, assignment.replays
    expected = expected_for(planned, assignment.spec, assignment.reference)
    return expected, Replays(assignment.spec, assignment.reference)


def _duration(seconds: float, *, hidden: bool) -> float:
    """Seconds taken; whole seconds when hidden cases ran (a student can sleep to spell data)."""
    return float(round(seconds)) if hidden else round(seconds, 4)


def _info(name: str, data: bytes) -> SubmissionInfo:
    # A file name that is not UTF-8 (surrogate escapes) must not break a report or the gradebook.
    digest = hashlib.sha256(data).hexdigest() if data else ""
    return SubmissionInfo(path=clean_text(name), sha256=digest)


def grade_bytes(
    data: bytes,
    *,
    name: str = "submission.ipynb",
    public_only: bool = False,
    sandbox: Sandbox | None = None,
    device: str = "cpu",
    assignment: str = "",
) -> GradeResult:
    """Grade one notebook's bytes (convenience for the Python API and tests), by `assignment`,
    else the one the notebook declares or whose functions it defines."""
    chosen = choose_assignment(data, assignment)
    options = GradeOptions(public_only=public_only, device=device, assignment=chosen)
    with Grader(options, sandbox) as grader:
        return grader.grade_bytes(data, name=name)
