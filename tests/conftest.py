"""Shared fixtures: the `--update-goldens` flag, paths, the hypothesis profiles, and the
compiled engines' cache.

Property tests draw the same examples on every run (CI must not pass or fail by luck);
`pytest --hypothesis-profile=explore` draws fresh ones to look for new failures.

The compiled engines (`modelcheck.native`) are cached for the session in pytest's temporary
directory (pytest keeps the last three), so a test run never fills ~/.cache; a
MODELCHECK_CACHE set by the caller is used as it is (to keep them across runs)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("default", derandomize=True, deadline=None)
settings.register_profile("explore", derandomize=False, deadline=None)
settings.load_profile("default")

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"


@pytest.fixture(scope="session", autouse=True)
def engine_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """MODELCHECK_CACHE for the session (and the processes the tests start), unless set."""
    if os.environ.get("MODELCHECK_CACHE"):
        yield Path(os.environ["MODELCHECK_CACHE"])
        return
    path = tmp_path_factory.mktemp("engines")
    os.environ["MODELCHECK_CACHE"] = str(path)
    yield path
    del os.environ["MODELCHECK_CACHE"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true", help="rewrite golden trace files")


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))
