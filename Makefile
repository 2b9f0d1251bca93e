# Everyday commands. Installs use constraints.txt, which pins torch to the CPU build we test with.
PYTHON ?= python3
PIP_INSTALL = $(PYTHON) -m pip install -q -c constraints.txt

.PHONY: install demo test lint bench

install:
	$(PIP_INSTALL) -e ".[test]"

demo:
	$(PIP_INSTALL) -e . && $(PYTHON) -m grader grade examples/*.ipynb; test $$? -le 1

test: install
	$(PYTHON) -m pytest -q

lint: install
	ruff check grader tests benchmarks tools && ruff format --check grader && mypy grader

bench: install
	$(PYTHON) benchmarks/bench_grade.py
