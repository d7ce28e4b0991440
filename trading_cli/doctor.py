"""``trading doctor``: is this machine and checkout ready for the workbench?

Each check says what it found and, when something is off, the one thing to do.
A *required* check failing means a command will not work (exit 1); an *optional*
one means a feature is reduced (AsyncAPI validation skipped, no deployment, no
browser check of the docs pages).
"""

import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trading_api.conventions import RUN_DIR  # noqa: TID253 (standard library only)
from trading_cli.project import Project

MIN_PYTHON = (3, 11)
MIN_NODE = 18
# Staging folders earlier versions of new-, remove- and update-module made in
# .run/ (now they live in journal folders, which recovery cleans).
_OLD_STAGING = ("new-module-", "remove-module-", "update-module-")


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
        lambda: check_leftovers(project),
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
    """The dev server's port is free on 127.0.0.1 (as uvicorn binds it)."""
    from trading_cli.deploy.ports import bind_error

    error = bind_error(port)
    if error is not None:
        return Finding(
            f"port {port} free",
            False,
            error.strerror or str(error),
            f"stop what listens on {port}, or run `trading dev --port 0`",
        )
    return Finding(f"port {port} free", True, "free")


def check_generated_code(project: Project) -> Finding:
    """Every module's ws_generated/ matches its ws.py (the app refuses to start
    otherwise)."""
    project.activate()
    from trading_api.shared.errors import GeneratedCodeError
    from trading_api.shared.ws.generated import check_ws_generated

    stale = []
    for package in project.module_packages():
        try:
            check_ws_generated(project.modules_dir / package)
        except GeneratedCodeError:
            stale.append(package)
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
    """Node and the official AsyncAPI parser, for specs build's validation: tells
    a missing Node from a Node too old and from a missing ``npm ci``."""
    from trading_cli.build.validators import find_parser_root

    check = "AsyncAPI parser (node)"
    npm_ci = "run `npm ci --ignore-scripts` at the project root"
    node = shutil.which("node")
    if node is None:
        return Finding(
            check,
            False,
            "node not found",
            f"install Node.js >= {MIN_NODE}, then {npm_ci}",
            required=False,
        )
    version = _version([node, "--version"])
    major = _major(version)
    if major is None or major < MIN_NODE:
        return Finding(
            check,
            False,
            f"node {version or '(version unknown)'}: too old",
            f"install Node.js >= {MIN_NODE}, then {npm_ci}",
            required=False,
        )
    if find_parser_root(project.root) is None:
        return Finding(
            check,
            False,
            f"node {version}; @asyncapi/parser not installed",
            npm_ci,
            required=False,
        )
    return Finding(check, True, f"node {version}; @asyncapi/parser installed")


def check_leftovers(project: Project) -> Finding:
    """Nothing half done is left in ``.run/``: a change a killed command left
    (rolled back by the next command that can take the project lock) or scratch
    folders of older versions."""
    from trading_cli.journal import interrupted
    from trading_cli.lock import read_holder

    found = [
        f"{'journal' if leftover.pending else 'scratch'} of `{leftover.command}` "
        f"(pid {leftover.pid}, gone)"
        for leftover in interrupted(project.root)
    ]
    run = project.root / RUN_DIR
    stale = sorted(
        path.name
        for prefix in _OLD_STAGING
        for path in run.glob(f"{prefix}*")
        if path.is_dir()
    )
    found += [f".run/{name}" for name in stale]
    holder = read_holder(project.root)
    busy = f"; project lock held by {holder.describe()}" if holder else ""
    if not found:
        return Finding("interrupted changes", True, "none" + busy)
    fix = "run any trading command to roll journals back"
    if stale:
        fix += f"; delete {', '.join(f'.run/{name}' for name in stale)}"
    return Finding(
        "interrupted changes", False, ", ".join(found) + busy, fix, required=False
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


def _major(version: str) -> int | None:
    digits = version.strip().lstrip("v").split(".", 1)[0]
    return int(digits) if digits.isdigit() else None


def _existing(path: str) -> str | None:
    return path if Path(path).is_file() else None


def _version(command: list[str], cwd: Path | None = None) -> str:
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd)
    output = (result.stdout or result.stderr).strip()
    return output.splitlines()[0] if output else ""
