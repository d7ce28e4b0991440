"""The project's conventions, stated once: names, paths and how modules are found.

The backend, the ``trading`` CLI and the module template's validators all read
their rules from here. This module imports only the standard library, so the CLI
can use it without loading FastAPI.

A module has three spellings: a *name* in kebab-case (``market-data``: the URL
segment, the OpenAPI tag, the CLI argument), a *package* in snake_case
(``market_data``) and a PascalCase stem (``MarketData``) that prefixes its class
(``MarketDataModule``), its client (``MarketDataClient``) and the schemas of its
models (``MarketDataItem``).
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "ALWAYS_ENABLED",
    "API_PREFIX",
    "ASYNCAPI_PATH",
    "DATABASE_FILE",
    "DEV_AUTH_DIR",
    "DOCS_ASSETS_PATH",
    "DOCS_PATH",
    "GENERATED_SUFFIX",
    "LAYOUT_NAMES",
    "MAX_NAME_LENGTH",
    "MODULES_PACKAGE",
    "OPENAPI_PATH",
    "RESERVED_NAMES",
    "ROOT_PACKAGE",
    "ROOT_PATHS",
    "RUN_DIR",
    "class_name_for",
    "collision",
    "discover_packages",
    "is_module_package",
    "module_names",
    "mount_path",
    "name_for",
    "name_problem",
    "new_module_problem",
    "package_for",
    "pascal_for",
    "registry_order",
]

ROOT_PACKAGE = "trading_api"
"""The Python package of the backend."""

MODULES_PACKAGE = f"{ROOT_PACKAGE}.modules"
"""The package whose sub-packages are the feature modules."""

API_PREFIX = "/api/v1"
"""Every module is mounted at ``{API_PREFIX}/<name>``."""

ALWAYS_ENABLED = "core"
"""The built-in module every server serves (health, versions, module list)."""

GENERATED_SUFFIX = "_generated"
"""Folders whose name ends so hold generated code (``ws_generated/`` ...)."""

OPENAPI_PATH = f"{API_PREFIX}/openapi.json"
DOCS_PATH = f"{API_PREFIX}/docs"
DOCS_ASSETS_PATH = f"{DOCS_PATH}-assets"
ASYNCAPI_PATH = f"{API_PREFIX}/ws/asyncapi.json"

ROOT_PATHS = (OPENAPI_PATH, DOCS_PATH, DOCS_ASSETS_PATH, ASYNCAPI_PATH)
"""What the root app itself serves under the API prefix, beside the modules."""

RUN_DIR = ".run"
"""The checkout's git-ignored folder for what running it makes: the embedded
database, the development issuer's keys, the project lock and journals, the
deployment's state, the test durations."""
DATABASE_FILE = "trading.db"
"""The embedded SQLite database, in :data:`RUN_DIR`, when no DATABASE_URL is set."""
DEV_AUTH_DIR = "auth"
"""The development issuer's folder (its key and JWKS), in :data:`RUN_DIR`."""

LAYOUT_NAMES = frozenset({"shared", "models", "modules", "specs"})
"""Names of the backend's own folders, kept off module names to avoid confusion."""

RESERVED_NAMES = LAYOUT_NAMES | frozenset(
    path.removeprefix(f"{API_PREFIX}/").split("/")[0] for path in ROOT_PATHS
)
"""Names no module may take: a module mounted there would shadow a root path."""

MAX_NAME_LENGTH = 30
"""Longer names make generated identifiers that no longer fit a line."""

_NAME_RE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")


def package_for(name: str) -> str:
    """Return the snake_case package of a kebab-case module name."""
    return name.replace("-", "_")


def name_for(package: str) -> str:
    """Return the kebab-case module name of a snake_case package."""
    return package.replace("_", "-")


def pascal_for(name: str) -> str:
    """Return the PascalCase stem: ``market-data`` -> ``MarketData``.

    It prefixes the module's class, its client class and its schema names.
    """
    return "".join(part.capitalize() for part in name.split("-"))


def class_name_for(name: str) -> str:
    """Return the module class name: ``market-data`` -> ``MarketDataModule``."""
    return pascal_for(name) + "Module"


