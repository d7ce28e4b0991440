"""The storage bus: ``publish`` in a transaction, ``subscribe`` anywhere.

Each shared test runs on SQLite (in-process delivery) and on PostgreSQL
(LISTEN/NOTIFY on a real cluster); the rest are PostgreSQL's own: another
process, a lost listening connection.
"""

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from trading_api.shared.storage import (
    GAP,
    MAX_PAYLOAD_BYTES,
    Gap,
    ModuleDatabase,
    StorageError,
    Subscription,
    module_metadata,
)

from .conftest import Run

WAIT = 20.0
"""Seconds any one message may take before the test fails (never reached)."""

PUBLISHER = textwrap.dedent(
    """\
    import asyncio, sys
    from trading_api.shared.storage import ModuleDatabase, module_metadata

    async def main(url: str) -> None:
        database = ModuleDatabase("notes", module_metadata("notes"), url)
        await database.open(migrated=False)
        try:
            async with database.transaction() as session:
                await database.publish(session, "fills", "from another process")
        finally:
            await database.close()

    asyncio.run(main(sys.argv[1]))
    """
)


@asynccontextmanager
async def opened(url: str, module: str = "notes") -> AsyncIterator[ModuleDatabase]:
    database = ModuleDatabase(module, module_metadata(module), url)
    await database.open(migrated=False)
    try:
        yield database
    finally:
        await database.close()


async def publish(
    database: ModuleDatabase, *payloads: str, channel: str = "fills"
) -> None:
    async with database.transaction() as session:
        for payload in payloads:
            await database.publish(session, channel, payload)


async def receive(subscription: Subscription, count: int = 1) -> list[str | Gap]:
    async with asyncio.timeout(WAIT):
        return [await anext(subscription) for _ in range(count)]


def test_a_committed_message_reaches_every_subscriber(
    database_url: str, run: Run
) -> None:
    async def scenario() -> list[list[str | Gap]]:
        async with (
            opened(database_url) as publisher,
            opened(database_url) as listener,
            listener.subscribe("fills") as first,
            publisher.subscribe("fills") as second,
        ):
            await publish(publisher, "order 1 filled")
            return [await receive(first), await receive(second)]

    assert run(scenario()) == [["order 1 filled"], ["order 1 filled"]]


def test_a_rolled_back_publish_is_never_delivered(database_url: str, run: Run) -> None:
    async def scenario() -> list[str | Gap]:
        async with opened(database_url) as database, database.subscribe("fills") as sub:
            with pytest.raises(RuntimeError):
                async with database.transaction() as session:
                    await database.publish(session, "fills", "rolled back")
                    raise RuntimeError("the fill failed")
            await publish(database, "committed")
            return await receive(sub)

    assert run(scenario()) == ["committed"]


def test_a_session_closed_without_commit_delivers_nothing(
    database_url: str, run: Run
) -> None:
    async def scenario() -> list[str | Gap]:
        async with opened(database_url) as database, database.subscribe("fills") as sub:
            session = database.session()
            await database.publish(session, "fills", "never committed")
            await session.close()
            await session.commit()  # used again: its next commit carries nothing
            await session.close()
            await publish(database, "committed")
            return await receive(sub)

    assert run(scenario()) == ["committed"]


def test_a_message_waits_for_its_commit(database_url: str, run: Run) -> None:
    async def scenario() -> list[str | Gap]:
        async with opened(database_url) as database, database.subscribe("fills") as sub:
            async with database.session() as slow:
                await database.publish(
                    slow, "fills", "first published, second committed"
                )
                await publish(database, "committed first")
                await slow.commit()
            return await receive(sub, 2)

    assert run(scenario()) == [
        "committed first",
        "first published, second committed",
    ]


def test_messages_arrive_in_commit_order(database_url: str, run: Run) -> None:
    async def scenario() -> list[str | Gap]:
        async with (
            opened(database_url) as one,
            opened(database_url) as two,
            one.subscribe("fills") as sub,
        ):
            for batch in range(10):
                writer = one if batch % 2 else two
                await publish(writer, *(f"{batch}.{i}" for i in range(5)))
            return await receive(sub, 50)

    assert run(scenario()) == [f"{batch}.{i}" for batch in range(10) for i in range(5)]


def test_a_rolled_back_savepoint_drops_only_its_messages(
    database_url: str, run: Run
) -> None:
    async def scenario() -> list[str | Gap]:
        async with opened(database_url) as database, database.subscribe("fills") as sub:
            async with database.transaction() as session:
                await database.publish(session, "fills", "before")
                savepoint = await session.begin_nested()
                await database.publish(session, "fills", "inside, rolled back")
                await savepoint.rollback()
                async with session.begin_nested():
                    await database.publish(session, "fills", "inside, kept")
                await database.publish(session, "fills", "after")
            await publish(database, "end")
            return await receive(sub, 4)

    assert run(scenario()) == ["before", "inside, kept", "after", "end"]


def test_the_same_payload_twice_in_one_transaction_arrives_once(
    database_url: str, run: Run
) -> None:
    # PostgreSQL folds identical notifications of a transaction; SQLite too,
    # so code tested on SQLite behaves the same in production.
    async def scenario() -> list[str | Gap]:
        async with opened(database_url) as database, database.subscribe("fills") as sub:
            await publish(database, "order 7", "order 7", "order 8")
            await publish(database, "order 7")
            return await receive(sub, 3)

    assert run(scenario()) == ["order 7", "order 8", "order 7"]


