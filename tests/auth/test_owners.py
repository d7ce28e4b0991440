"""Who owns which account, stored by the auth module: one owner per account,
kept by the database's primary key, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from trading_api.modules.auth.owners import (
    AccountOwners,
    OwnershipError,
    grant_accounts,
    migrations,
)
from trading_api.modules.auth.tables import Base
from trading_api.shared.storage import ModuleDatabase
from trading_api.shared.storage.migrations import upgrade

RACED = [f"RACE-{n}" for n in range(4)]


@asynccontextmanager
async def owners_on(url: str) -> AsyncIterator[AccountOwners]:
    database = ModuleDatabase("auth", Base.metadata, url)
    await database.open()
    try:
        yield AccountOwners(database)
    finally:
        await database.close()


def test_two_users_racing_for_each_account_leave_exactly_one_owner(
    empty_database: str,
) -> None:
    upgrade(empty_database, migrations())

    async def race() -> tuple[list[str | BaseException], dict[str, list[str]]]:
        # Two handles, as two processes have: each grant is its own transaction
        # on its own connection.
        async with owners_on(empty_database) as one, owners_on(empty_database) as two:
            outcomes = await asyncio.gather(
                *(
                    store.grant(user, [account])
                    for account in RACED
                    for store, user in ((one, "alice"), (two, "bob"))
                ),
                return_exceptions=True,
            )
            return list(outcomes), await one.owners()

    outcomes, owners = asyncio.run(race())
    stored = {a: user for user, accounts in owners.items() for a in accounts}
    assert sorted(stored) == RACED  # every account has an owner, and only one
    for index, account in enumerate(RACED):
        alice, bob = outcomes[2 * index], outcomes[2 * index + 1]
        won, lost = (alice, bob) if stored[account] == "alice" else (bob, alice)
        assert isinstance(won, list) and account in won
        assert isinstance(lost, OwnershipError)
        assert str(lost) == (
            f"account {account!r} belongs to user {stored[account]!r}; "
            "give another account id"
        )


def test_the_cli_grant_migrates_first_and_refuses_a_taken_account(
    empty_database: str, tmp_path: Path
) -> None:
    first = grant_accounts(empty_database, "alice", ["A-1", "A-2"], tmp_path)
    assert (first.migrated.before, first.migrated.after) == (None, "0001")
    assert first.accounts == ["A-1", "A-2"]
    with pytest.raises(OwnershipError, match="'A-2' belongs to user 'alice'"):
        grant_accounts(empty_database, "bob", ["B-1", "A-2"], tmp_path)
    again = grant_accounts(empty_database, "bob", [], tmp_path)
    assert (again.migrated.changed, again.accounts) == (False, [])
    assert grant_accounts(empty_database, "alice", ["A-1"], tmp_path).accounts == [
        "A-1",
        "A-2",
    ]
