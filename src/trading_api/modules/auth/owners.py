"""Who owns which account: the development issuer's grants, stored in SQL.

``trading auth token --user alice --account ALICE-1`` and ``trading dev`` record
grants here (table ``auth__account_owners``), then sign a token listing every
account the user owns. The account id is the table's primary key, so the
database itself keeps an account to one owner: two grants of one account racing
each other (two terminals, two processes, SQLite or PostgreSQL) end with one row,
and the loser is told whose account it is.

The servers never read this table: what the broker checks is the token's
accounts claim, signed by the issuer (this one in development, an OpenID Connect
provider in production), so the API holds no second copy of ownership that could
disagree with the token it is shown.

A checkout of the earlier version kept the grants in ``.run/auth/accounts.json``:
:meth:`AccountOwners.import_file` brings them in once and renames the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from trading_api.shared.auth._dev import DevIssuerError, check_account, check_user
from trading_api.shared.errors import EXIT_USAGE
from trading_api.shared.storage import ModuleDatabase, StorageError
from trading_api.shared.storage.migrations import ModuleMigrations, Transition, upgrade

from .tables import AccountOwnerRow, Base

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

MODULE = "auth"
PACKAGE_DIR = Path(__file__).resolve().parent
LEGACY_FILE = "accounts.json"
IMPORTED_SUFFIX = ".imported"
GRANT_ATTEMPTS = 3
"""A grant that loses a race re-reads the owners: once is enough to see the
winner; the bound only stops a database that keeps failing the insert."""


class OwnershipError(DevIssuerError):
    """The account is another user's: nothing was granted (a usage error)."""

    exit_code = EXIT_USAGE


@dataclass
class Imported:
    """What importing an earlier ``accounts.json`` did.

    Attributes:
        granted: ``(user, account)`` pairs now stored.
        refused: ``(user, account, owner)``: the file gave the account to
            ``user`` too, but ``owner`` has it (the earlier version could store
            two owners for one account).
        renamed_to: Where the file was moved once imported.
    """

    granted: list[tuple[str, str]] = field(default_factory=list)
    refused: list[tuple[str, str, str]] = field(default_factory=list)
    renamed_to: Path | None = None

    def lines(self) -> list[str]:
        """What to tell the developer, one line each."""
        if self.renamed_to is None:
            return []
        found = [
            f"imported {len(self.granted)} account grant(s) from the earlier "
            f"accounts.json; it is now {self.renamed_to.name}"
        ]
        found += [
            f"warning: accounts.json also gave {account!r} to {user!r}, but it "
            f"belongs to {owner!r}; {user!r} does not own it"
            for user, account, owner in self.refused
        ]
        return found


def migrations() -> ModuleMigrations:
    """The auth module's migrations, with its tables."""
    return ModuleMigrations.in_package(MODULE, PACKAGE_DIR, Base.metadata)