def test_channels_are_separate_per_module_and_name(database_url: str, run: Run) -> None:
    async def scenario() -> list[str | Gap]:
        async with (
            opened(database_url) as notes,
            opened(database_url, "ledger") as ledger,
            ledger.subscribe("fills") as sub,
        ):
            await publish(notes, "notes' fill")
            await publish(ledger, "ledger's order", channel="orders")
            await publish(ledger, "ledger's fill")
            return await receive(sub)

    assert run(scenario()) == ["ledger's fill"]


def test_the_largest_payload_postgresql_takes_is_delivered(
    database_url: str, run: Run
) -> None:
    largest = "é" * (MAX_PAYLOAD_BYTES // 2) + "x"  # 7999 bytes in UTF-8

    async def scenario() -> list[str | Gap]:
        async with opened(database_url) as database, database.subscribe("fills") as sub:
            await publish(database, largest)
            return await receive(sub)

    assert run(scenario()) == [largest]


def test_a_larger_payload_is_refused_and_its_transaction_publishes_nothing(
    database_url: str, run: Run
) -> None:
    async def scenario() -> list[str | Gap]:
        async with opened(database_url) as database, database.subscribe("fills") as sub:
            with pytest.raises(StorageError, match="exceeds PostgreSQL's NOTIFY limit"):
                await publish(database, "kept?", "x" * (MAX_PAYLOAD_BYTES + 1))
            await publish(database, "next")
            return await receive(sub)

    assert run(scenario()) == ["next"]


@pytest.mark.parametrize("channel", ["", "Fills", "fills!", "-x", "c" * 60])
def test_a_bad_channel_name_is_refused_with_the_rule(
    channel: str, tmp_path: object, run: Run
) -> None:
    async def scenario() -> None:
        url = f"sqlite:///{tmp_path}/test.db"
        async with opened(url) as database, database.transaction() as session:
            await database.publish(session, channel, "x")

    with pytest.raises(StorageError, match=r"lowercase letters|shorten it"):
        run(scenario())


def test_a_slow_subscriber_gets_a_gap_instead_of_every_message(
    database_url: str, run: Run
) -> None:
    async def scenario() -> tuple[list[str | Gap], int]:
        async with (
            opened(database_url) as database,
            database.subscribe("fills", max_queued=3) as sub,
        ):
            for number in range(1, 11):
                await publish(database, f"fill {number}")
            received: list[str | Gap] = []
            while "fill 10" not in received:
                received += await receive(sub)
            return received, sub.gaps

    received, gaps = run(scenario())
    # PostgreSQL may still be delivering while the reader reads, so how many
    # arrive after the gap varies; what was lost is always before the gap.
    assert received[0] is GAP
    fills = [int(item.split()[1]) for item in received if item is not GAP]
    assert fills == sorted(fills) and fills[-1] == 10
    assert len(fills) < 10
    assert gaps >= 1


@pytest.mark.parametrize(
    ("offered", "kept"),
    [
        (3, ["fill 1", "fill 2", "fill 3"]),
        (4, [GAP, "fill 4"]),
        (9, [GAP, "fill 8", "fill 9"]),
    ],
)
def test_a_subscription_never_holds_more_than_its_bound(
    offered: int, kept: list[str | Gap], run: Run
) -> None:
    # Bound 3: the message that would be the fourth drops the queued ones.
    async def scenario() -> list[str | Gap]:
        subscription = Subscription("fills", max_queued=3)
        for number in range(1, offered + 1):
            subscription.offer(f"fill {number}")
        subscription.end()
        return [item async for item in subscription]

    assert run(scenario()) == kept


def test_closing_the_database_ends_its_subscriptions(
    database_url: str, run: Run
) -> None:
    async def scenario() -> list[str | Gap]:
        database = ModuleDatabase("notes", module_metadata("notes"), database_url)
        await database.open(migrated=False)
        async with database.subscribe("fills") as sub:
            await publish(database, "last")
            await receive(sub)  # delivered: nothing left in flight
            await database.close()
            async with asyncio.timeout(WAIT):
                return [item async for item in sub]

    assert run(scenario()) == []


def test_a_message_from_another_process_is_delivered(
    postgres_url: str, run: Run
) -> None:
    async def scenario() -> list[str | Gap]:
        async with opened(postgres_url) as database, database.subscribe("fills") as sub:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                *("-c", PUBLISHER, postgres_url),
                stderr=subprocess.PIPE,
            )
            async with asyncio.timeout(60):
                _, err = await process.communicate()
            assert process.returncode == 0, err.decode()
            return await receive(sub)

    assert run(scenario()) == ["from another process"]


def test_a_lost_listening_connection_comes_back_with_a_gap(
    postgres_url: str, run: Run
) -> None:
    async def scenario() -> list[str | Gap]:
        async with opened(postgres_url) as database, database.subscribe("fills") as sub:
            await publish(database, "before")
            before = await receive(sub)
            await terminate_listeners(postgres_url)
            gap = await receive(sub)
            await publish(database, "after")
            return before + gap + await receive(sub)

    assert run(scenario()) == ["before", GAP, "after"]


async def terminate_listeners(url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        ended = await connection.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'trading:notes:listen'"
        )
    finally:
        await connection.close()
    assert ended == 1


def test_subscribing_needs_an_open_database(tmp_path: object, run: Run) -> None:
    async def scenario() -> None:
        database = ModuleDatabase("notes", module_metadata("notes"), "sqlite://")
        async with database.subscribe("fills"):
            pass

    with pytest.raises(StorageError, match="is not open"):
        run(scenario())
