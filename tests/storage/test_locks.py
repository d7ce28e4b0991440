"""``ModuleDatabase.try_lock`` and ``lock``: one holder per lock across every
process.

PostgreSQL runs the real advisory locks; SQLite grants every lock, since one
process owns an SQLite database.
"""

import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from trading_api.shared.storage import ModuleDatabase, lock_key, module_metadata

from .conftest import Run

LOCK_KEY_BROKER_MATCHING = 9148977191106217072
"""The key of the broker's matching lock, as every release computes it."""

# Another process: try the lock once, print granted or refused.
OTHER_PROCESS = textwrap.dedent(
    """\
    import asyncio, sys
    from trading_api.shared.storage import ModuleDatabase, module_metadata

    async def main(url: str) -> None:
        database = ModuleDatabase("notes", module_metadata("notes"), url)
        await database.open(migrated=False)
        try:
            async with database.transaction() as session:
                taken = await database.try_lock(session, "matching")
        finally:
            await database.close()
        print("granted" if taken else "refused")

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


async def try_in_new_transaction(database: ModuleDatabase, name: str) -> bool:
    async with database.transaction() as session:
        return await database.try_lock(session, name)


def test_a_held_lock_is_refused_to_every_other_transaction(
    postgres_url: str, run: Run
) -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        async with opened(postgres_url) as first, opened(postgres_url) as second:
            async with first.transaction() as holder:
                held = await first.try_lock(holder, "matching")
                while_held = await try_in_new_transaction(second, "matching")
            after_commit = await try_in_new_transaction(second, "matching")
        return held, while_held, after_commit

    assert run(scenario()) == (True, False, True)


def test_a_rolled_back_transaction_releases_its_lock(
    postgres_url: str, run: Run
) -> None:
    async def scenario() -> bool:
        async with opened(postgres_url) as database:
            session: AsyncSession
            async with database.session() as session:
                assert await database.try_lock(session, "matching")
                await session.rollback()
            return await try_in_new_transaction(database, "matching")

    assert run(scenario()) is True


def test_locks_of_other_names_and_other_modules_are_free(
    postgres_url: str, run: Run
) -> None:
    async def scenario() -> tuple[bool, bool]:
        async with (
            opened(postgres_url) as notes,
            opened(postgres_url, "ledger") as led,
            notes.transaction() as holder,
        ):
            assert await notes.try_lock(holder, "matching")
            other_name = await try_in_new_transaction(notes, "expiry")
            other_module = await try_in_new_transaction(led, "matching")
        return other_name, other_module

    assert run(scenario()) == (True, True)


def test_lock_waits_for_the_holder_and_is_held_until_commit(
    postgres_url: str, run: Run
) -> None:
    import asyncio

    async def scenario() -> list[str]:
        steps: list[str] = []
        async with opened(postgres_url) as first, opened(postgres_url) as second:
            holder_has_it = asyncio.Event()
            release = asyncio.Event()

            async def hold() -> None:
                async with first.transaction() as session:
                    await first.lock(session, "accounts")
                    steps.append("first holds")
                    holder_has_it.set()
                    await release.wait()
                    steps.append("first commits")

            async def wait_for_it() -> None:
                await holder_has_it.wait()
                async with second.transaction() as session:
                    await second.lock(session, "accounts")
                    steps.append("second holds")
                    # Held: a try in a third transaction is refused.
                    steps.append(
                        "tried: " + str(await try_in_new_transaction(first, "accounts"))
                    )

            holder = asyncio.create_task(hold())
            waiter = asyncio.create_task(wait_for_it())
            await holder_has_it.wait()
            # The waiter is blocked in the database until the holder commits.
            done, _ = await asyncio.wait([waiter], timeout=0.3)
            steps.append(f"waiter done early: {bool(done)}")
            release.set()
            await asyncio.gather(holder, waiter)
        return steps

    assert run(scenario()) == [
        "first holds",
        "waiter done early: False",
        "first commits",
        "second holds",
        "tried: False",
    ]


def test_a_lock_held_here_is_refused_in_another_process(
    postgres_url: str, run: Run
) -> None:
    async def scenario() -> str:
        async with opened(postgres_url) as database, database.transaction() as holder:
            assert await database.try_lock(holder, "matching")
            return await other_process(postgres_url)

    # The other process runs with another hash seed: the key must not depend
    # on Python's randomized hash().
    assert run(scenario()) == "refused"


async def other_process(url: str) -> str:
    import asyncio

    environment = {**os.environ, "PYTHONHASHSEED": "12345"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-c", OTHER_PROCESS, url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode().strip()


def test_on_sqlite_every_lock_is_granted(tmp_path: Path, run: Run) -> None:
    async def scenario() -> list[bool]:
        url = f"sqlite:///{tmp_path}/test.db"
        async with opened(url) as database, database.transaction() as session:
            await database.lock(session, "matching")  # returns at once
            return [
                await database.try_lock(session, "matching"),
                await database.try_lock(session, "matching"),
            ]

    assert run(scenario()) == [True, True]


def test_lock_keys_are_pinned_64_bit_values() -> None:
    # Instances of two releases may run side by side during a rolling
    # deployment; they must agree on every key, so the keys never change.
    assert lock_key("broker", "matching") == LOCK_KEY_BROKER_MATCHING
    assert lock_key("broker", "matching") != lock_key("broker", "expiry")
    for module, name in [("broker", "matching"), ("notes", "x" * 200)]:
        assert -(2**63) <= lock_key(module, name) < 2**63
