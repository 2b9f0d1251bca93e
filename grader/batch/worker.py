"""A batch worker: one process owning its own sandbox and one Grader per assignment, fed jobs.

Run by the pool (`grader.batch.worker.main`). It speaks length-prefixed JSON frames
(`sandbox/frames.py`) on stdin/stdout: a config frame, then jobs, each naming the assignment that
grades it ("": none could be told); it answers a `ready` frame with what it grades each assignment
of the config with, then one `result` frame per job. Graders share the sandbox and are made on
first use. It never touches the gradebook or any file: the batch's main process
does that. Its zygote is forked right after `import torch`, before the config (and the grading
seed) is read.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import json
import os
import platform
import signal
from typing import TYPE_CHECKING, Any

from grader.sandbox import frames
from grader.settings import Limits

if TYPE_CHECKING:
    from grader.grading import GradeOptions, Grader
    from grader.results import GradeResult
    from grader.sandbox.client import Sandbox

FRAME_LIMIT = 1 << 30  # a job carries at most one notebook (50 MB) in base64
SANDBOX_ENV = "GRADER_WORKER_SANDBOX"  # JSON {"device", "limits"}: set by the pool


def main() -> None:
    """Serve jobs until stdin closes; replies go to the original stdout, nothing else may."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process decides when to stop
    requests, replies = os.dup(0), os.dup(1)
    os.dup2(2, 1)  # stray prints (torch warnings) must not corrupt the protocol
    # The main process may stop listening at any time (nothing left to do, or gone): stop quietly.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        _serve(requests, replies, _early_sandbox(_wanted()))
    os._exit(0)  # skip torch's slow interpreter teardown


def _serve(requests: int, replies: int, early: Sandbox | None) -> None:
    config = frames.read_frame(requests, limit=FRAME_LIMIT)
    if config is None:
        return
    try:
        graders = _graders(config, early)
        names = ("", *(str(name) for name in config.get("assignments", [])))
        identities = {name: _identity(graders, name) for name in names}
    except Exception as exc:  # a bad device, spec or installation: tell the main process
        frames.write_frame(replies, {"type": "failed", "error": f"{type(exc).__name__}: {exc}"})
        os._exit(1)
    try:
        ready = {"type": "ready", "pid": os.getpid(), "identities": identities}
        frames.write_frame(replies, ready)
        while (job := frames.read_frame(requests, limit=FRAME_LIMIT)) is not None:
            frames.write_frame(replies, _answer(graders, job))
    finally:
        graders.close()


class Graders:
    """One Grader per assignment, made on first use, all sharing this worker's one sandbox."""

    def __init__(self, options: GradeOptions, sandbox: Sandbox) -> None:
        self.options = options  # everything but the assignment
        self.sandbox = sandbox
        self._graders: dict[str, Grader] = {}

    def get(self, assignment: str) -> Grader:
        if assignment not in self._graders:
            from grader.grading import Grader

            options = dataclasses.replace(self.options, assignment=assignment)
            self._graders[assignment] = Grader(options, self.sandbox)  # it leaves ours open
        return self._graders[assignment]

    def renew_sandbox(self) -> None:
        """A fresh sandbox for every Grader, after the zygote failed several times in a row."""
        from grader.sandbox.client import Sandbox

        self.sandbox.close()
        self.sandbox = Sandbox(device=self.options.device, limits=self.options.limits)
        for grader in self._graders.values():
            grader.sandbox = self.sandbox

    def close(self) -> None:
        self.sandbox.close()


def _wanted() -> dict[str, Any]:
    """What the pool put in the scrubbed environment: device and limits."""
    try:
        wanted = json.loads(os.environ.get(SANDBOX_ENV, "null"))
    except ValueError:
        return {}
    return wanted if isinstance(wanted, dict) else {}


def _early_sandbox(wanted: dict[str, Any]) -> Sandbox | None:
    """Fork the zygote before the config, and its grading seed, is read: it then shares this
    process's torch instead of importing its own. The pool's scrubbed environment names the
    device and limits; without it (or off CPU) the zygote is spawned later instead."""
    try:
        if wanted.get("device") != "cpu":
            return None
        import torch  # noqa: F401  (imported before the fork, so both processes share it)

        from grader.sandbox.client import Sandbox

        return Sandbox(device="cpu", limits=Limits(**wanted["limits"]), fork=True)
    except Exception:  # any doubt: the zygote is spawned as in the single-grade path
        return None


