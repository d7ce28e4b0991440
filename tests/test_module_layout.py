"""Every module package has the same shape (docs/architecture.md, "Modules")."""

import ast
from pathlib import Path

import pytest

import trading_api
from trading_api.shared.module_registry import ModuleRegistry

MODULES_DIR = Path(trading_api.__file__).parent / "modules"
REGISTRY = ModuleRegistry()
REGISTRY.auto_discover(MODULES_DIR)
FRAMEWORKS = {"fastapi", "starlette", "uvicorn"}


def module_dirs() -> list[Path]:
    return [REGISTRY.entry(name).package_dir for name in REGISTRY.names]


@pytest.mark.parametrize("package_dir", module_dirs(), ids=lambda path: path.name)
def test_module_has_the_standard_files(package_dir: Path) -> None:
    name = REGISTRY.entry(package_dir.name.replace("_", "-")).name
    required = [
        "__init__.py",
        "service.py",
        "api.py",
        "tests/test_api.py",
        f"specs_generated/{name}_openapi.json",
        "client_generated/__init__.py",
    ]
    if (package_dir / "ws.py").exists():
        required += [
            "ws_generated/__init__.py",
            "tests/test_ws.py",
            f"specs_generated/{name}_asyncapi.json",
        ]
    missing = [path for path in required if not (package_dir / path).is_file()]
    # The service's tests may be one file or split by behaviour (test_service_*.py).
    if not list((package_dir / "tests").glob("test_service*.py")):
        missing.append("tests/test_service*.py")
    assert missing == []


@pytest.mark.parametrize("package_dir", module_dirs(), ids=lambda path: path.name)
def test_service_imports_no_web_framework(package_dir: Path) -> None:
    tree = ast.parse((package_dir / "service.py").read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert imported & FRAMEWORKS == set()