def mount_path(name: str) -> str:
    """Return where module ``name`` is served: ``/api/v1/<name>``."""
    return f"{API_PREFIX}/{name}"


def name_problem(name: str) -> str | None:
    """Say what is wrong with a module name and how to fix it, or None if valid.

    The whole string must match (a trailing newline is refused), the name must
    not be a Python keyword once it is a package, nor a reserved name.
    """
    if not name:
        return "module name is empty; use kebab-case such as 'market-data'"
    if "/" in name or "\\" in name or name.startswith("."):
        return (
            f"module name {name!r} looks like a path; "
            "give a bare name like 'market-data'"
        )
    if "_" in name and _NAME_RE.fullmatch(name.replace("_", "-")):
        return (
            f"module name {name!r} uses underscores; "
            f"did you mean {name.replace('_', '-')!r}?"
        )
    if name[0].isdigit():
        return f"module name {name!r} starts with a digit; start it with a letter"
    if not _NAME_RE.fullmatch(name):
        suggestion = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        hint = (
            f"; did you mean {suggestion!r}?" if _NAME_RE.fullmatch(suggestion) else ""
        )
        return (
            f"module name {name!r} is not kebab-case "
            f"(lowercase letters, digits and single hyphens){hint}"
        )
    if len(name) > MAX_NAME_LENGTH:
        return (
            f"module name {name!r} has {len(name)} characters; keep it to "
            f"{MAX_NAME_LENGTH} characters so generated names stay readable"
        )
    package = package_for(name)
    if keyword.iskeyword(package) or keyword.issoftkeyword(package):
        return (
            f"module name {name!r} becomes the Python keyword {package!r}; pick another"
        )
    if name in RESERVED_NAMES:
        return (
            f"module name {name!r} is reserved ({_reserved_reason(name)}); pick another"
        )
    return None


def collision(name: str, others: Iterable[str]) -> str | None:
    """Say which other module ``name`` would clash with once it becomes a package,
    a class or a schema prefix, or None.

    ``x-1`` and ``x1`` are both valid names, but both become the class
    ``X1Module`` and the schema ``X1Item``: the second one is refused.
    """
    for other in sorted(set(others) - {name}):
        if package_for(other) == package_for(name):
            return (
                f"module name {name!r} has the package {package_for(name)!r} of "
                f"module {other!r}; pick another"
            )
        if pascal_for(other) == pascal_for(name):
            return (
                f"module name {name!r} makes the class {class_name_for(name)!r} "
                f"and the schema prefix {pascal_for(name)!r} that module {other!r} "
                "already has; pick another"
            )
    return None


def new_module_problem(name: str, existing: Iterable[str] = ()) -> str | None:
    """Say why ``name`` cannot be a new module beside ``existing``, or None.

    On top of :func:`name_problem`: ``core`` is built in, and the name must not
    clash (:func:`collision`) with a module that exists.
    """
    if name == ALWAYS_ENABLED:
        return f"module name {name!r} is the built-in module; pick another name"
    return name_problem(name) or collision(name, existing)


def registry_order(names: Iterable[str]) -> list[str]:
    """Return ``names`` the way every listing shows them: ``core`` first."""
    return sorted(names, key=lambda name: (name != ALWAYS_ENABLED, name))


def is_module_package(folder: Path) -> bool:
    """Whether ``folder`` (inside the modules folder) is a module package."""
    return not folder.name.startswith(("_", ".")) and (folder / "__init__.py").is_file()


def discover_packages(modules_dir: Path) -> list[str]:
    """The module packages in ``modules_dir``, sorted, without importing any."""
    if not modules_dir.is_dir():
        return []
    return sorted(
        folder.name for folder in modules_dir.iterdir() if is_module_package(folder)
    )


def module_names(modules_dir: Path) -> list[str]:
    """The names of the modules in ``modules_dir``, ``core`` first."""
    return registry_order(name_for(p) for p in discover_packages(modules_dir))


def _reserved_reason(name: str) -> str:
    if name in LAYOUT_NAMES:
        return "a folder of the backend has that name"
    mount = mount_path(name)
    served = [p for p in ROOT_PATHS if p == mount or p.startswith(mount + "/")]
    return f"the root app serves {', '.join(served)}"
