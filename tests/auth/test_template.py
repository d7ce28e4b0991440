"""Scaffolded modules are closed by default, and ``trading update-module`` brings
the signed-in tests into a module scaffolded before: a real copier render of the
template as it was, real git commits, then the update."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

TEMPLATE = Path("templates/module/template")
ACCESS_FILES = ("tests/conftest.py.jinja", "tests/test_api.py.jinja", "api.py.jinja")
"""The template files that learned about access."""
MODULE = Path("src/trading_api/modules/market_data")

CopyProject = Callable[..., Path]
Git = Callable[..., str]
Trading = Callable[..., subprocess.CompletedProcess[str]]
TemplateBefore = Callable[..., dict[str, str]]  # tests/conftest.py's


def write_template(project: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (project / TEMPLATE / name).write_text(text)


@pytest.mark.timeout(300)  # a render, an update and the module's API tests
def test_update_module_brings_signed_in_tests_into_an_older_module(
    project_copy: CopyProject,
    git: Git,
    trading: Trading,
    template_before: TemplateBefore,
    tmp_path: Path,
) -> None:
    old = template_before("sign_in", "tests/conftest.py.jinja", ACCESS_FILES)
    project = project_copy(tmp_path / "project", git=True)
    new = {name: (project / TEMPLATE / name).read_text() for name in ACCESS_FILES}
    write_template(project, old)
    git(project, "commit", "-q", "-am", "The template before access")
    made = trading(project, "new-module", "market-data")
    assert made.returncode == 0, made.stderr
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "Add market-data")
    conftest = project / MODULE / "tests" / "conftest.py"
    assert "sign_in" not in conftest.read_text()
    write_template(project, new)
    git(project, "commit", "-q", "-am", "The template learns about access")

    updated = trading(project, "update-module", "market-data")
    assert updated.returncode == 0, updated.stderr
    assert "serve(sign_in(app))" in conftest.read_text()
    tests = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            str(MODULE / "tests" / "test_api.py"),
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "PYTHONPATH": str(project / "src")},
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr
    assert (
        "test_items_need_a_bearer_token"
        in (project / MODULE / "tests" / "test_api.py").read_text()
    )