class AccountOwners:
    """The stored grants, on the auth module's database.

    Args:
        database: The auth module's database, open.
    """

    def __init__(self, database: ModuleDatabase) -> None:
        self._database = database

    async def grant(self, user: str, accounts: Iterable[str]) -> list[str]:
        """Record that ``user`` owns ``accounts``; return all the user's accounts.

        Accounts the user owns already are kept as they are. All or nothing: when
        one account is another user's, none is granted.

        Raises:
            DevIssuerError: a malformed user name or account id (usage error).
            OwnershipError: an account belongs to another user.
        """
        check_user(user)
        wanted = list(dict.fromkeys(accounts))
        for account in wanted:
            check_account(account)
        from sqlalchemy.exc import IntegrityError

        for _ in range(GRANT_ATTEMPTS):
            try:
                async with self._database.transaction() as session:
                    owners = await self._owners_of(session, wanted)
                    for account in wanted:
                        owner = owners.get(account, user)
                        if owner != user:
                            raise OwnershipError(
                                f"account {account!r} belongs to user {owner!r}; "
                                "give another account id"
                            )
                    now = int(time.time() * 1000)
                    session.add_all(
                        AccountOwnerRow(
                            account_id=account, user_name=user, granted_ms=now
                        )
                        for account in wanted
                        if account not in owners
                    )
                    # The primary key decides a race: the insert of an account
                    # another transaction stored meanwhile fails here.
                    await session.flush()
                    return await self._accounts_of(session, user)
            except IntegrityError:
                continue  # another grant of one of these accounts won: read again
        raise StorageError(
            f"could not store the accounts of {user!r}: the database kept refusing "
            "the insert; retry"
        )

    async def accounts_of(self, user: str) -> list[str]:
        """The accounts ``user`` owns, sorted."""
        async with self._database.session() as session:
            return await self._accounts_of(session, user)

    async def owners(self) -> dict[str, list[str]]:
        """Every user's accounts, sorted."""
        from sqlalchemy import select

        found: dict[str, list[str]] = {}
        async with self._database.session() as session:
            rows = await session.execute(
                select(AccountOwnerRow.user_name, AccountOwnerRow.account_id).order_by(
                    AccountOwnerRow.user_name, AccountOwnerRow.account_id
                )
            )
            for user, account in rows:
                found.setdefault(user, []).append(account)
        return found

    async def import_file(self, path: Path) -> Imported:
        """Store the grants of an earlier version's ``accounts.json``, then rename it.

        Each account goes to the first user listing it (users in name order, as
        the file was written); an account the table gives someone else already
        stays theirs. Reported in :class:`Imported`. Without the file, nothing
        happens.

        Raises:
            DevIssuerError: the file is not the JSON the earlier version wrote;
                nothing is imported and the file is left as it is.
        """
        imported = Imported()
        if not path.is_file():
            return imported
        grants = _read_legacy(path)
        for user, accounts in grants:
            for account in accounts:
                try:
                    await self.grant(user, [account])
                except OwnershipError:
                    owner = await self._owner(account)
                    imported.refused.append((user, account, owner or "?"))
                else:
                    imported.granted.append((user, account))
        imported.renamed_to = _set_aside(path)
        return imported

    async def _owner(self, account: str) -> str | None:
        async with self._database.session() as session:
            return (await self._owners_of(session, [account])).get(account)

    @staticmethod
    async def _owners_of(session: AsyncSession, accounts: list[str]) -> dict[str, str]:
        from sqlalchemy import select

        if not accounts:
            return {}
        rows = await session.execute(
            select(AccountOwnerRow.account_id, AccountOwnerRow.user_name).where(
                AccountOwnerRow.account_id.in_(accounts)
            )
        )
        return {account: user for account, user in rows}

    @staticmethod
    async def _accounts_of(session: AsyncSession, user: str) -> list[str]:
        from sqlalchemy import select

        rows = await session.scalars(
            select(AccountOwnerRow.account_id)
            .where(AccountOwnerRow.user_name == user)
            .order_by(AccountOwnerRow.account_id)
        )
        return list(rows)


@dataclass
class Granted:
    """What :func:`grant_accounts` did: the user's accounts and what else ran."""

    accounts: list[str]
    migrated: Transition
    imported: Imported


def grant_accounts(
    url: str, user: str, accounts: Iterable[str], legacy_folder: Path
) -> Granted:
    """Grant ``accounts`` to ``user`` in the database ``url``; for the CLI.

    First brings the auth tables to their newest migration (as ``trading dev``
    does before serving) and imports ``legacy_folder/accounts.json`` if an
    earlier version left one.

    Raises:
        DevIssuerError: a malformed name, an account of another user
            (:class:`OwnershipError`), or an unreadable ``accounts.json``.
        StorageError: the database cannot be reached or migrated.
    """
    wanted = list(accounts)
    check_user(user)
    for account in wanted:
        check_account(account)
    migrated = upgrade(url, migrations())

    async def run() -> Granted:
        database = ModuleDatabase(MODULE, Base.metadata, url)
        await database.open()
        try:
            owners = AccountOwners(database)
            imported = await owners.import_file(legacy_folder / LEGACY_FILE)
            mine = await owners.grant(user, wanted)
            return Granted(mine, migrated, imported)
        finally:
            await database.close()

    return asyncio.run(run())


def _read_legacy(path: Path) -> list[tuple[str, list[str]]]:
    problem = f"{path} is not the accounts file an earlier version wrote"
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise DevIssuerError(
            f"{problem} ({type(exc).__name__}); fix it, or move it away to drop "
            "the grants it holds"
        ) from None
    if not isinstance(stored, dict) or not all(
        isinstance(accounts, list) and all(isinstance(a, str) for a in accounts)
        for accounts in stored.values()
    ):
        raise DevIssuerError(
            f"{problem} (expected {{user: [account, ...]}}); fix it, or move it "
            "away to drop the grants it holds"
        )
    grants = [(str(user), list(stored[user])) for user in sorted(stored)]
    for user, accounts in grants:
        try:
            check_user(user)
            for account in accounts:
                check_account(account)
        except DevIssuerError as exc:
            raise DevIssuerError(
                f"{problem} ({exc}); fix it, or move it away to drop the grants "
                "it holds"
            ) from None
    return grants


def _set_aside(path: Path) -> Path | None:
    """Rename ``path`` to ``<name>.imported`` (``.imported.2``, ... if taken);
    None when another process imported and renamed it first."""
    target = path.with_name(path.name + IMPORTED_SUFFIX)
    number = 1
    while True:
        try:
            # A hard link never replaces an existing file: nothing set aside
            # earlier is overwritten.
            os.link(path, target)
        except FileExistsError:
            number += 1
            target = path.with_name(f"{path.name}{IMPORTED_SUFFIX}.{number}")
            continue
        except FileNotFoundError:
            return None
        break
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return target
