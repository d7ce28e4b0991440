"""deploy.yaml and storage: stateful modules run once on SQLite, N times on
PostgreSQL."""

import pytest

from trading_cli.db import is_sqlite
from trading_cli.deploy.config import parse_config
from trading_cli.errors import UsageError

KNOWN = ["core", "broker", "notes"]


def config(instances: int) -> dict[str, object]:
    return {
        "servers": {
            "main": {"port": 8101, "modules": ["core"]},
            "trading": {"port": 8110, "instances": instances, "modules": ["notes"]},
        }
    }


def test_many_instances_of_a_stateful_module_on_sqlite_are_refused() -> None:
    with pytest.raises(UsageError) as refused:
        parse_config(config(2), KNOWN, stateful_modules=["notes"], on_sqlite=True)
    message = str(refused.value)
    assert message.startswith("deploy.yaml: servers.trading.instances: module 'notes'")
    assert "set instances: 1, or set DATABASE_URL to a PostgreSQL database" in message


def test_many_instances_on_postgresql_are_accepted() -> None:
    parsed = parse_config(config(2), KNOWN, stateful_modules=["notes"], on_sqlite=False)
    assert parsed.server_of("notes").ports == [8110, 8111]


def test_one_instance_on_sqlite_is_accepted() -> None:
    parsed = parse_config(config(1), KNOWN, stateful_modules=["notes"], on_sqlite=True)
    assert parsed.server_of("notes").instances == 1


def test_stateless_modules_scale_on_sqlite() -> None:
    parsed = parse_config(config(3), KNOWN, stateful_modules=["broker"], on_sqlite=True)
    assert parsed.server_of("notes").instances == 3


@pytest.mark.parametrize(
    ("url", "sqlite"),
    [
        ("sqlite:////srv/trading.db", True),
        ("sqlite+aiosqlite:///x.db", True),
        ("postgresql://u@127.0.0.1/trading", False),
        ("postgresql+asyncpg://u@127.0.0.1/trading", False),
    ],
)
def test_sqlite_urls_are_told_apart(url: str, sqlite: bool) -> None:
    assert is_sqlite(url) is sqlite
