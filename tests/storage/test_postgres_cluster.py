"""The throwaway PostgreSQL cluster of the storage tests, and its opt-out."""

import asyncio

import pytest

from trading_api.shared.storage.testing import (
    INSTALL_HINT,
    TemporaryPostgres,
    skip_requested,
)


@pytest.mark.parametrize(
    ("environ", "skipped"),
    [
        ({}, False),
        ({"TRADING_TEST_SKIP_POSTGRES": "1"}, True),
        ({"TRADING_TEST_SKIP_POSTGRES": "1", "CI": "true"}, False),
        ({"TRADING_TEST_SKIP_POSTGRES": "0"}, False),
    ],
)
def test_only_a_developer_outside_ci_can_skip_postgresql(
    environ: dict[str, str], skipped: bool
) -> None:
    assert skip_requested(environ) is skipped


def test_the_install_hint_names_the_package_and_the_opt_out() -> None:
    assert "apt-get install postgresql" in INSTALL_HINT
    assert "TRADING_TEST_SKIP_POSTGRES=1" in INSTALL_HINT


def test_each_new_database_starts_empty(postgres: TemporaryPostgres | None) -> None:
    if postgres is None:
        pytest.skip("PostgreSQL tests skipped (TRADING_TEST_SKIP_POSTGRES=1)")
    import asyncpg

    async def tables(url: str) -> list[str]:
        connection = await asyncpg.connect(url)
        try:
            await connection.execute("CREATE TABLE t (id int)")
            rows = await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
            return [row["tablename"] for row in rows]
        finally:
            await connection.close()

    first, second = postgres.new_database(), postgres.new_database()
    assert first != second
    assert asyncio.run(tables(first)) == ["t"]
    assert asyncio.run(tables(second)) == ["t"]
    assert postgres.folder.is_dir()
    assert postgres.url.startswith("postgresql://postgres@127.0.0.1:")
