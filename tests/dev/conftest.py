"""Fixtures of the dev loop's tests: project copies to serve and edit."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .harness import DEMO, GREETING_MODEL, OTHER, Dev, module_dir, write_module

CopyProject = Callable[..., Path]


@pytest.fixture
def project(project_copy: CopyProject, tmp_path: Path) -> Path:
    """The project's sources with `core` as the only real module, plus demo and
    other."""
    root = project_copy(tmp_path / "project", modules=["core"])
    package = root / "src" / "trading_api"
    (package / "models" / "greeting.py").write_text(GREETING_MODEL)
    write_module(package / "modules" / "demo", DEMO)
    write_module(module_dir(root, "other"), {"__init__.py": OTHER})
    return root


@pytest.fixture
def dev_factory(project: Path) -> Iterator[Callable[..., Dev]]:
    """Start `trading dev ARGS` in :func:`project`; stopped after the test."""
    started: list[Dev] = []

    def start(*args: str) -> Dev:
        dev = Dev(project, *args)
        started.append(dev)
        return dev

    yield start
    for dev in started:
        dev.stop()
