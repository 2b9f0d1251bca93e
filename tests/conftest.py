"""Shared pytest configuration: golden-file regeneration flag and GPU skipping."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from grader.sandbox.client import Sandbox


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="rewrite tests/goldens/* from the current writers instead of comparing",
    )


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """One fork server for the whole test session (forks per submission are ~15 ms)."""
    with Sandbox() as box:
        yield box
