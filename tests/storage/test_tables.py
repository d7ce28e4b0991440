"""Each module's tables are its own: prefixed names, no reference across modules."""

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from trading_api.shared.module_registry import ModuleRegistry
from trading_api.shared.storage import (
    StorageError,
    check_tables,
    module_metadata,
    owner_of,
    table_prefix,
    table_problems,
)


def metadata_with(module: str, *tables: str) -> MetaData:
    metadata = module_metadata(module)
    for name in tables:
        Table(name, metadata, Column("id", Integer, primary_key=True))
    return metadata


def test_prefix_is_the_package_and_a_double_underscore() -> None:
    assert table_prefix("market-data") == "market_data__"


def test_a_prefix_never_claims_a_longer_modules_table() -> None:
    # "foo_" would claim "foo_bar_items"; the double underscore cannot.
    modules = ["foo", "foo-bar"]
    assert owner_of("foo_bar__items", modules) == "foo-bar"
    assert owner_of("foo__items", modules) == "foo"
    assert owner_of("items", modules) is None


def test_prefixed_tables_pass() -> None:
    assert table_problems("notes", metadata_with("notes", "notes__items")) == []


def test_unprefixed_table_is_refused_with_its_new_name() -> None:
    with pytest.raises(StorageError, match="rename it to notes__items"):
        check_tables("notes", metadata_with("notes", "items"))


def test_the_version_table_name_is_reserved() -> None:
    problems = table_problems("notes", metadata_with("notes", "notes__alembic_version"))
    assert problems and "must be named notes__<name>" in problems[0]


def test_metadata_of_another_module_is_refused() -> None:
    problems = table_problems("notes", metadata_with("broker", "notes__items"))
    assert problems == [
        "module 'notes' declares tables in a MetaData made for 'broker'; "
        "use module_metadata('notes')"
    ]


def test_foreign_key_to_another_modules_table_is_refused() -> None:
    class Base(DeclarativeBase):
        metadata = module_metadata("notes")

    class Note(Base):
        __tablename__ = "notes__items"
        id: Mapped[int] = mapped_column(primary_key=True)
        order_id: Mapped[int] = mapped_column(ForeignKey("broker__orders.id"))

    problems = table_problems("notes", Base.metadata)
    assert len(problems) == 1
    assert "refers to 'broker__orders', another module's table" in problems[0]


def test_foreign_key_inside_the_module_is_fine() -> None:
    class Base(DeclarativeBase):
        metadata = module_metadata("notes")

    class Folder(Base):
        __tablename__ = "notes__folders"
        id: Mapped[int] = mapped_column(primary_key=True)

    class Note(Base):
        __tablename__ = "notes__items"
        id: Mapped[int] = mapped_column(primary_key=True)
        folder_id: Mapped[int] = mapped_column(ForeignKey("notes__folders.id"))
        text: Mapped[str] = mapped_column(String(10))

    assert table_problems("notes", Base.metadata) == []


def test_every_module_of_the_project_keeps_to_its_tables() -> None:
    registry = ModuleRegistry()
    registry.auto_discover()
    problems = []
    for name in registry.names:
        tables = registry.module_class(name).tables
        if tables is not None:
            problems += table_problems(name, tables)
    assert problems == []
