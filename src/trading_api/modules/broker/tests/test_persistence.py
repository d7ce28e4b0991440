"""What the broker stores, on SQLite and on a real PostgreSQL: a restart serves
every order, position and key as before; two services on one database (a
restart overlapping the old process, or two instances) see each other's
changes; a failed commit changes nothing; on PostgreSQL one instance matches per
tick and every instance's subscribers get the events.
"""

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import select, text

from trading_api.market import ManualClock, Market
from trading_api.models.broker import (
    Brackets,
    LeverageSetParams,
    Order,
    OrderModification,
    OrderStatus,
    OrderType,
)
from trading_api.modules.broker.durable import MATCHING_LOCK, Transactions
from trading_api.modules.broker.errors import (
    ConflictError,
    LimitError,
    StorageUnavailableError,
)
from trading_api.modules.broker.service import BrokerService
from trading_api.modules.broker.settings import BrokerSettings
from trading_api.modules.broker.store import BrokerStore
from trading_api.modules.broker.tables import AccountRow, Base
from trading_api.modules.broker.tests.support import (
    ACCOUNT,
    BUY,
    OPEN,
    SELL,
    Broker,
    Run,
    place,
    position,
    pre_order,
    subscribe,
)
from trading_api.shared.storage import ModuleDatabase, lock_key


@pytest.fixture
def market() -> Market:
    return Market(clock=ManualClock(OPEN))


@pytest.fixture
def brokers(run: Run, stored_url: str, market: Market) -> Iterator[list[Broker]]:
    """Services made on the test's database; closed at the end."""
    made: list[Broker] = []
    yield made
    for broker in made:
        broker.close()


def start(
    brokers: list[Broker],
    run: Run,
    url: str,
    market: Market,
    settings: BrokerSettings | None = None,
) -> Broker:
    broker = Broker(run, url, market, settings)
    brokers.append(broker)
    return broker


def test_a_restart_serves_every_order_position_and_leverage(
    brokers: list[Broker], run: Run, stored_url: str, market: Market
) -> None:
    first = start(brokers, run, stored_url, market)
    first.set_price("AAPL", 100.0)
    place(first, BUY, 10, take_profit=110.0, stop_loss=90.0)
    resting = place(first, BUY, 5, OrderType.LIMIT, limit_price=95.0)
    stop_limit = place(
        first, SELL, 2, OrderType.STOP_LIMIT, stop_price=99.0, limit_price=101.0
    )
    first.set_price("AAPL", 98.0)  # triggers the stop-limit, above its limit
    cancelled = place(first, BUY, 1, OrderType.LIMIT, limit_price=50.0)
    first.cancel_order(ACCOUNT, cancelled)
    first.modify_order(ACCOUNT, resting, OrderModification(limit_price=96.0))
    first.set_leverage(
        ACCOUNT,
        LeverageSetParams(
            symbol="AAPL", order_type=OrderType.MARKET, side=BUY, leverage=4
        ),
    )
    before = (first.orders(ACCOUNT), first.positions(ACCOUNT), first.snapshot())

    again = start(brokers, run, stored_url, market)
    assert (again.orders(ACCOUNT), again.positions(ACCOUNT), again.snapshot()) == (
        before
    )
    held = again.engine.known(ACCOUNT)
    assert stop_limit in held.triggered
    # Only the open orders are loaded; the finished ones are read when asked.
    open_ids = {o.id for o in before[0] if o.status in (3, 6)}
    assert set(held.orders) == open_ids and len(open_ids) < len(before[0])
    again.set_price("AAPL", 101.0)  # the triggered stop-limit now fills
    statuses = {o.id: o.status for o in again.orders(ACCOUNT)}
    assert statuses[stop_limit] is OrderStatus.FILLED
    with pytest.raises(ConflictError, match="already canceled"):
        again.cancel_order(ACCOUNT, cancelled)


def test_a_change_made_by_another_service_is_reloaded_before_a_command(
    brokers: list[Broker], run: Run, stored_url: str, market: Market
) -> None:
    one = start(brokers, run, stored_url, market)
    other = start(brokers, run, stored_url, market)
    one.set_price("AAPL", 100.0)
    place(one, BUY, 10)
    place(other, BUY, 5)  # the other service's copy of the account was stale
    assert position(other) == (15, BUY, 100.0)
    place(one, SELL, 15)
    assert position(one) is None
    assert len({o.id for o in other.orders(ACCOUNT)}) == 3


def test_ids_are_unique_across_services_on_one_database(
    brokers: list[Broker], run: Run, stored_url: str, market: Market
) -> None:
    one = start(brokers, run, stored_url, market)
    other = start(brokers, run, stored_url, market)
    one.set_price("AAPL", 100.0)
    ids = [place(one, BUY, 1), place(other, BUY, 1), place(one, BUY, 1)]
    assert len(set(ids)) == 3
    assert len(one.executions(ACCOUNT, "AAPL")) == 3


