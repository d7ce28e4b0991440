"""The dev loop's channel: typed messages, one table of kinds, typed failures."""

import dataclasses
import json

import pytest

from trading_cli.dev import channel
from trading_cli.dev.failure import Failure

FAILURE = Failure(summary="SyntaxError: '(' was never closed at api.py:3", block="  x")

ONE_OF_EACH: list[channel.Message] = [
    channel.Serve(id=1, modules=["broker"], codegen=None),
    channel.Build(id=2, modules=None),
    channel.Stop(id=3),
    channel.Swap(id=4, server=1, module="broker"),
    channel.Restart(),
    channel.Retire(),
    channel.Quit(),
    channel.Serving(
        id=1,
        pid=42,
        modules=["core"],
        written=[],
        failure=FAILURE,
        timeline={"relay and fork": 1.5, "start": 2.25},
    ),
    channel.Swapped(
        id=4,
        server=1,
        module="broker",
        written=["a.py"],
        failure=None,
        served_at=2.5,
        timeline={"relay": 1.0, "import": 2.0, "start": 2.5, "caches": 3.0},
    ),
    channel.Built(id=2, modules=None, written=[], failure=FAILURE, seconds=0.5),
    channel.Exited(pid=42, id=1, kind="serve", code=0),
]


def test_every_kind_is_in_the_table_once() -> None:
    kinds = {type(message) for message in ONE_OF_EACH}

    assert kinds == set(channel.MESSAGES.values())
    assert len(channel.MESSAGES) == len(ONE_OF_EACH)


@pytest.mark.parametrize("message", ONE_OF_EACH, ids=lambda m: type(m).__name__)
def test_a_message_comes_back_equal_with_its_types(message: channel.Message) -> None:
    decoded = channel.decode(channel.encode(message))

    assert decoded == message
    assert type(decoded) is type(message)
    failure = getattr(decoded, "failure", None)
    assert failure is None or isinstance(failure, Failure)


def test_the_wire_form_names_the_kind_and_the_fields() -> None:
    wire = json.loads(channel.encode(channel.Swap(id=4, server=1, module="broker")))

    assert wire == {"op": "swap", "id": 4, "server": 1, "module": "broker"}


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[1, 2]",
        b'{"op": "preloaded", "pid": 1}',
        b'{"op": "swap", "id": 4}',
        b'{"op": "stop", "id": 3, "extra": 1}',
    ],
)
def test_a_record_that_is_no_known_message_is_refused(data: bytes) -> None:
    with pytest.raises(channel.ChannelError):
        channel.decode(data)


def test_a_receiver_refuses_a_kind_it_does_not_handle() -> None:
    handled: list[channel.Message] = []
    table = {channel.Stop: handled.append}

    channel.handler_for(table, channel.Stop(id=3))(channel.Stop(id=3))
    with pytest.raises(channel.ChannelError, match="unexpected Quit message"):
        channel.handler_for(table, channel.Quit())

    assert handled == [channel.Stop(id=3)]


def test_messages_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        channel.Stop(id=3).id = 4  # type: ignore[misc]


def test_an_oversized_message_is_refused_before_sending() -> None:
    huge = channel.Serving(
        id=1,
        pid=1,
        modules=[],
        written=["x" * channel.MAX_MESSAGE],
        failure=None,
        timeline={},
    )

    with pytest.raises(ValueError, match="exceeds"):
        channel.encode(huge)
