"""A swap imports again what a save changed and what imports it; the rest of
the module's package stays as it ran."""

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from trading_cli.dev.code_cache import CachingFinder, CodeCache
from trading_cli.dev.stale import stale_modules

FILES = {
    "__init__.py": "from .api import route\n",
    "api.py": "from .service import Service\n\nroute = Service\n",
    "service.py": "from . import tables\n\n\nclass Service:\n    table = tables.ROWS\n",
    "tables.py": "ROWS = 'rows'\n",
    "errors.py": "class Problem(Exception):\n    pass\n",
}


@pytest.fixture
def package(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A package imported through the dev server's code cache."""
    name = f"stale_{tmp_path.name.replace('-', '_')}"
    folder = tmp_path / name
    folder.mkdir()
    for file, text in FILES.items():
        (folder / file).write_text(textwrap.dedent(text))
    finder = CachingFinder(name, CodeCache())
    sys.path.insert(0, str(tmp_path))
    sys.meta_path.insert(0, finder)
    try:
        __import__(f"{name}.errors")
        __import__(name)
        yield name, folder
    finally:
        sys.meta_path.remove(finder)
        sys.path.remove(str(tmp_path))
        for module in [m for m in sys.modules if m.split(".")[0] == name]:
            del sys.modules[module]


def test_nothing_changed_leaves_only_the_package_itself(
    package: tuple[str, Path],
) -> None:
    name, _ = package
    assert stale_modules(name) == {name}


def test_an_edit_takes_what_imports_it_along(package: tuple[str, Path]) -> None:
    name, folder = package
    (folder / "service.py").write_text(FILES["service.py"] + "# edited\n")

    assert stale_modules(name) == {name, f"{name}.service", f"{name}.api"}


def test_an_edit_of_a_module_everything_imports_takes_all(
    package: tuple[str, Path],
) -> None:
    name, folder = package
    (folder / "tables.py").write_text("ROWS = 'other rows'\n")

    assert stale_modules(name) == {
        name,
        f"{name}.api",
        f"{name}.service",
        f"{name}.tables",
    }


def test_a_deleted_file_is_stale(package: tuple[str, Path]) -> None:
    name, folder = package
    (folder / "errors.py").unlink()

    assert stale_modules(name) == {name, f"{name}.errors"}
