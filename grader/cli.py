"""The command line: the only module that reads argv, the environment, files and sets exit codes."""
# The parser's description and epilogs are the user's help; this docstring is the developer's.

from __future__ import annotations

import argparse
import enum
import functools
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from grader import __version__
from grader.errors import GraderError, UsageError
from grader.settings import default_workers

if TYPE_CHECKING:
    from grader.grading import Grader
    from grader.results import GradeResult
    from grader.sandbox.client import Sandbox

FORMATS = ("text", "json", "gradescope", "junit", "markdown", "html", "github", "classroom",
           "notebook", "notebook-html")  # fmt: skip
SEED_VARIABLE = "GRADER_SEED"
ASSIGNMENT_HELP = ("which assignment: a folder name under solutions/ or a path to an assignment"
                   " folder (default: the notebook's metadata, else the only one)")  # fmt: skip

DESCRIPTION = """\
rnn-grader: grade Jupyter notebooks of PyTorch assignments, each a folder under solutions/ (here
"A Simple RNN from Scratch" and "LSTM from Scratch"). Student code runs in a sandbox, on seeded
cases; reports say where an answer goes wrong, by how much and, for known mistakes, what to look at.

Run `python -m grader COMMAND --help` for a command's options."""
GRADE_EXIT_CODES = """\
exit codes:
  0  every check passed
  1  some check failed, errored or timed out
  2  the submission could not be graded (a report is still written)
  3  internal error: the grader itself failed
  4  usage error: bad arguments, or a file that cannot be read or written"""
BATCH_EXIT_CODES = """\
exit codes:
  0  every submission got a grade (failing grades included)
  3  the grader failed on some submissions (listed in the summary), or the batch was interrupted
  4  usage error: bad arguments, or a folder that cannot be read or written"""
WRITE_EXIT_CODES = """\
exit codes:
  0  written
  3  internal error: the grader itself failed
  4  usage error: bad arguments, or a file that cannot be read or written"""
EPILOG = f"""\
exit codes of grade and check:
{GRADE_EXIT_CODES.split(chr(10), 1)[1]}
batch: 0 every submission graded, 3 grader failure or interrupted, 4 usage error.
assign, gradescope, release, render: 0 written, 3 internal error, 4 usage error."""


class ExitCode(enum.IntEnum):
    """Process exit codes (DESIGN.md §6)."""

    PASSED = 0  # every check passed
    FAILED = 1  # some check failed, errored or timed out
    UNGRADABLE = 2  # the submission could not be graded; a report was still written
    INTERNAL = 3  # the grader itself failed
    USAGE = 4  # bad command line


