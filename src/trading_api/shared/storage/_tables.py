"""Each module's tables: one ``MetaData`` per module, every table name prefixed.

A module's tables are named ``<package>__<table>`` (``broker__orders``). Module
packages never contain a double underscore, so one module's prefix can never
match another module's table, and a table's owner is read off its name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trading_api.conventions import package_for
from trading_api.shared.storage._errors import StorageError

if TYPE_CHECKING:
    from sqlalchemy import MetaData

MODULE_KEY = "trading_module"
"""Key of ``MetaData.info`` that names the module owning the tables."""

VERSION_TABLE = "alembic_version"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Constraint names, so migrations can name what they alter on every database."""


def table_prefix(module: str) -> str:
    """The prefix of every table of ``module``: ``market-data`` -> ``market_data__``."""
    return f"{package_for(module)}__"


def version_table(module: str) -> str:
    """The table where Alembic records the revision of ``module``'s tables."""
    return f"{table_prefix(module)}{VERSION_TABLE}"


def owner_of(table: str, modules: list[str]) -> str | None:
    """The module among ``modules`` whose prefix ``table`` carries, or None."""
    for module in modules:
        if table.startswith(table_prefix(module)):
            return module
    return None


def module_metadata(module: str) -> MetaData:
    """A fresh ``MetaData`` for the tables of ``module``.

    Use it as the ``metadata`` of the module's declarative base::

        class Base(DeclarativeBase):
            metadata = module_metadata("broker")

    and name every table with :func:`table_prefix` (``broker__orders``).
    """
    from sqlalchemy import MetaData

    return MetaData(naming_convention=NAMING_CONVENTION, info={MODULE_KEY: module})


def metadata_module(metadata: MetaData) -> str | None:
    """The module a ``MetaData`` from :func:`module_metadata` belongs to."""
    owner = metadata.info.get(MODULE_KEY)
    return owner if isinstance(owner, str) else None


def table_problems(module: str, metadata: MetaData) -> list[str]:
    """What breaks the one-module-one-set-of-tables rule, one line each.

    Checks that ``metadata`` was made for ``module``, that every table carries the
    module's prefix, and that no foreign key points at a table outside it.
    """
    prefix = table_prefix(module)
    owner = metadata_module(metadata)
    problems = []
    if owner != module:
        problems.append(
            f"module {module!r} declares tables in a MetaData made for {owner!r}; "
            f"use module_metadata({module!r})"
        )
    for name, table in sorted(metadata.tables.items()):
        if table.schema is not None:
            problems.append(
                f"table {name!r} of module {module!r} sets schema "
                f"{table.schema!r}; module tables live in the default schema"
            )
        if not table.name.startswith(prefix) or table.name == version_table(module):
            problems.append(
                f"table {table.name!r} of module {module!r} must be named "
                f"{prefix}<name>; rename it to {prefix}{_bare(table.name)}"
            )
        for key in sorted(table.foreign_keys, key=lambda key: key.target_fullname):
            target = key.target_fullname.split(".")[0]
            if not target.startswith(prefix):
                problems.append(
                    f"table {table.name!r} of module {module!r} refers to "
                    f"{target!r}, another module's table; store its id as a "
                    "plain column and ask that module through its API"
                )
    return problems


def check_tables(module: str, metadata: MetaData) -> None:
    """Raise :class:`StorageError` with the first of :func:`table_problems`."""
    problems = table_problems(module, metadata)
    if problems:
        raise StorageError(problems[0])


def _bare(name: str) -> str:
    return name.rsplit("__", 1)[-1] or "items"
