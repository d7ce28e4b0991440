"""``trading boundaries``: imports that cross module boundaries, with file:line.

The checkout itself is checked in process. Copies with planted imports are
checked by the real command in a subprocess: grimp reads the ``trading_api``
that Python imports, and in this process that is the checkout's. The imports
each case plants go into one copy, checked by one run.
"""

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path("src/trading_api")
CopyProject = Callable[..., Path]
Trading = Callable[..., subprocess.CompletedProcess[str]]
Cli = Callable[..., Any]
NEW_MODULE = '''"""A module added by a developer."""

from trading_api.modules.core.service import CoreService
from trading_api.shared.module_interface import Module


class RiskModule(Module):
    name = "risk"

    @property
    def service(self) -> CoreService:
        return CoreService()

    @property
    def api_routers(self) -> list[object]:
        return []
'''


@pytest.fixture
def project(project_copy: CopyProject, tmp_path: Path) -> Path:
    """A copy of the project's sources to plant imports in."""
    return project_copy(tmp_path / "project")


def plant(project: Path, relative: str, line: str) -> int:
    """Append an import to a file; return its line number."""
    path = project / PACKAGE / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    text = path.read_text() if path.exists() else ""
    text = text if not text or text.endswith("\n") else text + "\n"
    path.write_text(text + line + "\n")
    return text.count("\n") + 1


def test_the_project_keeps_its_boundaries(cli: Cli) -> None:
    result = cli(ROOT, "boundaries")
    assert result.code == 0, result.out + result.err
    assert "boundaries ok" in result.out


PLANTED = [
    (
        "modules/core/service.py",
        "from trading_api.modules.datafeed import service as _feed",
        "trading_api.modules.core.service",
        "trading_api.modules.datafeed.service",
        "module-imports",
    ),
    (
        "modules/broker/api.py",
        "import trading_api.app_factory",
        "trading_api.modules.broker.api",
        "trading_api.app_factory",
        "module-imports",
    ),
    (
        "modules/datafeed/ws_generated/extra_router.py",
        "from trading_api.modules.broker.errors import *  # noqa",
        "trading_api.modules.datafeed.ws_generated.extra_router",
        "trading_api.modules.broker.errors",
        "module-imports",
    ),
    (
        "shared/errors.py",
        "import trading_api.modules.core.api",
        "trading_api.shared.errors",
        "trading_api.modules.core.api",
        "shared-imports-no-module",
    ),
    (
        "market/catalogue.py",
        "from trading_api.modules.datafeed import api as _api",
        "trading_api.market.catalogue",
        "trading_api.modules.datafeed.api",
        "market-imports-no-module",
    ),
    (
        "models/core.py",
        "from trading_cli.errors import CliError",
        "trading_api.models.core",
        "trading_cli",
        "api-imports-no-cli",
    ),
]
"""Imports that cross a boundary, each in its own file: (file, import line,
importer, imported, rule)."""
TYPE_CHECKING_IMPORT = (
    "modules/core/api.py",
    "from typing import TYPE_CHECKING\n"
    "if TYPE_CHECKING:\n"
    "    from trading_api.modules.broker.service import BrokerService",
)


@dataclass
class Checked:
    """``trading boundaries`` on a copy with every import of :data:`PLANTED`
    and :data:`TYPE_CHECKING_IMPORT` planted; the line of each, by file."""

    result: subprocess.CompletedProcess[str]
    lines: dict[str, int]


@pytest.fixture(scope="module")
def planted(
    project_copy: CopyProject,
    tmp_path_factory: pytest.TempPathFactory,
    trading: Trading,
) -> Checked:
    project = project_copy(tmp_path_factory.mktemp("planted") / "project")
    lines = {relative: plant(project, relative, line) for relative, line, *_ in PLANTED}
    relative, line = TYPE_CHECKING_IMPORT
    lines[relative] = plant(project, relative, line) + 2  # the guarded import
    return Checked(trading(project, "boundaries"), lines)


@pytest.mark.parametrize(("relative", "line", "importer", "imported", "rule"), PLANTED)
def test_planted_import_is_reported_at_its_line(
    planted: Checked,
    relative: str,
    line: str,
    importer: str,
    imported: str,
    rule: str,
) -> None:
    number = planted.lines[relative]
    result = planted.result

    assert result.returncode == 1
    expected = (
        f"src/trading_api/{relative}:{number}: {importer} imports {imported} [{rule}:"
    )
    assert [row for row in result.stdout.splitlines() if row.startswith(expected)]


def test_each_planted_import_is_one_report(planted: Checked) -> None:
    result = planted.result
    count = len(planted.lines)

    assert len(result.stdout.splitlines()) == count, result.stdout
    assert f"{count} import(s) cross a module boundary" in result.stderr


def test_type_checking_imports_count_too(planted: Checked) -> None:
    relative = TYPE_CHECKING_IMPORT[0]
    number = planted.lines[relative]

    assert planted.result.returncode == 1
    assert f"src/trading_api/{relative}:{number}: " in planted.result.stdout


def test_a_new_module_is_covered_without_configuration(
    project: Path, trading: Trading
) -> None:
    plant(project, "modules/risk/__init__.py", NEW_MODULE)

    result = trading(project, "boundaries", "--json")

    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert "risk" in report["modules"]
    assert report["ok"] is False
    assert report["violations"] == [
        {
            "file": "src/trading_api/modules/risk/__init__.py",
            "line": 3,
            "importer": "trading_api.modules.risk",
            "imported": "trading_api.modules.core.service",
            "rule": "module-imports",
            "explanation": "a module imports only trading_api.shared, "
            "trading_api.models, trading_api.market and itself",
        }
    ]


def test_modules_may_import_the_market_library(project: Path, trading: Trading) -> None:
    plant(project, "modules/core/service.py", "from trading_api.market import resolve")
    plant(project, "modules/broker/api.py", "import trading_api.market.sessions")

    result = trading(project, "boundaries")

    assert result.returncode == 0, result.stdout + result.stderr
