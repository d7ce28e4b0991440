"""A module's sessions: durable commits, atomic transactions, its tables only.

Each test runs on SQLite and on PostgreSQL (see ``conftest.py``).
"""

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import String, func, insert, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from trading_api.shared.storage import (
    ForeignTableError,
    ModuleDatabase,
    StorageError,
    async_url,
    module_metadata,
)

from .conftest import Run


class NotesBase(DeclarativeBase):
    metadata = module_metadata("notes")


class Note(NotesBase):
    __tablename__ = "notes__items"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(50))


class LedgerBase(DeclarativeBase):
    metadata = module_metadata("ledger")


class Entry(LedgerBase):
    __tablename__ = "ledger__entries"
    id: Mapped[int] = mapped_column(primary_key=True)
    amount: Mapped[int]


async def opened(url: str, module: str = "notes") -> ModuleDatabase:
    base = NotesBase if module == "notes" else LedgerBase
    database = ModuleDatabase(module, base.metadata, url)
    await database.open(migrated=False)  # the tables are made right here
    async with database.engine.begin() as connection:
        await connection.run_sync(base.metadata.create_all)
    return database


async def texts(database: ModuleDatabase) -> list[str]:
    async with database.session() as session:
        return list(await session.scalars(select(Note.text).order_by(Note.id)))


def test_committed_rows_outlive_the_process_state(database_url: str, run: Run) -> None:
    async def write() -> None:
        database = await opened(database_url)
        async with database.transaction() as session:
            session.add_all([Note(text="first"), Note(text="second")])
        await database.close()

    async def read() -> list[str]:
        database = ModuleDatabase("notes", NotesBase.metadata, database_url)
        await database.open(migrated=False)
        try:
            return await texts(database)
        finally:
            await database.close()

    run(write())
    # A new event loop and a new engine: nothing survives but the database.
    assert asyncio.run(read()) == ["first", "second"]


def test_a_failed_transaction_stores_nothing(database_url: str, run: Run) -> None:
    async def scenario() -> list[str]:
        database = await opened(database_url)
        with pytest.raises(ValueError, match="rejected"):
            async with database.transaction() as session:
                session.add(Note(text="half done"))
                await session.flush()
                raise ValueError("rejected")
        return await texts(database)

    assert run(scenario()) == []


@pytest.mark.parametrize(
    "statement",
    [
        select(Entry),
        select(Note).join(Entry, Entry.id == Note.id),
        select(func.count()).select_from(LedgerBase.metadata.tables["ledger__entries"]),
        insert(Entry).values(amount=5),
    ],
    ids=["select", "join", "core-select", "core-insert"],
)
def test_a_statement_on_another_modules_table_is_refused(
    database_url: str, run: Run, statement: object
) -> None:
    async def scenario() -> None:
        await opened(database_url, "ledger")
        notes = await opened(database_url)
        async with notes.session() as session:
            await session.execute(statement)  # type: ignore[call-overload]

    with pytest.raises(ForeignTableError, match="not 'ledger__entries'"):
        run(scenario())


def test_writing_another_modules_row_is_refused(database_url: str, run: Run) -> None:
    async def scenario() -> None:
        await opened(database_url, "ledger")
        notes = await opened(database_url)
        async with notes.transaction() as session:
            session.add(Entry(amount=5))

    with pytest.raises(ForeignTableError, match="module 'notes' may only use"):
        run(scenario())


def test_raw_sql_runs_only_when_asked_for(database_url: str, run: Run) -> None:
    async def scenario() -> tuple[str, int]:
        notes = await opened(database_url)
        async with notes.transaction() as session:
            session.add(Note(text="one"))
        async with notes.session() as session:
            try:
                await session.execute(text("SELECT count(*) FROM notes__items"))
                refused = "ran"
            except Exception as exc:
                refused = type(exc).__name__
            count = await session.scalar(
                text("SELECT count(*) FROM notes__items"),
                bind_arguments=notes.raw_sql,
            )
        return refused, count

    assert run(scenario()) == ("UnboundExecutionError", 1)


def test_modules_on_one_database_share_its_engine(database_url: str, run: Run) -> None:
    async def scenario() -> tuple[bool, list[str], int]:
        notes = await opened(database_url)
        ledger = await opened(database_url, "ledger")
        async with notes.transaction() as session:
            session.add(Note(text="mine"))
        async with ledger.transaction() as session:
            session.add(Entry(amount=7))
        async with ledger.session() as session:
            amounts = list(await session.scalars(select(Entry.amount)))
        shared = notes.engine is ledger.engine
        await notes.close()
        # The ledger keeps working after the notes module closed its handle.
        async with ledger.session() as session:
            total = await session.scalar(select(func.sum(Entry.amount)))
        return shared, amounts, total

    assert run(scenario()) == (True, [7], 7)


def test_a_session_before_open_says_where_it_opens() -> None:
    database = ModuleDatabase("notes", NotesBase.metadata, "sqlite:///unused.db")
    with pytest.raises(StorageError, match="opens in the app's lifespan"):
        database.session()


def test_a_module_never_migrated_does_not_open(database_url: str, run: Run) -> None:
    database = ModuleDatabase("notes", NotesBase.metadata, database_url)
    with pytest.raises(
        StorageError, match="create them with `trading db upgrade notes`"
    ):
        run(database.open())
    assert not database.is_open


def test_an_unreachable_database_fails_at_open_naming_the_fix(
    tmp_path: Path, run: Run
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    database = ModuleDatabase("notes", NotesBase.metadata, f"sqlite:///{blocker}/x.db")
    with pytest.raises(StorageError, match="fix DATABASE_URL"):
        run(database.open())


def test_an_unreachable_postgresql_names_the_url_without_password(run: Run) -> None:
    url = "postgresql://trader:secret@127.0.0.1:9/trading"
    database = ModuleDatabase("notes", NotesBase.metadata, url)
    with pytest.raises(StorageError) as caught:
        run(database.open())
    assert "postgresql+asyncpg://trader:***@127.0.0.1:9/trading" in str(caught.value)
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_plain_urls_get_the_async_driver(given: str, used: str) -> None:
    assert async_url(given).render_as_string() == used


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("mysql://u@h/db", "stores data in sqlite"),
        ("postgresql+psycopg2://u@h/db", r"use postgresql\+asyncpg://"),
        ("not a url", "is not a database URL"),
    ],
)
def test_unsupported_urls_are_refused(given: str, message: str) -> None:
    with pytest.raises(StorageError, match=message):
        async_url(given)


def test_the_default_database_is_a_file_in_the_run_folder() -> None:
    url = async_url(None)
    assert url.drivername == "sqlite+aiosqlite"
    assert Path(url.database or "").parts[-2:] == (".run", "trading.db")