def _graders(config: dict[str, Any], early: Sandbox | None) -> Graders:
    from grader.sandbox.client import Sandbox

    device, limits = str(config["device"]), _limits(config)
    sandbox = (
        early if early is not None and (early.device, early.limits) == (device, limits) else None
    )
    if early is not None and sandbox is None:
        early.close()
    if sandbox is None and device == "cpu":
        # Start the zygote first: it imports torch while this process does the same.
        sandbox = Sandbox(device="cpu", limits=limits)
    from grader.grading import GradeOptions, resolve_device

    options = GradeOptions(device=resolve_device(device), grading_seed=int(config["seed"]),
                           limits=limits)  # fmt: skip
    return Graders(options, sandbox or Sandbox(device=options.device, limits=options.limits))


def _limits(config: dict[str, Any]) -> Limits:
    return Limits(**config["limits"])


def _identity(graders: Graders, assignment: str) -> dict[str, Any]:
    """What the main process needs before it can tell graded from new: versions and a template."""
    if assignment:
        template = graders.get(assignment).grade_bytes(b"", name="")
    else:
        template = undecided(graders.options, "", b"", "")
    return {
        "grader_version": template.environment.grader_version,
        "case_set_id": template.environment.case_set_id,
        "template": template.to_dict(),
    }


def _answer(graders: Graders, job: dict[str, Any]) -> dict[str, Any]:
    name, assignment = str(job["name"]), str(job.get("assignment", ""))
    data: bytes | None = None
    try:
        if "data" in job:
            data = base64.b64decode(job["data"])
        if not assignment:
            reason = str(job.get("unreadable") or job.get("undecided", ""))
            result = undecided(graders.options, name, data or b"", reason)
        elif job.get("unreadable"):
            result = unreadable(graders.get(assignment), name, str(job["unreadable"]))
        else:
            result = _grade(graders, assignment, data or b"", name)
    except Exception as exc:  # a grader bug costs this submission, not the worker
        return {"type": "error", "id": job["id"], "error": f"{type(exc).__name__}: {exc}"}
    from grader.batch.exports import render_all

    formats = job.get("formats")
    chosen = None if formats is None else tuple(str(f) for f in formats)
    reports = render_all(result, data, chosen) if job.get("render") else {}
    return {"type": "result", "id": job["id"], "result": result.to_dict(), "reports": reports}


def _grade(graders: Graders, assignment: str, data: bytes, name: str) -> GradeResult:
    from grader.errors import SandboxError

    try:
        return graders.get(assignment).grade_bytes(data, name=name)
    except SandboxError:
        # The zygote failed several times in a row: start a fresh one and try once more.
        graders.renew_sandbox()
        return graders.get(assignment).grade_bytes(data, name=name)


def undecided(options: GradeOptions, name: str, data: bytes, reason: str) -> GradeResult:
    """The result for a notebook no assignment is told for: ungradable, no checks, the reason."""
    import torch

    from grader import __version__
    from grader.results import Environment, GradeResult, SubmissionInfo
    from grader.untrusted import clean_text

    environment = Environment(grader_version=__version__, torch_version=torch.__version__,
                              python_version=platform.python_version(), device=options.device,
                              case_set="", case_set_id="")  # fmt: skip
    sha256 = hashlib.sha256(data).hexdigest() if data else ""
    return GradeResult(submission=SubmissionInfo(path=clean_text(name), sha256=sha256), checks=(),
                       environment=environment, ungradable=reason)  # fmt: skip


def unreadable(grader: Grader, name: str, reason: str) -> GradeResult:
    """The result for a file whose bytes could not be read: ungradable, with the reason."""
    from grader.scoring import ungradable

    empty = grader.grade_bytes(b"", name=name)
    return dataclasses.replace(
        empty, ungradable=reason, checks=ungradable(f"ungradable: {reason}", grader.assignment.spec)
    )


if __name__ == "__main__":
    main()
