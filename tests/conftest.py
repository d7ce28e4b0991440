"""Fixtures for cross-cutting tests: throwaway module folders and app factories."""

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

MODULE_TEMPLATE = """
from fastapi import APIRouter

from trading_api.shared.module_interface import Module

router = APIRouter()


@router.get("/ping")
async def {function}() -> dict[str, str]:
    return {{"module": "{name}"}}


class {class_name}(Module):
    name = "{name}"
    description = "{name} module for tests"

    @property
    def service(self) -> object:
        return object()

    @property
    def api_routers(self) -> list[APIRouter]:
        return [router]
"""

WriteModule = Callable[..., Path]


@pytest.fixture
def modules_dir(tmp_path: Path) -> Path:
    """An empty folder to put throwaway module packages in."""
    folder = tmp_path / "modules"
    folder.mkdir()
    return folder


@pytest.fixture
def write_module(modules_dir: Path) -> WriteModule:
    """Write a module package ``package`` into ``modules_dir``.

    ``name`` and ``class_name`` default to what the convention expects; ``body``
    replaces the whole ``__init__.py``.
    """

    def write(
        package: str,
        *,
        name: str | None = None,
        class_name: str | None = None,
        body: str | None = None,
    ) -> Path:
        name = name or package.replace("_", "-")
        class_name = class_name or (
            "".join(part.capitalize() for part in name.split("-")) + "Module"
        )
        package_dir = modules_dir / package
        package_dir.mkdir()
        source = body or MODULE_TEMPLATE.format(
            name=name, class_name=class_name, function=f"{package}_ping"
        )
        (package_dir / "__init__.py").write_text(textwrap.dedent(source))
        return package_dir

    return write