class OutputError(UsageError):
    """An output path that cannot be written: a plain I/O message, exit 4."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


_Commands: TypeAlias = "argparse._SubParsersAction[_Parser]"  # not subscriptable at run time


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m grader", description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--version", action="version", version=f"rnn-grader {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     title="commands", parser_class=_Parser)  # fmt: skip
    _grade_parsers(commands)
    _assign_parser(commands)
    _batch_parser(commands)
    _gradescope_parser(commands)
    _render_parser(commands)
    _release_parser(commands)
    return parser


def _command(commands: _Commands, name: str, summary: str, epilog: str) -> _Parser:
    return commands.add_parser(name, help=summary, description=summary, epilog=epilog,
                               formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip


def _grade_parsers(commands: _Commands) -> None:
    grade = _command(commands, "grade", "grade notebooks on all cases (public + hidden)",
                     GRADE_EXIT_CODES)  # fmt: skip
    check = _command(commands, "check", "the student's self-check: public cases only",
                     GRADE_EXIT_CODES)  # fmt: skip
    for sub in (grade, check):
        sub.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK")
        sub.add_argument("--format", choices=FORMATS, default="text", help="report format")
        sub.add_argument("--out", type=Path, help="write the report here (a folder for several,"
                         " one report per notebook, named after its path)")  # fmt: skip
        sub.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
        sub.add_argument("--assignment", default="", help=ASSIGNMENT_HELP)
    grade.add_argument(
        "--seed-file",
        type=Path,
        help=f"file holding the secret grading seed (else ${SEED_VARIABLE}, else the default)",
    )


def _assign_parser(commands: _Commands) -> None:
    assign = _command(commands, "assign", "make the student notebook from the solution",
                      WRITE_EXIT_CODES)  # fmt: skip
    assign.add_argument("solution", type=Path, metavar="SOLUTION_NOTEBOOK")
    out_help = "the .ipynb file to write, or a folder to get the notebook the spec names"
    assign.add_argument("--out", type=Path, required=True, help=out_help)
    assign.add_argument("--no-execute", action="store_true",
                        help="skip running the solution in a Jupyter kernel first")  # fmt: skip
    assign.add_argument("--cell-timeout", type=int, default=120, metavar="SECONDS",
                        help="per-cell limit when running the solution (default 120)")  # fmt: skip


def _render_parser(commands: _Commands) -> None:
    render = _command(commands, "render", "render a saved `--format json` report in another"
                      " format (grades nothing, imports no torch)", WRITE_EXIT_CODES)  # fmt: skip
    render.add_argument("report", type=Path, metavar="REPORT_JSON")
    render.add_argument("--format", choices=FORMATS, default="text", help="report format")
    render.add_argument("--out", type=Path, help="write the report here (default: stdout)")


def _batch_parser(commands: _Commands) -> None:
    batch = _command(commands, "batch", "grade a class: a folder or zip of notebooks",
                     BATCH_EXIT_CODES)  # fmt: skip
    batch.add_argument("source", type=Path, metavar="DIR_OR_ZIP")
    batch.add_argument("--out", type=Path, required=True, help="folder for gradebook and exports")
    batch.add_argument("--workers", type=int, default=default_workers(),
                       help="worker processes (default: one per CPU)")  # fmt: skip
    batch.add_argument("--regrade", action="store_true", help="grade again what is graded")
    batch.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    batch.add_argument("--seed-file", type=Path, help=f"secret seed (else ${SEED_VARIABLE})")
    batch.add_argument("--reports", metavar="FORMATS", help="report formats written for each"
                       " student, comma-separated (default: all: text,json,gradescope,junit,"
                       "markdown,html,notebook,notebook-html)")  # fmt: skip
    batch.add_argument("--assignment", default="", help="the assignment of notebooks whose metadata"
                       " names none (default: told by the functions each defines)")  # fmt: skip


def _gradescope_parser(commands: _Commands) -> None:
    bundle = _command(commands, "gradescope", "build the Gradescope autograder zip",
                      WRITE_EXIT_CODES)  # fmt: skip
    bundle.add_argument("--out", type=Path, required=True, help="the zip to write")
    bundle.add_argument("--seed-file", type=Path, help="secret seed (else a fresh random one)")
    bundle.add_argument("--assignment", default="", help="which assignment (default: the only one)")


def _release_parser(commands: _Commands) -> None:
    release = _command(commands, "release", "write a release: DIR/student/ (notebooks, the grader"
                       " wheel with the public data, README.txt) and DIR/autograder/ (Gradescope"
                       " bundles, instructor material)", WRITE_EXIT_CODES)  # fmt: skip
    release.add_argument("--out", type=Path, required=True, metavar="DIR",
                         help="the folder to write student/ and autograder/ into")  # fmt: skip
    release.add_argument("--assignment", action="append", default=[], metavar="NAME",
                         help="an assignment to release (repeat for several; default: every"
                         " one under solutions/)")  # fmt: skip
    release.add_argument("--no-execute", action="store_true",
                         help="skip running each solution in a Jupyter kernel first")  # fmt: skip
    release.add_argument("--cell-timeout", type=int, default=120, metavar="SECONDS",
                         help="per-cell limit when running a solution (default 120)")  # fmt: skip
    release.add_argument(
        "--seed-file", type=Path, help="secret grading seed for the bundles (else a fresh one each)"
    )


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
        if args.command == "render":
            return _render(args)
        if args.command == "release":
            return _release(args)
        return _grade(args)
    except OutputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
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
    from grader.assign import output_path, write_assignment

    _check_target(output_path(args.out, args.solution))
    path = write_assignment(args.solution, args.out, verify=None if args.no_execute else
                            functools.partial(_preflight, timeout=args.cell_timeout))  # fmt: skip
    print(f"wrote {path}")
    return ExitCode.PASSED


def _preflight(solution: Path, *, timeout: int) -> None:
    from grader.preflight import verify_solution

    verify_solution(solution, timeout=timeout)
    print(f"ran {solution} in a Jupyter kernel: every cell ran, the hidden states match the"
          " course notebook, the self-check gives full marks")  # fmt: skip


def _release(args: argparse.Namespace) -> int:
    from grader.release import release

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    verify = None if args.no_execute else functools.partial(_preflight, timeout=args.cell_timeout)
    done = release(args.out, assignments=args.assignment, verify=verify, seed_file=args.seed_file,
                   progress=progress)  # fmt: skip
    print(f"wrote {done.student} (give this to students) and {done.autograder} (keep it private)")
    if done.seeds_generated:
        print("grading seeds: fresh secrets, one inside each bundle; keep autograder/ private",
              file=sys.stderr)  # fmt: skip
    return ExitCode.PASSED


def _gradescope(args: argparse.Namespace) -> int:
    from grader.bundle import SEED, build_bundle

    _check_target(args.out)  # before the wheel build, which takes seconds
    bundle = build_bundle(args.out, seed_file=args.seed_file, assignment=args.assignment)
    print(f"wrote {bundle.path}")
    if bundle.seed_generated:
        print(f"grading seed: a fresh secret, stored as {SEED} inside {bundle.path}; keep the"
              " zip private, and pass that file as --seed-file to regrade or rebuild with the"
              " same hidden cases", file=sys.stderr)  # fmt: skip
    return ExitCode.PASSED


def _batch(args: argparse.Namespace) -> int:
    from grader.batch import BatchOptions, run_batch
    from grader.batch.progress import ProgressPrinter, final_line

    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} is a file; give a folder")
    _check_target(args.out / "gradebook.sqlite")  # creates nothing: a bad source writes nothing
    from grader.load import find_assignment

    if args.assignment:  # else each notebook's own; an unknown one: a usage error before workers
        find_assignment(args.assignment)
    options = BatchOptions(out=args.out, workers=args.workers, regrade=args.regrade,
                           device=args.device, grading_seed=_seed(args, public=False),
                           assignment=args.assignment, reports=_reports(args.reports))  # fmt: skip
    printer = ProgressPrinter(sys.stderr, tty=sys.stderr.isatty())
    summary = run_batch(args.source, options, printer.update)
    print(final_line(summary, str(args.out)), file=sys.stderr)
    if summary.interrupted or summary.failed:
        return ExitCode.INTERNAL
    return ExitCode.PASSED


def _reports(text: str | None) -> tuple[str, ...] | None:
    """--reports: formats a report file is written in, checked; None for all of them."""
    if text is None:
        return None
    from grader.report import SUFFIXES

    chosen = tuple(dict.fromkeys(f.strip() for f in text.split(",") if f.strip()))
    unknown = [f for f in chosen if f not in SUFFIXES]
    if unknown or not chosen:
        known = ", ".join(SUFFIXES)
        raise UsageError(f"--reports takes formats among {known} (got {text!r})")
    return chosen


def _grade(args: argparse.Namespace) -> int:
    _validate(args)
    targets = _report_targets(args)
    sandbox = _early_sandbox(args.device)  # starts importing torch in the fork server meanwhile
    from grader.grading import GradeOptions, Grader, resolve_device
    from grader.sandbox.client import Sandbox

    try:
        device = resolve_device(args.device)
        public = args.command == "check"
        sandbox = sandbox or Sandbox(device=device)
        codes: dict[int, int] = {}
        for name, indexes in _by_assignment(args).items():
            options = GradeOptions(public_only=public, device=device, assignment=name,
                                   grading_seed=_seed(args, public))  # fmt: skip
            with Grader(options, sandbox) as grader:
                for i in indexes:
                    codes[i] = _grade_one(grader, args.notebooks[i], targets[i], args.format)
    finally:
        if sandbox is not None:
            sandbox.close()
    return max(codes.values())


def _by_assignment(args: argparse.Namespace) -> dict[str, list[int]]:
    """Notebook indexes by the assignment that grades them: --assignment, else the notebook's
    metadata, else the assignment whose functions it defines, else the only one."""
    from grader.load import choose_assignment, find_assignment

    if args.assignment:
        find_assignment(args.assignment)  # an unknown one: a usage error before any grading
        return {args.assignment: list(range(len(args.notebooks)))}
    groups: dict[str, list[int]] = {}
    for index, path in enumerate(args.notebooks):
        groups.setdefault(_chosen(path, choose_assignment), []).append(index)
    if "" in groups:
        try:
            find_assignment("")  # several and nothing decides: a usage error that lists them
        except UsageError as exc:
            first = args.notebooks[groups[""][0]]
            raise UsageError(f"{first}: its metadata names no assignment and its functions"
                             f" match none or several; {exc}") from exc  # fmt: skip
    return groups


def _chosen(path: Path, choose: Callable[[bytes], str]) -> str:
    from grader.settings import MAX_NOTEBOOK_BYTES

    try:
        with path.open("rb") as file:
            return choose(file.read(MAX_NOTEBOOK_BYTES + 1))
    except OSError:
        return choose(b"")  # grading reports the unreadable file


def _render(args: argparse.Namespace) -> int:
    import json

    from grader.results import result_from_dict

    try:
        data = json.loads(args.report.read_text(encoding="utf-8"))
        result = result_from_dict(data)
    except OSError as exc:
        raise UsageError(f"cannot read {args.report}: {exc.strerror or exc}") from exc
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise UsageError(f"{args.report} is not a `--format json` report: {exc}") from exc
    if args.out is not None:
        _prepare_parent(args.out)
    notebook = Path(result.submission.path)  # the github format points into the notebook's JSON
    _emit(_rendered(result, args.format, notebook), args.out)
    return ExitCode.PASSED


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
        raise OutputError(f"--out {args.out} is a file; give a folder for several notebooks")


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


def _grade_one(grader: Grader, path: Path, target: Path | None, fmt: str) -> int:
    result = grader.grade_path(path)
    _emit(_rendered(result, fmt, path), target)
    return exit_code(result)


def _rendered(result: GradeResult, fmt: str, notebook: Path) -> str:
    """`result` in format `fmt`; `notebook` is read for the github format's line numbers."""
    from grader.report import NOTEBOOK_RENDERERS, render

    data = b""
    if fmt in NOTEBOOK_RENDERERS:
        try:
            data = notebook.read_bytes()
        except OSError:
            data = b""  # annotations then point at line 1; feedback has no student cells
    return render(result, fmt, data)


