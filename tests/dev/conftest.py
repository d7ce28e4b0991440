"""Fixtures of the dev loop's tests: project copies to serve and edit."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .harness import Dev, demo_project

CopyProject = Callable[..., Path]


@pytest.fixture
def project(project_copy: CopyProject, tmp_path: Path) -> Path:
    """The project's sources with `core` as the only real module, plus demo and
    other."""
    return demo_project(project_copy(tmp_path / "project", modules=["core"]))


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
