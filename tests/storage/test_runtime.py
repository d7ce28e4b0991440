"""The runtime and storage: nothing happens at import or build time; the
lifespan opens each stateful module's database, or refuses to start."""

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from trading_api.app_factory import AppFactory
from trading_api.shared.auth.testing import sign_in
from trading_api.shared.storage import StorageError, module_metadata
from trading_api.shared.storage.migrations import ModuleMigrations, upgrade

STATEFUL = """
from fastapi import APIRouter
from sqlalchemy import func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from trading_api.shared.module_interface import Module
from trading_api.shared.storage import module_metadata


class Base(DeclarativeBase):
    metadata = module_metadata("notes")


class NoteRow(Base):
    __tablename__ = "notes__items"
    id: Mapped[int] = mapped_column(primary_key=True)


class NotesModule(Module):
    name = "notes"
    tables = Base.metadata

    def __init__(self) -> None:
        router = APIRouter()
        database = self.database

        @router.get("/count")
        async def count() -> int:
            async with database.session() as session:
                return await session.scalar(select(func.count(NoteRow.id))) or 0

        self._routers = [router]

    @property
    def service(self) -> object:
        return self.database

    @property
    def api_routers(self) -> list[APIRouter]:
        return self._routers
"""


@pytest.fixture
def notes(write_module: Callable[..., Path]) -> Path:
    """A stateful module ``notes`` with its first migration, in a modules folder."""
    package = write_module("notes", body=STATEFUL)
    namespace: dict[str, object] = {}
    exec(compile(textwrap.dedent(STATEFUL), "notes", "exec"), namespace)
    metadata = namespace["Base"].metadata  # type: ignore[attr-defined]
    from trading_api.shared.storage.migrations import new_revision

    new_revision(ModuleMigrations.in_package("notes", package, metadata), "create")
    return package


def test_importing_and_building_the_app_touch_no_database(
    notes: Path, tmp_path: Path
) -> None:
    database = tmp_path / "data" / "trading.db"
    script = (
        "from pathlib import Path\n"
        "import trading_api\n"
        "from trading_api.app_factory import AppFactory\n"
        f"AppFactory(Path({str(notes.parent)!r})).create_app()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={"DATABASE_URL": f"sqlite:///{database}", "PATH": ""},
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert not database.parent.exists()


def test_the_lifespan_opens_the_module_database(
    notes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'trading.db'}"
    upgrade(url, ModuleMigrations.in_package("notes", notes, None))
    monkeypatch.setenv("DATABASE_URL", url)
    app = sign_in(AppFactory(notes.parent).create_app())
    with TestClient(app) as client:
        count = client.get("/api/v1/notes/count")
    assert count.json() == 0


def test_a_server_on_tables_never_created_refuses_to_start(
    notes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'trading.db'}")
    app = AppFactory(notes.parent).create_app()
    with pytest.raises(StorageError, match="trading db upgrade notes"), TestClient(app):
        pass


def test_module_metadata_names_its_module() -> None:
    assert module_metadata("notes").info == {"trading_module": "notes"}