def _emit(text: str, target: Path | None) -> None:
    """Print `text`, or write it to `target` (OutputError when that cannot be done)."""
    if target is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write the report {target}: {exc.strerror or exc}") from exc


def _report_targets(args: argparse.Namespace) -> list[Path | None]:
    """Where each notebook's report goes, folders made; OutputError when that cannot be."""
    if args.out is None:
        return [None] * len(args.notebooks)
    if len(args.notebooks) == 1 and not args.out.is_dir():
        _prepare_parent(args.out)
        return [args.out]
    from grader.report import SUFFIXES

    names = report_names(args.notebooks, SUFFIXES.get(args.format, ".txt"))
    targets: list[Path | None] = []
    for name in names:
        _prepare_folder((args.out / name).parent)
        targets.append(args.out / name)
    return targets


def report_names(notebooks: Sequence[Path], suffix: str) -> list[Path]:
    """A distinct relative report path per notebook: its stem, with as many parent folders as
    it takes to tell it from the others (`a/rnn_forward.txt`, `b/rnn_forward.txt`); the same
    file given twice gets `-2`, `-3`. Reports never overwrite one another."""
    parts = [_clean_parts(path) for path in notebooks]
    used: set[Path] = set()
    names: list[Path] = []
    for own in parts:
        others = [other for other in parts if other != own]
        depth = 1
        while depth < len(own) and any(other[-depth:] == own[-depth:] for other in others):
            depth += 1
        *folders, stem = own[-depth:]
        name, count = Path(*folders, stem + suffix), 1
        while name in used:
            count += 1
            name = Path(*folders, f"{stem}-{count}{suffix}")
        used.add(name)
        names.append(name)
    return names


def _clean_parts(path: Path) -> tuple[str, ...]:
    """The folders and stem of `path`, absolute, without the root (safe as a relative path)."""
    resolved = path.resolve()
    return (*resolved.parent.parts[1:], resolved.stem)


def _prepare_folder(folder: Path) -> None:
    """Make `folder` and check a file can be created in it; OutputError saying why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write into {folder}: {exc.strerror or exc}") from exc


def _check_target(target: Path) -> None:
    """OutputError unless file `target` could be written, creating nothing: it is no folder and
    its nearest existing ancestor is a writable folder."""
    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a folder")
    ancestor = target.parent.absolute()
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"cannot write {target}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK):
        raise OutputError(f"cannot write {target}: {ancestor} is not writable")


def _prepare_parent(target: Path) -> None:
    """Check that file `target` can be written: its folder exists or is made, it is no folder."""
    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a folder")
    _prepare_folder(target.parent)


def exit_code(result: GradeResult) -> int:
    if result.ungradable is not None:
        return ExitCode.UNGRADABLE
    if any(c.details.get("internal") for c in result.checks):
        return ExitCode.INTERNAL  # the report was written and says which check broke
    return ExitCode.PASSED if result.all_passed else ExitCode.FAILED
