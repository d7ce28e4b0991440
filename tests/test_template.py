"""The module template on its own: rendered with copier's ``run_copy`` into
temporary folders, as copier's own tests do, and checked file by file."""

import ast
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from copier import run_copy
from ruff.__main__ import find_ruff_bin

from trading_api.shared.module_interface import API_PREFIX
from trading_cli.project import Project
from trading_cli.scaffold.answers import ModuleAnswers
from trading_cli.scaffold.template import ModuleTemplate

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "templates" / "module"
RUFF = [find_ruff_bin()]  # the binary `python -m ruff` runs, without the Python
RUFF_CONFIG = [
    "--config",
    str(ROOT / "pyproject.toml"),
    "--config",
    'lint.isort.known-first-party = ["trading_api"]',
]
WS_FILES = {"ws.py", "tests/test_ws.py"}
FILES = {
    ".copier-answers.yml",
    "__init__.py",
    "api.py",
    "models.py",
    "service.py",
    "tables.py",
    "migrations/__init__.py",
    "migrations/0001_create_items.py",
    "tests/conftest.py",
    "tests/test_api.py",
    "tests/test_service.py",
} | WS_FILES


def render(dest: Path, **data: Any) -> Path:
    """Render the template for module ``data['name']`` into ``dest/<package>``."""
    package_dir = dest / str(data["name"]).replace("-", "_")
    run_copy(
        str(TEMPLATE), package_dir, data=data, defaults=True, quiet=True, unsafe=True
    )
    return package_dir


@pytest.fixture(scope="module")
def market_data(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Path]:
    """The package of module market-data with every other answer left to its
    default, rendered once with and once without the WebSocket route (keyed
    by ``with_ws``); the tests only read them."""
    return {
        with_ws: render(
            tmp_path_factory.mktemp("market-data"), name="market-data", with_ws=with_ws
        )
        for with_ws in (True, False)
    }


def files_of(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def class_attributes(init: Path) -> dict[str, Any]:
    """Names and literal values of the module class's attributes."""
    tree = ast.parse(init.read_text(encoding="utf-8"))
    [cls] = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    values = {"__class__": cls.name}
    for node in cls.body:
        # Literal values only: `tables = Base.metadata` is not one.
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
        ):
            values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


def test_renders_a_complete_module_package(market_data: dict[bool, Path]) -> None:
    assert files_of(market_data[True]) == FILES


def test_no_ws_leaves_out_the_websocket_route(market_data: dict[bool, Path]) -> None:
    package_dir = market_data[False]
    assert files_of(package_dir) == FILES - WS_FILES
    assert "ws_routers" not in (package_dir / "__init__.py").read_text()


def test_module_class_is_named_from_the_kebab_case_name(
    market_data: dict[bool, Path],
) -> None:
    attributes = class_attributes(market_data[True] / "__init__.py")
    assert attributes["__class__"] == "MarketDataModule"
    assert attributes["name"] == "market-data"


@pytest.mark.parametrize(
    "description",
    [
        "Quotes and bars.",
        'Prices "as quoted" by C:\\feeds, in \u20ac and \u2013 dashes \u2013 too.',
        "A long description that needs more than one line of Python source "
        "to hold it, so the template wraps it at spaces without losing any.",
    ],
    ids=["short", "quotes-backslash-unicode", "long"],
)
def test_description_becomes_the_module_description(
    tmp_path: Path, description: str
) -> None:
    package_dir = render(tmp_path, name="market-data", description=description)
    attributes = class_attributes(package_dir / "__init__.py")
    assert attributes["description"] == description


def test_answers_file_records_the_answers_and_template_commit(tmp_path: Path) -> None:
    package_dir = render(
        tmp_path,
        name="market-data",
        description="Quotes.",
        with_ws=False,
        author="Desk tools",
        template_commit="0" * 40,
    )
    answers = yaml.safe_load((package_dir / ".copier-answers.yml").read_text())
    assert answers == {
        "_commit": "0" * 40,
        "_src_path": "templates/module",
        "api_prefix": "/api/v1",
        "author": "Desk tools",
        "description": "Quotes.",
        "name": "market-data",
        "root_package": "trading_api",
        "with_ws": False,
    }


def test_project_answers_match_the_runtime() -> None:
    answers = yaml.safe_load((ROOT / ".copier-answers.yml").read_text())
    assert answers["api_prefix"] == API_PREFIX
    assert (ROOT / "src" / answers["root_package"] / "modules").is_dir()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "Market_Data"}, "kebab-case"),
        ({"name": "market-data-" + "x" * 20}, "30 characters"),
        ({"name": "models"}, "reserved"),
        ({"name": "class"}, "Python keyword"),
        ({"name": "ok", "description": "two\nlines"}, "one line"),
        ({"name": "ok", "description": " "}, "one line"),
        ({"name": "ok", "author": 'A "quoted" name'}, "without quotes"),
    ],
    ids=["not-kebab", "too-long", "reserved", "keyword", "newline", "blank", "quote"],
)
def test_invalid_answers_are_refused(
    tmp_path: Path, data: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        render(tmp_path, **data)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("with_ws", [True, False], ids=["ws", "no-ws"])
def test_render_of_a_typical_name_is_ruff_clean_as_is(
    market_data: dict[bool, Path], with_ws: bool
) -> None:
    ruff_clean(market_data[with_ws])


def test_cli_render_of_extreme_answers_is_ruff_clean(tmp_path: Path) -> None:
    """The render ``new-module`` uses formats what copier alone cannot (very long
    names, quotes in the description)."""
    answers = ModuleAnswers(
        name="abcdefghij-klmnopqrst-uvwxyz-a",
        description='"Quoted" ' + "word " * 35 + "end",
        author="A" * 60,
    )
    package_dir = tmp_path / "abcdefghij_klmnopqrst_uvwxyz_a"
    ModuleTemplate(Project(ROOT)).render(answers, package_dir, commit=None)
    ruff_clean(package_dir)
    assert class_attributes(package_dir / "__init__.py")["description"] == (
        answers.description
    )


def ruff_clean(folder: Path) -> None:
    files = [str(path) for path in sorted(folder.rglob("*.py"))]
    # Under src/ the project's config allows trading_api imports in modules.
    for command in (["format", "--check", "--diff"], ["check", "--ignore=TID253"]):
        command.append("--no-cache")  # write nothing into this checkout
        result = subprocess.run(
            [*RUFF, *command, *RUFF_CONFIG, *files], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
