"""Commands as transactions: the engine's change and its rows, committed together.

:class:`Transactions` runs every command of the engine, and every matching step,
the same way:

1. one database transaction begins; the account's row is locked
   (``SELECT ... FOR UPDATE``; on SQLite the transaction holds the file's write
   lock) and its stored ``version`` compared with this process's copy, which is
   reloaded when another process (or a swapped-out module) changed it;
2. the engine checks the request (a refusal raises, nothing changed) and applies
   it in memory, collecting the rows it changed and the events;
3. the rows are written and the transaction commits;
4. only then do the events go to the streams.

When the commit fails, the accounts the command touched are reloaded from the
database, so memory and database agree again, and the request is answered 503:
nothing was stored. In one process, commands run one at a time (an asyncio
lock: on SQLite, one writer), so a command never sees another's uncommitted
change.

Several instances (PostgreSQL): a matching step first takes the cluster-wide
try-lock ``matching`` (``ModuleDatabase.try_lock``) and is skipped when another
instance holds it, so one instance matches per tick; the events of a command or
step are published on the storage bus (``ModuleDatabase.publish``, channel
``events``) in its transaction, and every instance, this one included, delivers
what it receives to its own WebSocket subscribers (:meth:`Transactions.relay`).
On SQLite one process serves the tables and delivers the events itself.
"""

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel

from trading_api.models.broker import EquityData, Execution, Order, Position
from trading_api.modules.broker.accounting import Account
from trading_api.modules.broker.backends import Backend, Transaction, backend_for
from trading_api.modules.broker.engine import TradingEngine
from trading_api.modules.broker.errors import StorageUnavailableError
from trading_api.modules.broker.store import BrokerStore, Db
from trading_api.modules.broker.streams import EQUITY, EXECUTIONS, ORDERS, POSITIONS
from trading_api.modules.broker.views import Event, Unit
from trading_api.shared.storage import DEFAULT_MAX_QUEUED, GAP, ModuleDatabase

LOG = logging.getLogger(__name__)
T = TypeVar("T")
MATCHING_LOCK = "matching"
"""The cluster-wide try-lock of the matching step."""
WARM_CHUNK = 20
"""Accounts loaded per transaction after a start (their open orders, positions
and leverage): a few milliseconds each, so requests wait little between them."""
ACCOUNTS_LOCK = "accounts"
"""The cluster-wide lock that orders account creations (PostgreSQL): the
account limit is counted under it."""
EVENTS = "events"
"""The bus channel of the broker's stream events."""
MODELS: dict[str, type[BaseModel]] = {
    ORDERS: Order,
    POSITIONS: Position,
    EXECUTIONS: Execution,
    EQUITY: EquityData,
}
Before = Callable[[Db], Any]
"""Reads a command needs from the database, in its transaction (its result is
handed to the command)."""


@dataclass
class _Prepared:
    """What the first call of a transaction read."""

    loaded: list[Account] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    before: Any = None
    absent: bool = False
    """The command's account is not stored: it is created under the
    accounts lock, then the account is read again."""
    created: str | None = None
    """The account this transaction created (forgotten if it rolls back)."""


