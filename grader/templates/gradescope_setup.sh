#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (not per submission).
# It installs the grader from the wheel in this folder into a virtual environment that
# run_autograder uses. A venv sidesteps Ubuntu 24.04's "externally managed" system Python, and
# Ubuntu 22.04's python3 (3.10) is too old for the grader, so python3.11 is installed there.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
VENV="${AUTOGRADER_ROOT:-/autograder}/venv"

PYTHON=python3
if ! python3 -c 'import sys; raise SystemExit(sys.version_info < (3, 11))' 2>/dev/null; then
    apt-get update -qq
    apt-get install -y -qq python3.11 python3.11-venv
    PYTHON=python3.11
fi
if ! "$PYTHON" -m venv --clear "$VENV"; then
    # Debian and Ubuntu ship venv's pip (ensurepip) separately, as python3-pip / python3.X-venv.
    apt-get update -qq
    apt-get install -y -qq python3-pip "$PYTHON-venv"
    "$PYTHON" -m venv --clear "$VENV"
fi

# torch first, from PyTorch's CPU-only index: Gradescope has no GPU, and the default PyPI build
# of torch for Linux pulls several GB of CUDA libraries. The version is the one the bundle was
# built with, so the hidden cases run on the torch the instructor tested.
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet --index-url https://download.pytorch.org/whl/cpu \
    "@TORCH_REQUIREMENT@"
# The grader itself, with its other dependencies (nbformat, matplotlib) from PyPI.
"$VENV/bin/python" -m pip install --quiet ./@WHEEL@
"$VENV/bin/python" -m grader --version
