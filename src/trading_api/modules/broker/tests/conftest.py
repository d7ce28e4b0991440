"""Fixtures of the broker tests: a fresh database per test, made by the broker's
migrations (once per session, then copied), and the service on it.

Every service a test makes through ``new_broker`` is restarted on its database
when the test ends, and must serve exactly what it served before: each
hand-computed case is also a check that its whole effect was stored.
"""

import asyncio
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from trading_api.market import ManualClock, Market
from trading_api.modules.broker import BrokerModule
from trading_api.modules.broker.settings import BrokerSettings
from trading_api.modules.broker.tables import Base
from trading_api.modules.broker.tests.support import OPEN, Broker, Run
from trading_api.shared.storage.migrations import ModuleMigrations, upgrade
from trading_api.shared.storage.testing import (
    SKIP_VARIABLE,
    MigratedSQLite,
    TemporaryPostgres,
)

PACKAGE_DIR = Path(__file__).resolve().parents[1]
MakeBroker = Callable[..., Broker]


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> MigratedSQLite:
    """An SQLite database the broker's migrations built; tests copy it."""
    migrations = ModuleMigrations.in_package(
        BrokerModule.name, PACKAGE_DIR, Base.metadata
    )
    return MigratedSQLite.build(tmp_path_factory.mktemp("broker-template"), migrations)


@pytest.fixture(scope="session")
def postgres_template(
    postgres: TemporaryPostgres | None,
) -> tuple[TemporaryPostgres, str] | None:
    """A migrated template database in the test process's PostgreSQL cluster
    (the project's pytest plugin); None when the developer opted out
    (``TRADING_TEST_SKIP_POSTGRES=1``)."""
    if postgres is None:
        return None
    url = postgres.new_database()
    migrations = ModuleMigrations.in_package(
        BrokerModule.name, PACKAGE_DIR, Base.metadata
    )
    upgrade(url, migrations)
    return postgres, str(make_url(url).database)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]
)
def stored_url(request: pytest.FixtureRequest, database_url: str) -> str:
    """A fresh, migrated database: an SQLite file, then a PostgreSQL database.

    The PostgreSQL variant needs a server process, so it is an integration
    test: `trading test broker` runs the SQLite one, `--integration` and the
    full run both."""
    if request.param == "sqlite":
        return database_url
    found = request.getfixturevalue("postgres_template")
    if found is None:
        pytest.skip(f"PostgreSQL tests skipped ({SKIP_VARIABLE}=1)")
    cluster, template = found
    name = f"broker_{request.node.name.lower()}"[:60].replace("[", "_")
    name = "".join(c if c.isalnum() else "_" for c in name)

    async def create() -> None:
        import asyncpg

        connection = await asyncpg.connect(cluster.url)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            await connection.close()

    asyncio.run(create())
    return cluster.database_url(name)


@pytest.fixture
def database_url(migrated_database: MigratedSQLite, tmp_path: Path) -> str:
    """A fresh, migrated SQLite database for this test."""
    return migrated_database.copy(tmp_path / "broker.db")


@pytest.fixture
def run() -> Iterator[Run]:
    """Run coroutines on one event loop for the whole test."""
    with asyncio.Runner() as runner:
        yield runner.run


@pytest.fixture
def new_broker(
    run: Run, migrated_database: MigratedSQLite, tmp_path: Path
) -> Iterator[MakeBroker]:
    """Make brokers, each on its own fresh database; checked after the test."""
    made: list[Broker] = []
    counter = itertools.count(1)

    def make(
        market: Market | None = None, settings: BrokerSettings | None = None
    ) -> Broker:
        url = migrated_database.copy(tmp_path / f"broker-{next(counter)}.db")
        broker = Broker(
            run,
            url,
            market or Market(clock=ManualClock(OPEN)),
            settings,
        )
        made.append(broker)
        return broker

    yield make
    for broker in made:
        restarted = broker.restarted()
        assert restarted.snapshot() == broker.snapshot(), "not all of it was stored"
        restarted.close()
        broker.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(OPEN)


@pytest.fixture
def broker(new_broker: MakeBroker, clock: ManualClock) -> Broker:
    """A broker on a fresh database, AAPL at 100, the clock at a Monday open."""
    made = new_broker(Market(clock=clock))
    made.set_price("AAPL", 100.0)
    return made
