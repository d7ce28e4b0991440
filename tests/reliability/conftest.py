"""The WS test module served by uvicorn in its own process, shared by the
reliability tests that need its default limits (``ws_process.py``)."""

from collections.abc import Iterator

import pytest

from .ws_process import ServerProcess, serve_streams


@pytest.fixture(scope="session")
def streams_server() -> Iterator[ServerProcess]:
    """One server for every test of this folder that takes :func:`server`."""
    with serve_streams() as server:
        yield server


@pytest.fixture
def server(streams_server: ServerProcess) -> Iterator[ServerProcess]:
    """The shared streams server, idle; left idle again: no connection and no
    topic, so each test's topics start at sequence number 1."""
    streams_server.wait_stats(connections=0, topics=0)
    yield streams_server
    streams_server.wait_stats(connections=0, topics=0)
