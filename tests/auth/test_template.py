"""Scaffolded modules are closed by default, and ``trading update-module`` brings
the signed-in tests into a module scaffolded before: a real copier render of the
template as it was, real git commits, then the update."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

MODULE = Path("src/trading_api/modules/market_data")
ACCESS_FILES = ("tests/conftest.py.jinja", "tests/test_api.py.jinja", "api.py.jinja")
"""The template files that learned about access."""
ANSWERS = ".copier-answers.yml"
"""The one file that differs: it records the template commit each module came from."""

UpdateFromOlder = Callable[..., tuple[Path, Any]]
"""tests/conftest.py's ``update_from_older``."""


def module_files(project: Path) -> dict[str, bytes]:
    """Every file of market-data but its answers file, and its bytes."""
    folder = project / MODULE
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != ANSWERS and "__pycache__" not in path.parts
    }


def test_update_module_brings_signed_in_tests_into_an_older_module(
    update_from_older: UpdateFromOlder, market_data_project: Path
) -> None:
    """The updated module ends up byte for byte the module ``new-module`` makes
    from today's template (``market_data_project``), signed-in tests and
    closed routes included. That module's tests pass under ``trading test``
    (tests/test_scaffold.py runs them), so they are not run again here."""

    def older(project: Path) -> None:
        conftest = (project / MODULE / "tests" / "conftest.py").read_text()
        assert "sign_in" not in conftest
        assert module_files(project) != module_files(market_data_project)

    project, updated = update_from_older(
        "sign_in", "tests/conftest.py.jinja", ACCESS_FILES, before=older
    )

    assert updated.code == 0, updated.err
    conftest = (project / MODULE / "tests" / "conftest.py").read_text()
    assert "serve(sign_in(app))" in conftest
    test_api = (project / MODULE / "tests" / "test_api.py").read_text()
    assert "def test_items_need_a_bearer_token" in test_api
    assert module_files(project) == module_files(market_data_project)
