"""Fixtures of the auth module's tests: every test runs on a fresh SQLite
database its migrations built (once per session, then copied), named by
``DATABASE_URL``."""

import shutil
from pathlib import Path

import pytest

from trading_api.modules.auth.owners import migrations
from trading_api.shared.storage.migrations import upgrade


@pytest.fixture(scope="session")
def migrated_auth_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file the auth module's migrations built; tests copy it."""
    path = tmp_path_factory.mktemp("auth-template") / "auth.db"
    upgrade(f"sqlite:///{path}", migrations())
    return path


@pytest.fixture(autouse=True)
def auth_database(
    migrated_auth_database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """DATABASE_URL of this test: a fresh copy of the migrated database."""
    path = tmp_path / "auth.db"
    shutil.copyfile(migrated_auth_database, path)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url
