"""Generated clients carry a token and renew it through their refresh hook."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from trading_api.models.broker import AccountSubscriptionRequest
from trading_api.modules.broker.client_generated import AsyncBrokerClient, BrokerClient
from trading_api.shared.client_runtime import ApiError, SubscriptionError
from trading_api.shared.testing import serve

from .conftest import Issuer, build


@pytest.fixture(scope="module")
def url(issuer: Issuer) -> Iterator[str]:
    app = build(issuer, "broker")
    [broker] = [m for m in app.modules if m.name == "broker"]
    broker.simulation_interval = 0  # type: ignore[attr-defined]
    with serve(app) as base:
        yield base


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def expired(issuer: Issuer) -> str:
    return issuer.signer.sign("alice", ["ALICE-1"], now=0, ttl_seconds=60)


def test_a_client_renews_a_refused_token_once_and_goes_on(
    url: str, issuer: Issuer
) -> None:
    renewals: list[float] = []

    def login() -> str:
        renewals.append(time.time())
        return issuer.token("alice", ("ALICE-1",))

    with BrokerClient(base_url=url, token=expired(issuer), refresh=login) as broker:
        first = broker.list_orders(account_id="ALICE-1")
        second = broker.get_account(account_id="ALICE-1")
    assert (first, second.id) == ([], "ALICE-1")
    assert len(renewals) == 1


def test_without_a_refresh_hook_a_refused_token_raises_401(
    url: str, issuer: Issuer
) -> None:
    broker = BrokerClient(base_url=url, token=expired(issuer))
    with broker, pytest.raises(ApiError) as refused:
        broker.list_orders(account_id="ALICE-1")
    assert refused.value.status_code == 401
    assert refused.value.detail == "token expired"


@pytest.mark.anyio
async def test_a_subscription_closed_with_4401_renews_and_subscribes(
    url: str, issuer: Issuer
) -> None:
    async def login() -> str:
        return issuer.token("alice", ("ALICE-1",))

    request = AccountSubscriptionRequest(account_id="ALICE-1")
    async with (
        AsyncBrokerClient(base_url=url, token=expired(issuer), refresh=login) as broker,
        broker.subscribe("equity", request) as equity,
    ):
        topic = equity.topic
    assert topic == 'equity:{"accountId":"ALICE-1"}'


def equity_across_expiry(
    url: str, issuer: Issuer, ttl: float
) -> list[tuple[int, float]]:
    """(renewals so far, equity) of each update of a stream opened with a token
    valid for ``ttl`` seconds, up to the first update after a renewal."""
    renewals: list[str] = []

    def login() -> str:
        renewals.append(issuer.token("alice", ("ALICE-1",)))
        return renewals[-1]

    short = issuer.signer.sign("alice", ["ALICE-1"], ttl_seconds=ttl)
    request = AccountSubscriptionRequest(account_id="ALICE-1")
    seen: list[tuple[int, float]] = []
    with BrokerClient(base_url=url, token=short, refresh=login) as broker:
        for update in broker.subscribe("equity", request):
            seen.append((len(renewals), update.equity))
            if renewals:
                break
    return seen


def test_a_stream_outlives_its_token_through_the_refresh_hook(
    url: str, issuer: Issuer
) -> None:
    # The server closes an open stream with 4401 when its token expires; the
    # client renews the token and subscribes again, and the loop goes on with
    # the new subscription's snapshot (an account without positions pushes
    # its equity only then). A token must outlive the first subscription for
    # its expiry to fall on an open stream: on a busy machine, a longer one.
    for ttl in (1.5, 4.0, 10.0):
        seen = equity_across_expiry(url, issuer, ttl)
        if seen[0][0] == 0:
            break  # the first snapshot came on the short token
    assert [renewed for renewed, _ in seen] == [0, 1]
    assert seen[0][1] == seen[1][1] > 0


def test_a_subscription_refused_without_a_refresh_hook_says_why(
    url: str, issuer: Issuer
) -> None:
    request = AccountSubscriptionRequest(account_id="ALICE-1")
    broker = BrokerClient(base_url=url, token=expired(issuer))
    with broker, pytest.raises(SubscriptionError) as refused:
        broker.subscribe("equity", request).open()
    assert refused.value.reason == "token expired"


def test_a_subscription_to_another_users_account_is_refused(
    url: str, issuer: Issuer
) -> None:
    request = AccountSubscriptionRequest(account_id="BOB-1")
    broker = BrokerClient(base_url=url, token=issuer.token())
    with broker, pytest.raises(SubscriptionError) as refused:
        broker.subscribe("orders", request).open()
    assert refused.value.reason == "not allowed to act on this account"
