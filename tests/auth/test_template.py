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

ACCESS_FILES = ("tests/conftest.py.jinja", "tests/test_api.py.jinja", "api.py.jinja")
"""The template files that learned about access."""
MODULE = Path("src/trading_api/modules/market_data")
CONFTEST = MODULE / "tests" / "conftest.py"

UpdateFromOlder = Callable[..., tuple[Path, subprocess.CompletedProcess[str]]]
"""tests/conftest.py's ``update_from_older``."""


@pytest.mark.timeout(300)  # a render, an update and the module's API tests
def test_update_module_brings_signed_in_tests_into_an_older_module(
    update_from_older: UpdateFromOlder,
) -> None:
    def older(project: Path) -> None:
        assert "sign_in" not in (project / CONFTEST).read_text()

    project, updated = update_from_older(
        "sign_in", "tests/conftest.py.jinja", ACCESS_FILES, before=older
    )
    conftest = project / CONFTEST
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
