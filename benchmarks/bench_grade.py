"""Grade one notebook end to end vs. a bare `python -c "import torch"`, interleaved, in one run.

    python benchmarks/bench_grade.py [--runs N] [--notebook PATH]

Prints the medians and their ratio (target: grade <= 1.3x import torch).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(command: list[str]) -> float:
    began = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, cwd=ROOT, check=False)
    elapsed = time.perf_counter() - began
    if completed.returncode not in (0, 1):
        raise SystemExit(f"{command} failed ({completed.returncode}):\n{completed.stderr.decode()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--notebook", type=Path, default=ROOT / "examples" / "correct.ipynb")
    args = parser.parse_args()
    baseline = [sys.executable, "-c", "import torch"]
    grade = [sys.executable, "-m", "grader", "grade", str(args.notebook)]
    timed(baseline)  # warm the page cache for both
    timed(grade)
    torch_times, grade_times = [], []
    for _ in range(args.runs):
        torch_times.append(timed(baseline))
        grade_times.append(timed(grade))
    t, g = statistics.median(torch_times), statistics.median(grade_times)
    print(f"runs: {args.runs} (interleaved)")
    print(f"python -c 'import torch'   median {t:.3f} s  (min {min(torch_times):.3f})")
    print(f"python -m grader grade     median {g:.3f} s  (min {min(grade_times):.3f})")
    print(f"ratio grade / import torch: {g / t:.2f}x  (target <= 1.30x)")


if __name__ == "__main__":
    main()