class Transactions:
    """Runs the engine's commands in database transactions (see the module)."""

    def __init__(self, engine: TradingEngine, database: ModuleDatabase) -> None:
        """Serve ``engine``'s state from ``database`` (opened by the app)."""
        self.engine = engine
        self.database = database
        self._lock = asyncio.Lock()
        self._store: BrokerStore | None = None
        self._backend: Backend | None = None
        self._shared = False
        self._cold: set[str] = set()
        self._warming: asyncio.Task[None] | None = None
        self._relayed = False
        self.instance = 0
        """This start's number in ``broker__instances``: it prefixes the ids."""

    @property
    def shared(self) -> bool:
        """Whether other processes may serve the same tables (PostgreSQL);
        known once :meth:`open` ran."""
        return self._shared

    @property
    def store(self) -> BrokerStore:
        """The store, once :meth:`open` ran."""
        if self._store is None:
            raise StorageUnavailableError(
                "the broker has not loaded its state: the app has not started"
            )
        return self._store

    @property
    def backend(self) -> Backend:
        """Where transactions run, once :meth:`open` ran."""
        if self._backend is None:
            raise StorageUnavailableError(
                "the broker has not loaded its state: the app has not started"
            )
        return self._backend

    async def open(self, now_ms: int) -> None:
        """Take an instance number for new ids and start loading the accounts.

        The stored accounts are loaded in the background, a few at a time
        (:meth:`warmed` waits for it), so the server answers at once however
        many orders are stored; until then an account is loaded when a
        request needs it, and the matching step skips the accounts not loaded
        yet (they catch up with the prices they missed once loaded).
        """
        dialect = self.database.engine.dialect.name
        self._store = store = BrokerStore(dialect)
        self._shared = dialect != "sqlite"
        self.engine.broadcast = self._shared
        self._backend = backend_for(self.database)

        def start(db: Db) -> tuple[int, list[str]]:
            return store.new_instance(db, now_ms), store.account_ids(db)

        async with self._lock, self.backend.transaction() as tx:
            self.instance, stored = await tx.finish(start)
        self.engine.order_ids.instance = self.instance
        self.engine.execution_ids.instance = self.instance
        self._cold = set(stored)
        self._warming = asyncio.create_task(
            self._warm(stored), name="broker-load-accounts"
        )
        LOG.info(
            "broker instance %d serves %d stored accounts", self.instance, len(stored)
        )

    async def _warm(self, stored: list[str]) -> None:
        """Load the stored accounts, :data:`WARM_CHUNK` per transaction, with
        requests served between the chunks."""
        store = self.store
        try:
            for first in range(0, len(stored), WARM_CHUNK):
                chunk = stored[first : first + WARM_CHUNK]
                async with self._lock:
                    wanted = [a for a in chunk if self.engine.known(a) is None]
                    if wanted:
                        async with self.backend.transaction() as tx:
                            loaded = await tx.finish(partial(store.load, ids=wanted))
                        for account in loaded:
                            # A request may have loaded it meanwhile: keep that.
                            if self.engine.known(account.id) is None:
                                self.engine.install(account)
                    self._cold.difference_update(chunk)
                await asyncio.sleep(0)
        except Exception:
            # The accounts left are loaded as commands and steps need them.
            LOG.exception("loading the stored accounts failed; loading on demand")
        finally:
            self._cold.clear()

    async def warmed(self) -> None:
        """Wait until every stored account is loaded (see :meth:`open`)."""
        if self._warming is not None:
            await asyncio.wait([self._warming])

    def cold(self, account_id: str) -> bool:
        """Whether the account is stored but not loaded yet."""
        return account_id in self._cold and self.engine.known(account_id) is None

    async def close(self) -> None:
        """Give the connection back."""
        warming, self._warming = self._warming, None
        if warming is not None:
            warming.cancel()
            await asyncio.wait([warming])
        backend, self._backend = self._backend, None
        if backend is not None:
            async with self._lock:
                await backend.close()

    async def read(self, work: Callable[[Db], T]) -> T:
        """Read stored rows (after the commands before it committed)."""
        async with self._lock, self.backend.transaction() as tx:
            return await tx.finish(work)

    async def fresh(self, account_id: str) -> None:
        """Reload the account if another process changed it since this one did."""
        async with self._lock, self.backend.transaction() as tx:
            prepared = await tx.call(
                lambda db: self._prepare(db, account_id, None, lock=False)
            )
            await tx.finish(lambda db: None)
        self._install(prepared)

    async def run(
        self,
        account_id: str | None,
        work: Callable[[Any], T],
        *,
        before: Before | None = None,
        after: Callable[[Db, T], None] | None = None,
    ) -> T:
        """Run ``work`` (engine commands) as one transaction; events after commit.

        ``before`` reads in the transaction first (after the account is locked);
        ``work`` gets its result. ``after`` gets the result of ``work`` and runs
        after the changed rows are written, before the commit.

        Raises:
            BrokerError: the request was refused; nothing changed.
            StorageUnavailableError: storing failed; nothing changed.
        """
        engine = self.engine
        store = self.store
        unit = Unit()
        prepared = _Prepared()
        async with self._lock:
            try:
                async with self.backend.transaction() as tx:
                    if account_id is None and not await self._matching(tx):
                        return None  # type: ignore[return-value]
                    # SQLite: one writer at a time, a new account is made at once.
                    prepare = partial(self._prepare, account_id=account_id)
                    prepared = await tx.call(
                        partial(prepare, before=before, create=tx.session is None)
                    )
                    if prepared.absent and tx.session is not None:
                        # A new account: creations of every instance take turns,
                        # so the same account is made once and the limit holds.
                        await self.database.lock(tx.session, ACCOUNTS_LOCK)
                        prepared = await tx.call(
                            partial(prepare, before=before, create=True)
                        )
                    self._install(prepared)
                    with engine.capture() as unit:
                        result = work(prepared.before)
                    changes = unit.changes

                    def write(db: Db) -> None:
                        store.save(db, changes)
                        if after is not None:
                            after(db, result)

                    await self._publish(tx, unit)
                    await tx.finish(write)
                for account in changes.accounts.values():
                    account.version += 1
            except Exception as exc:
                if prepared.created is not None:
                    # Rolled back: the account's row is gone again.
                    engine.drop(prepared.created)
                touched = list(unit.changes.accounts)
                if not touched:
                    raise  # refused before anything changed
                await self._recover(touched, account_id)
                raise StorageUnavailableError(
                    "the broker could not store this change, so it was not made "
                    f"({type(exc).__name__}); retry the request"
                ) from exc
            finally:
                engine.forget_finished(list(unit.changes.accounts))
        self._deliver(unit)
        return result

    async def _matching(self, tx: Transaction) -> bool:
        """Whether this instance matches this tick (it holds the try-lock)."""
        if tx.session is None:
            return True
        return await self.database.try_lock(tx.session, MATCHING_LOCK)

    async def _publish(self, tx: Transaction, unit: Unit) -> None:
        """Publish the events on the bus, delivered to every instance after the
        commit (PostgreSQL)."""
        if tx.session is None:
            return
        for event in unit.events:
            await self.database.publish(tx.session, EVENTS, encode(event))

    def _deliver(self, unit: Unit) -> None:
        """Send the events to this process's subscribers (SQLite; on
        PostgreSQL they come back through :meth:`relay`)."""
        if not self.shared:
            self.engine.deliver(unit.events)

    async def relay(
        self, on_gap: Callable[[], int], *, max_queued: int = DEFAULT_MAX_QUEUED
    ) -> None:
        """Deliver the events every instance publishes to this one's
        subscribers, until cancelled (PostgreSQL).

        When the bus lost events (``GAP``: the listening connection dropped
        and is back, or this relay fell behind), or the relay starts again
        after a failure, the subscribers may have missed some for good:
        ``on_gap`` closes them, and they resubscribe and read the state again.
        ``max_queued`` events may wait for this relay; past them, a gap.
        """
        async with self.database.subscribe(EVENTS, max_queued=max_queued) as events:
            if self._relayed:
                # Restarted (the last relay failed): what came meanwhile is lost.
                on_gap()
            self._relayed = True
            async for payload in events:
                if payload is GAP:
                    closed = on_gap()
                    LOG.warning(
                        "broker events were lost on the bus; closed %d WebSocket "
                        "connections so they read the state again",
                        closed,
                    )
                    continue
                self.engine.deliver([decode(str(payload))])

    def _prepare(
        self,
        db: Db,
        account_id: str | None,
        before: Before | None,
        *,
        lock: bool = True,
        create: bool = False,
    ) -> _Prepared:
        """Lock and read: the account's row (or, for a step, every account's),
        the accounts another process changed, then ``before``.

        With ``lock``, an account that is not stored is created (``create``,
        its row locked like any other) or reported ``absent`` (the caller
        takes the accounts lock and calls again with ``create``).

        Raises:
            LimitError: creating the account would pass ``BROKER_MAX_ACCOUNTS``.
        """
        store = self.store
        prepared = _Prepared()
        if account_id is None:
            stale = self._stale_accounts(db)
        else:
            version = store.version(db, account_id, lock=lock)
            if version is None and lock:
                if not create:
                    return _Prepared(absent=True)
                store.create_account(
                    db,
                    self.engine.account(account_id),
                    max_accounts=self.engine.settings.max_accounts,
                )
                version = store.version(db, account_id, lock=True)
                prepared.created = account_id
            known = self.engine.known(account_id)
            stale = []
            if version is None and known is not None:
                prepared.missing.append(account_id)
            elif version is not None and (known is None or known.version != version):
                stale.append(account_id)
        if stale:
            prepared.loaded = store.load(db, stale)
            found = {account.id for account in prepared.loaded}
            prepared.missing += [each for each in stale if each not in found]
        if before is not None:
            prepared.before = before(db)
        return prepared

    def _stale_accounts(self, db: Db) -> list[str]:
        """Before a matching step: the accounts changed elsewhere.

        On PostgreSQL every account row is locked for the step, so no command
        of another instance changes an account while the step books its fills.
        On SQLite one count and sum of the versions says whether anything changed.
        """
        store = self.store
        held = self.engine.accounts()
        if not self.shared:
            mine = (len(held), sum(account.version for account in held))
            if store.version_total(db) == mine:
                return []
        versions = store.versions(db, lock=self.shared)
        stale = [
            account_id
            for account_id, version in versions.items()
            if (
                (known := self.engine.known(account_id)) is None
                and account_id not in self._cold  # loading in the background
            )
            or (known is not None and known.version != version)
        ]
        return stale + [a.id for a in held if a.id not in versions]

    def _install(self, prepared: _Prepared) -> None:
        for account in prepared.loaded:
            self.engine.install(account)
        for account_id in prepared.missing:
            self.engine.drop(account_id)

    async def _recover(self, touched: Sequence[str], account_id: str | None) -> None:
        """After a failed commit: memory back to what the database holds."""
        wanted = sorted(set(touched) | ({account_id} if account_id else set()))
        store = self.store

        def reload(db: Db) -> _Prepared:
            loaded = store.load(db, wanted)
            found = {account.id for account in loaded}
            return _Prepared(loaded, [each for each in wanted if each not in found])

        try:
            async with self.backend.transaction() as tx:
                self._install(await tx.finish(reload))
        except Exception:
            LOG.exception("reloading accounts %s failed", wanted)
            for each in wanted:
                # Unknown until the next command reloads it from its row.
                self.engine.drop(each)


def encode(event: Event) -> str:
    """An event as a bus message: route and account, a newline, the item's
    wire JSON."""
    route, account_id, item = event
    return json.dumps([route, account_id]) + "\n" + item.model_dump_json(by_alias=True)


def decode(payload: str) -> Event:
    """The event a bus message carries."""
    head, _, body = payload.partition("\n")
    route, account_id = json.loads(head)
    return route, account_id, MODELS[route].model_validate_json(body)