def test_a_failed_commit_answers_an_error_and_changes_nothing(
    brokers: list[Broker],
    run: Run,
    stored_url: str,
    market: Market,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = start(brokers, run, stored_url, market)
    broker.set_price("AAPL", 100.0)
    place(broker, BUY, 10)
    save = BrokerStore.save

    def fail_after_writing(self: BrokerStore, db: object, changes: object) -> None:
        save(self, db, changes)  # type: ignore[arg-type]
        raise OSError("disk full")

    monkeypatch.setattr(BrokerStore, "save", fail_after_writing)
    with pytest.raises(StorageUnavailableError, match="not made"):
        place(broker, BUY, 5)
    with pytest.raises(StorageUnavailableError):
        place(broker, BUY, 1, account="NEW")
    monkeypatch.setattr(BrokerStore, "save", save)
    assert position(broker) == (10, BUY, 100.0)
    assert [o.qty for o in broker.orders(ACCOUNT)] == [10]
    assert broker.engine.known("NEW") is None
    place(broker, BUY, 2)
    assert position(broker) == (12, BUY, 100.0)


def test_idempotency_keys_survive_a_restart_and_the_oldest_is_forgotten(
    brokers: list[Broker], run: Run, stored_url: str, market: Market
) -> None:
    settings = BrokerSettings(idempotency_keys=2)
    first = start(brokers, run, stored_url, market, settings)
    first.set_price("AAPL", 100.0)
    answers = [first.place_order_once(ACCOUNT, pre_order(), k) for k in "abc"]
    again = start(brokers, run, stored_url, market, settings)
    assert again.place_order_once(ACCOUNT, pre_order(), "c") == (answers[2][0], True)
    assert again.place_order_once(ACCOUNT, pre_order(qty=2), "a")[1] is False
    assert len(again.orders(ACCOUNT)) == 4


def test_history_is_read_in_pages_oldest_first(
    brokers: list[Broker],
    run: Run,
    stored_url: str,
    market: Market,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = start(brokers, run, stored_url, market)
    broker.set_price("AAPL", 100.0)
    placed = [place(broker, BUY if n % 2 else SELL, 1) for n in range(5)]
    monkeypatch.setattr("trading_api.modules.broker.service.PAGE", 2)
    assert [o.id for o in broker.orders(ACCOUNT)] == placed
    fills = broker.executions(ACCOUNT, "AAPL")
    assert [e.order_id for e in fills] == placed


def test_brackets_of_a_position_are_stored_with_it(
    brokers: list[Broker], run: Run, stored_url: str, market: Market
) -> None:
    first = start(brokers, run, stored_url, market)
    first.set_price("AAPL", 100.0)
    place(first, BUY, 10)
    first.set_position_brackets(
        ACCOUNT, "AAPL", Brackets(take_profit=120.0, stop_loss=80.0)
    )
    again = start(brokers, run, stored_url, market)
    [held] = again.positions(ACCOUNT)
    assert (held.take_profit, held.stop_loss) == (120.0, 80.0)
    again.set_price("AAPL", 121.0)
    assert position(again) is None
    assert sorted(o.status for o in again.orders(ACCOUNT)) == [
        OrderStatus.CANCELED,
        OrderStatus.FILLED,
        OrderStatus.FILLED,
    ]


def test_a_restart_serves_at_once_and_loads_the_accounts_behind(
    brokers: list[Broker],
    run: Run,
    stored_url: str,
    market: Market,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = start(brokers, run, stored_url, market)
    first.set_price("AAPL", 100.0)
    for account in "ABC":
        place(first, BUY, 10, account=account)
    resting = place(first, BUY, 5, OrderType.LIMIT, account="C", limit_price=95.0)
    before = {a: (first.positions(a), first.account_info(a)) for a in "AB"}
    # The background load waits until released: every account starts cold.
    release = asyncio.Event()
    warm = Transactions._warm

    async def held_back(self: Transactions, stored: list[str]) -> None:
        await release.wait()
        await warm(self, stored)

    monkeypatch.setattr(Transactions, "_warm", held_back)
    database = ModuleDatabase("broker", Base.metadata, stored_url)
    run(database.open())
    service = BrokerService(database, market=market)
    run(service.open())
    try:
        engine = service.engine
        assert [engine.known(a) for a in "ABC"] == [None, None, None]
        # A read and a command load the account they need.
        assert run(service.positions("A")) == before["A"][0]
        assert run(service.account_info("B")) == before["B"][1]
        run(service.place_order("B", pre_order(qty=1)))
        assert [p.qty for p in run(service.positions("B"))] == [11]
        # The step matches only loaded accounts: C's limit waits for its load.
        service.set_price("AAPL", 94.0)
        run(service.step())
        assert engine.known("C") is None
        release.set()
        run(service.warmed())
        run(service.step())
        [order] = [o for o in run(service.orders("C")) if o.id == resting]
        assert (order.status, order.avg_price) == (OrderStatus.FILLED, 95.0)
        assert [p.qty for p in run(service.positions("C"))] == [15]
    finally:
        run(service.close())
        run(database.close())


# -- new accounts made by several instances at once --------------------------------

Job = Callable[[BrokerService], Awaitable[Any]]


def at_once(
    url: str, market: Market, settings: BrokerSettings, *instances: list[Job]
) -> list[list[Any]]:
    """Run each list of jobs on its own service (its own connections, thread and
    event loop), all started together; return each job's result or error."""
    barrier = threading.Barrier(len(instances))
    results: list[list[Any]] = [[] for _ in instances]

    async def serve(jobs: list[Job]) -> list[Any]:
        database = ModuleDatabase("broker", Base.metadata, url)
        await database.open()
        service = BrokerService(database, market=market, settings=settings)
        try:
            await service.open()
            barrier.wait(timeout=30)
            return await asyncio.gather(
                *(job(service) for job in jobs), return_exceptions=True
            )
        finally:
            await service.close()
            await database.close()

    def thread(index: int, jobs: list[Job]) -> None:
        results[index] = asyncio.run(serve(jobs))

    threads = [
        threading.Thread(target=thread, args=(index, jobs))
        for index, jobs in enumerate(instances)
    ]
    for each in threads:
        each.start()
    for each in threads:
        each.join(timeout=60)
    assert not any(each.is_alive() for each in threads)
    return results


def stored_accounts(broker: Broker) -> list[tuple[str, float]]:
    async def read() -> list[tuple[str, float]]:
        async with broker.database.session() as session:
            rows = await session.execute(
                select(AccountRow.id, AccountRow.balance).order_by(AccountRow.id)
            )
            return [(row.id, row.balance) for row in rows]

    result: list[tuple[str, float]] = broker.run(read())
    return result


def test_two_instances_opening_the_same_account_at_once_both_succeed(
    brokers: list[Broker], run: Run, stored_url: str, market: Market
) -> None:
    resting = pre_order(type=OrderType.LIMIT, limit_price=1.0)

    async def place_and_read(service: BrokerService) -> tuple[str, set[str]]:
        order_id = await service.place_order("NEW", resting)
        return order_id, {o.id for o in await service.orders("NEW")}

    settings = BrokerSettings()
    [[first], [second]] = at_once(
        stored_url, market, settings, [place_and_read], [place_and_read]
    )
    assert not isinstance(first, BaseException), first
    assert not isinstance(second, BaseException), second
    both = {first[0], second[0]}
    assert len(both) == 2
    # The one that committed second saw the other's order.
    assert both in (first[1], second[1])
    broker = start(brokers, run, stored_url, market)
    assert stored_accounts(broker) == [("NEW", 100_000.0)]
    assert {o.id for o in broker.orders("NEW")} == both


def test_the_account_limit_holds_across_instances_creating_at_once(
    brokers: list[Broker], run: Run, stored_url: str, market: Market
) -> None:
    settings = BrokerSettings(max_accounts=3)

    def opener(account: str) -> Job:
        async def open_account(service: BrokerService) -> str:
            return await service.place_order(
                account, pre_order(type=OrderType.LIMIT, limit_price=1.0)
            )

        return open_account

    answers = at_once(
        stored_url,
        market,
        settings,
        [opener(f"A{n}") for n in range(4)],
        [opener(f"B{n}") for n in range(4)],
    )
    flat = answers[0] + answers[1]
    refused = [a for a in flat if isinstance(a, BaseException)]
    assert len(refused) == 5
    assert all(isinstance(a, LimitError) for a in refused), refused
    assert all("BROKER_MAX_ACCOUNTS" in str(a) for a in refused)
    broker = start(brokers, run, stored_url, market, settings)
    stored = [account for account, _ in stored_accounts(broker)]
    assert len(stored) == 3
    # Exactly the accounts whose order was taken are stored.
    names = [f"A{n}" for n in range(4)] + [f"B{n}" for n in range(4)]
    opened = {
        account
        for account, answer in zip(names, flat, strict=True)
        if not isinstance(answer, BaseException)
    }
    assert set(stored) == opened
    # A refused account stays unknown, and an existing one still trades.
    with pytest.raises(LimitError):
        broker.place_order("C", pre_order(type=OrderType.LIMIT, limit_price=1.0))
    assert broker.orders(stored[0]) and broker.engine.known("C") is None
    broker.place_order(stored[0], pre_order(type=OrderType.LIMIT, limit_price=1.0))


# -- several instances (PostgreSQL) ------------------------------------------------


# One SQLite file is served by one process: these run on PostgreSQL only.
on_postgres = pytest.mark.parametrize(
    "stored_url",
    [pytest.param("postgresql", marks=pytest.mark.integration)],
    indirect=True,
)


@pytest.fixture
def postgres_url(stored_url: str) -> str:
    assert stored_url.startswith("postgresql")
    return stored_url


@on_postgres
def test_a_step_is_skipped_while_another_instance_matches(
    brokers: list[Broker], run: Run, postgres_url: str, market: Market
) -> None:
    broker = start(brokers, run, postgres_url, market)
    broker.set_price("AAPL", 100.0)
    resting = place(broker, BUY, 1, OrderType.LIMIT, limit_price=95.0)
    broker.service.set_price("AAPL", 94.0)

    async def step_while_held() -> None:
        async with broker.database.transaction() as session:
            held = await session.scalar(
                text("SELECT pg_try_advisory_xact_lock(:key)"),
                {"key": lock_key("broker", MATCHING_LOCK)},
                bind_arguments=broker.database.raw_sql,
            )
            assert held
            await broker.service.step()

    steps = broker.engine.steps
    run(step_while_held())
    assert broker.engine.steps == steps
    assert [o.status for o in broker.orders(ACCOUNT) if o.id == resting] == [
        OrderStatus.WORKING
    ]
    broker.step()
    assert broker.engine.steps == steps + 1
    assert [o.status for o in broker.orders(ACCOUNT) if o.id == resting] == [
        OrderStatus.FILLED
    ]


@on_postgres
def test_every_instance_delivers_the_events_of_another(
    brokers: list[Broker], run: Run, postgres_url: str, market: Market
) -> None:
    one = start(brokers, run, postgres_url, market)
    other = start(brokers, run, postgres_url, market)
    one.set_price("AAPL", 100.0)
    received: list[BaseModel] = subscribe(other, "orders")

    async def relay_and_place() -> list[BaseModel]:
        relay = asyncio.create_task(other.service.relay())
        await asyncio.sleep(0.2)  # the relay listens before the order is placed
        order_id = await one.service.place_order(ACCOUNT, pre_order(qty=3))
        async with asyncio.timeout(10):
            while not any(
                isinstance(o, Order) and o.status is OrderStatus.FILLED
                for o in received
            ):
                await asyncio.sleep(0.02)
        relay.cancel()
        assert all(isinstance(o, Order) and o.id == order_id for o in received)
        return received

    pushed = run(relay_and_place())
    assert [o.status for o in pushed if isinstance(o, Order)] == [
        OrderStatus.WORKING,
        OrderStatus.FILLED,
    ]


@on_postgres
def test_a_restarted_relay_closes_the_subscribers_that_may_have_missed_events(
    brokers: list[Broker], run: Run, postgres_url: str, market: Market
) -> None:
    broker = start(brokers, run, postgres_url, market)
    closings: list[str] = []

    def closing() -> int:
        closings.append("closed")
        return 0

    async def relay_twice() -> None:
        for _ in range(2):
            relay = asyncio.create_task(broker.service._tx.relay(closing))
            await asyncio.sleep(0.2)  # listening
            relay.cancel()
            await asyncio.gather(relay, return_exceptions=True)

    run(relay_twice())
    # The first start missed nothing; the second may have.
    assert closings == ["closed"]


@on_postgres
def test_a_relay_that_fell_behind_closes_its_subscribers(
    brokers: list[Broker], run: Run, postgres_url: str, market: Market
) -> None:
    one = start(brokers, run, postgres_url, market)
    other = start(brokers, run, postgres_url, market)
    one.set_price("AAPL", 100.0)
    closings: list[str] = []

    def closing() -> int:
        closings.append("closed")
        return 0

    async def overflow() -> None:
        # Room for two events: a filled market order publishes more than that
        # in one commit, all delivered before the relay runs again.
        relay = asyncio.create_task(other.service._tx.relay(closing, max_queued=2))
        await asyncio.sleep(0.2)  # listening
        await one.service.place_order(ACCOUNT, pre_order(qty=3))
        try:
            async with asyncio.timeout(10):
                while not closings:
                    await asyncio.sleep(0.01)
        except TimeoutError:
            raise AssertionError("the relay fell behind and closed nobody") from None
        finally:
            relay.cancel()
            await asyncio.gather(relay, return_exceptions=True)

    run(overflow())
