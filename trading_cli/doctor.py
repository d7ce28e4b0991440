"""``trading doctor``: is this machine and checkout ready for the workbench?

Each check says what it found and, when something is off, the one thing to do.
A *required* check failing means a command will not work (exit 1); an *optional*
one means a feature is reduced (AsyncAPI validation skipped, no deployment, no
browser check of the docs pages).
"""

import platform
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trading_cli.project import Project

MIN_PYTHON = (3, 11)


@dataclass(frozen=True)
class Finding:
    """The outcome of one check."""

    check: str
    ok: bool
    found: str
    fix: str = ""
    required: bool = True

    @property
    def state(self) -> str:
        """``ok``, ``FAIL`` (required) or ``warn`` (optional)."""
        if self.ok:
            return "ok"
        return "FAIL" if self.required else "warn"


def run_checks(project: Project, port: int) -> list[Finding]:
    """Every check, in the order a new developer would fix them."""
    checks: list[Callable[[], Finding]] = [
        check_python,
        check_git,
        lambda: check_port(port),
        lambda: check_generated_code(project),
        lambda: check_template(project),
        lambda: check_asyncapi_parser(project),
        check_nginx,
        check_chromium,
    ]
    return [check() for check in checks]


def check_python() -> Finding:
    """Python is new enough."""
    found = platform.python_version()
    return Finding(
        "Python >= 3.11",
        sys.version_info >= MIN_PYTHON,
        found,
        "install Python 3.11 or newer and reinstall: pip install -e '.[dev]'",
    )


def check_git() -> Finding:
    """git is installed: update-module, specs diff and test --affected need it."""
    git = shutil.which("git")
    found = _version([git, "--version"]) if git else "not found"
    return Finding("git", git is not None, found, "apt-get install git")


def check_port(port: int) -> Finding:
    """The dev server's port is free on 127.0.0.1."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            return Finding(
                f"port {port} free",
                False,
                exc.strerror or str(exc),
                f"stop what listens on {port}, or run `trading dev --port 0`",
            )
    return Finding(f"port {port} free", True, "free")


def check_generated_code(project: Project) -> Finding:
    """Every module's ws_generated/ matches its ws.py (the app refuses to start
    otherwise)."""
    project.activate()
    from trading_api.shared.errors import GeneratedCodeError
    from trading_api.shared.ws.codegen import check_ws_generated

    stale = []
    for module_dir in sorted(project.modules_dir.glob("*/__init__.py")):
        try:
            check_ws_generated(module_dir.parent)
        except GeneratedCodeError:
            stale.append(module_dir.parent.name)
    return Finding(
        "generated WS routers",
        not stale,
        f"stale: {', '.join(stale)}" if stale else "up to date",
        "trading specs build",
    )


def check_template(project: Project) -> Finding:
    """templates/module is committed, so scaffolds record a real version."""
    template = project.root / "templates" / "module"
    if not (template / "copier.yml").is_file():
        return Finding(
            "module template",
            False,
            "templates/module/copier.yml missing",
            "git checkout -- templates/module",
        )
    status = _version(
        ["git", "status", "--porcelain", "--", "templates/module"], cwd=project.root
    )
    return Finding(
        "module template",
        not status,
        "uncommitted changes" if status else "committed",
        "commit templates/module before new-module or update-module",
        required=False,
    )


def check_asyncapi_parser(project: Project) -> Finding:
    """Node and the official AsyncAPI parser, for specs build's validation."""
    from trading_cli.build.validators import find_parser_root

    node = shutil.which("node")
    root = find_parser_root(project.root)
    found = "node not found" if node is None else _version([node, "--version"])
    if root is None:
        found += ", @asyncapi/parser not installed"
    return Finding(
        "AsyncAPI parser (node)",
        node is not None and root is not None,
        found,
        "install Node.js >= 18, then `npm ci --ignore-scripts` at the project root",
        required=False,
    )


def check_nginx() -> Finding:
    """nginx, for the multi-process deployment."""
    nginx = shutil.which("nginx") or _existing("/usr/sbin/nginx")
    found = _version([nginx, "-v"]) if nginx else "not found"
    return Finding(
        "nginx (deployment)",
        nginx is not None,
        found,
        "apt-get install nginx-light",
        required=False,
    )


def check_chromium() -> Finding:
    """Chromium, for the tests that render the docs pages in a real browser."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    return Finding(
        "chromium (docs tests)",
        chromium is not None,
        chromium or "not found",
        "apt-get install chromium",
        required=False,
    )


def _existing(path: str) -> str | None:
    return path if Path(path).is_file() else None


def _version(command: list[str], cwd: Path | None = None) -> str:
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    output = (result.stdout or result.stderr).strip()
    return output.splitlines()[0] if output else ""
