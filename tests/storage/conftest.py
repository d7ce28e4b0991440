"""Fixtures of the storage tests: every database test runs on SQLite and on a
real PostgreSQL (in the test process's throwaway cluster, the ``postgres``
fixture of the project's pytest plugin)."""

from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from trading_api.shared.storage.testing import SKIP_VARIABLE, TemporaryPostgres

Run = Callable[[Coroutine[Any, Any, Any]], Any]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: an SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    # The shared optional-tool guard: skipped without PostgreSQL, failed in CI.
    request.getfixturevalue("optional_tool")("postgresql")
    cluster: TemporaryPostgres | None = request.getfixturevalue("postgres")
    if cluster is None:
        pytest.skip(f"PostgreSQL tests skipped ({SKIP_VARIABLE}=1)")
    return cluster.new_database()


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> str:
    """An empty PostgreSQL database, for what only PostgreSQL does."""
    request.getfixturevalue("optional_tool")("postgresql")
    cluster: TemporaryPostgres | None = request.getfixturevalue("postgres")
    if cluster is None:
        pytest.skip(f"PostgreSQL tests skipped ({SKIP_VARIABLE}=1)")
    return cluster.new_database()


@pytest.fixture
def run() -> Iterator[Run]:
    """Run coroutines on one event loop for the whole test."""
    import asyncio

    with asyncio.Runner() as runner:
        yield runner.run
