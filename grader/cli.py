"""The command line: the only module that reads argv, the environment, files and sets exit codes."""

from __future__ import annotations

import argparse
import enum
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from grader import __version__
from grader.errors import GraderError, UsageError
from grader.settings import default_workers

if TYPE_CHECKING:
    from grader.grading import Grader
    from grader.results import GradeResult
    from grader.sandbox.client import Sandbox

FORMATS = ("text", "json", "gradescope", "junit", "markdown", "html", "github")
SEED_VARIABLE = "GRADER_SEED"


class ExitCode(enum.IntEnum):
    """Process exit codes (DESIGN.md §6)."""

    PASSED = 0  # every check passed
    FAILED = 1  # some check failed, errored or timed out
    UNGRADABLE = 2  # the submission could not be graded; a report was still written
    INTERNAL = 3  # the grader itself failed
    USAGE = 4  # bad command line


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m grader", description=__doc__)
    parser.add_argument("--version", action="version", version=f"rnn-grader {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    grade = commands.add_parser("grade", help="grade notebooks on all cases (public + hidden)")
    check = commands.add_parser("check", help="the student's self-check: public cases only")
    for sub in (grade, check):
        sub.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK")
        sub.add_argument("--format", choices=FORMATS, default="text", help="report format")
        sub.add_argument("--out", type=Path, help="write the report here (a folder for several)")
        sub.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    grade.add_argument(
        "--seed-file",
        type=Path,
        help=f"file holding the secret grading seed (else ${SEED_VARIABLE}, else the default)",
    )
    assign = commands.add_parser("assign", help="make the student notebook from the solution")
    assign.add_argument("solution", type=Path, metavar="SOLUTION_NOTEBOOK")
    assign.add_argument("--out", type=Path, required=True, help="folder for rnn_forward.ipynb")
    _batch_parser(commands)
    _gradescope_parser(commands)
    return parser


def _batch_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    batch = commands.add_parser("batch", help="grade a class: a folder or zip of notebooks")
    batch.add_argument("source", type=Path, metavar="DIR_OR_ZIP")
    batch.add_argument("--out", type=Path, required=True, help="folder for gradebook and exports")
    batch.add_argument("--workers", type=int, default=default_workers(),
                       help="worker processes (default: one per CPU)")  # fmt: skip
    batch.add_argument("--regrade", action="store_true", help="grade again what is graded")
    batch.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    batch.add_argument("--seed-file", type=Path, help=f"secret seed (else ${SEED_VARIABLE})")


def _gradescope_parser(commands: argparse._SubParsersAction[_Parser]) -> None:
    bundle = commands.add_parser("gradescope", help="build the Gradescope autograder zip")
    bundle.add_argument("--out", type=Path, required=True, help="the zip to write")
    bundle.add_argument("--seed-file", type=Path, help="secret seed (else a fresh random one)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script passes it to sys.exit)."""
    try:
        args = build_parser().parse_args(argv)
        if args.command == "assign":
            return _assign(args)
        if args.command == "batch":
            return _batch(args)
        if args.command == "gradescope":
            return _gradescope(args)
        return _grade(args)
    except UsageError as exc:
        print(f"error: {exc}\n(run `python -m grader --help` for usage)", file=sys.stderr)
        return ExitCode.USAGE
    except (GraderError, OSError) as exc:
        print(f"internal error: {exc}", file=sys.stderr)
        return ExitCode.INTERNAL
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERNAL


def _assign(args: argparse.Namespace) -> int:
    from grader.assign import write_assignment

    path = write_assignment(args.solution, args.out)
    print(f"wrote {path}")
    return ExitCode.PASSED


def _gradescope(args: argparse.Namespace) -> int:
    from grader.bundle import SEED, build_bundle

    bundle = build_bundle(args.out, seed_file=args.seed_file)
    print(f"wrote {bundle.path}")
    if bundle.seed_generated:
        print(f"grading seed: a fresh secret, stored as {SEED} inside {bundle.path}; keep the"
              " zip private, and pass that file as --seed-file to regrade or rebuild with the"
              " same hidden cases", file=sys.stderr)  # fmt: skip
    return ExitCode.PASSED


def _batch(args: argparse.Namespace) -> int:
    from grader.batch import BatchOptions, run_batch
    from grader.progress import ProgressPrinter, final_line

    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} is a file; give a folder")
    options = BatchOptions(out=args.out, workers=args.workers, regrade=args.regrade,
                           device=args.device, grading_seed=_seed(args, public=False))  # fmt: skip
    printer = ProgressPrinter(sys.stderr, tty=sys.stderr.isatty())
    summary = run_batch(args.source, options, printer.update)
    print(final_line(summary, str(args.out)), file=sys.stderr)
    if summary.interrupted or summary.failed:
        return ExitCode.INTERNAL
    return ExitCode.PASSED


def _grade(args: argparse.Namespace) -> int:
    _validate(args)
    sandbox = _early_sandbox(args.device)  # starts importing torch in the fork server meanwhile
    from grader.grading import GradeOptions, Grader, resolve_device
    from grader.sandbox.client import Sandbox

    try:
        device = resolve_device(args.device)
        public = args.command == "check"
        options = GradeOptions(public_only=public, device=device, grading_seed=_seed(args, public))
        with Grader(options, sandbox or Sandbox(device=device, limits=options.limits)) as grader:
            codes = [_grade_one(grader, path, args) for path in args.notebooks]
    finally:
        if sandbox is not None:
            sandbox.close()
    return max(codes)


def _early_sandbox(device: str) -> Sandbox | None:
    if device != "cpu":
        return None  # 'auto' and 'cuda' need torch in this process to be resolved first
    from grader.sandbox.client import Sandbox

    return Sandbox(device="cpu")


def _validate(args: argparse.Namespace) -> None:
    for path in args.notebooks:
        if not path.exists():
            raise UsageError(f"no such file: {path}")
        if path.is_dir():
            raise UsageError(f"{path} is a folder; `grade` takes notebook files")
    if args.out is not None and len(args.notebooks) > 1 and args.out.is_file():
        raise UsageError("--out must be a folder when grading several notebooks")


def _seed(args: argparse.Namespace, public: bool) -> int:
    from grader.settings import DEFAULT_GRADING_SEED, seed_from_text

    if public:
        return DEFAULT_GRADING_SEED  # unused: public cases derive from the public seed only
    if getattr(args, "seed_file", None) is not None:
        try:
            return seed_from_text(args.seed_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:  # as the Gradescope bundle: text, UTF-8
            raise UsageError(f"cannot read the seed file: {exc}") from exc
    text = os.environ.get(SEED_VARIABLE)
    return seed_from_text(text) if text else DEFAULT_GRADING_SEED


def _grade_one(grader: Grader, path: Path, args: argparse.Namespace) -> int:
    from grader.report import SUFFIXES, render

    result = grader.grade_path(path)
    if args.format == "github":  # annotations point into the notebook's JSON, so need its bytes
        from grader.report import github

        text = github.render(result, path.read_bytes())
    else:
        text = render(result, args.format)
    if args.out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        target = args.out
        if len(args.notebooks) > 1:
            args.out.mkdir(parents=True, exist_ok=True)
            target = args.out / f"{path.stem}{SUFFIXES.get(args.format, '.txt')}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return exit_code(result)


def exit_code(result: GradeResult) -> int:
    if result.ungradable is not None:
        return ExitCode.UNGRADABLE
    if any(c.details.get("internal") for c in result.checks):
        return ExitCode.INTERNAL  # the report was written and says which check broke
    return ExitCode.PASSED if result.all_passed else ExitCode.FAILED
