"""Which modules a change touches: ``trading test --affected``.

A module is affected when a file in its package changed, or a ``trading_api``
file outside the modules that its code imports, directly or not (the import
graph comes from grimp). A changed ``trading_api`` file that no module imports
(``app_factory.py``, test helpers such as ``shared/testing.py``, non-Python
files) may still be used by module tests, so it affects every module.

Changes are counted from REF to the working tree, uncommitted and untracked files
included. The default REF is the merge base with ``main`` on any other branch,
and ``HEAD~1`` on ``main`` (the last commit plus local changes).
"""

import subprocess
from dataclasses import dataclass
from pathlib import PurePosixPath

from trading_api.conventions import name_for, registry_order  # noqa: TID253
from trading_cli.errors import CliError, UsageError
from trading_cli.project import Project

MAIN_BRANCH = "main"
_EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's well-known id


@dataclass(frozen=True)
class AffectedModules:
    """The outcome of ``--affected``: the base used, changes and modules."""

    base: str
    changed: list[str]
    modules: list[str]


def affected_modules(project: Project, base: str | None) -> AffectedModules:
    """The modules whose code, or whose ``trading_api`` dependencies, changed.

    Raises:
        UsageError: ``base`` is not a commit.
        CliError: the project is not a git checkout.
    """
    ref = _resolve_base(project, base)
    changed = changed_files(project, ref)
    packages = set(project.module_packages())
    touched = {m for m in (_module_of(p, packages) for p in changed) if m is not None}
    outside = [
        p for p in changed if _is_runtime_file(p) and _module_of(p, packages) is None
    ]
    if outside:
        touched |= _importers(project, packages, outside)
    modules = registry_order(name_for(package) for package in touched)
    return AffectedModules(base=base or ref, changed=changed, modules=modules)


def changed_files(project: Project, ref: str) -> list[str]:
    """Paths (relative to the project root) that differ from ``ref``."""
    diff = _git(project, "diff", "--name-only", "--relative", ref)
    untracked = _git(project, "ls-files", "--others", "--exclude-standard")
    return sorted(set(diff.splitlines()) | set(untracked.splitlines()))


def default_base(project: Project) -> str:
    """The merge base with main on another branch; on main, ``HEAD~1``."""
    branch = _git(project, "rev-parse", "--abbrev-ref", "HEAD").strip()
    if branch != MAIN_BRANCH and _is_commit(project, MAIN_BRANCH):
        return _git(project, "merge-base", MAIN_BRANCH, "HEAD").strip()
    # A root commit's "last change" is everything in it: compare with nothing.
    return "HEAD~1" if _is_commit(project, "HEAD~1") else _EMPTY_TREE


def _resolve_base(project: Project, base: str | None) -> str:
    if _run(project, "rev-parse", "--git-dir").returncode != 0:
        raise CliError(
            f"{project.root} is not a git checkout; --affected needs git history"
        )
    if base is None:
        return default_base(project)
    if not _is_commit(project, base):
        raise UsageError(
            f"--base {base!r} is not a commit of this repository; "
            "give a branch, tag or commit"
        )
    return base


def _relative_to_package(path: str) -> PurePosixPath | None:
    parts = PurePosixPath(path).parts
    if parts[:2] != ("src", "trading_api"):
        return None
    return PurePosixPath(*parts[2:])


def _module_of(path: str, packages: set[str]) -> str | None:
    inner = _relative_to_package(path)
    if inner is None or len(inner.parts) < 3 or inner.parts[0] != "modules":
        return None
    return inner.parts[1] if inner.parts[1] in packages else None


def _is_runtime_file(path: str) -> bool:
    inner = _relative_to_package(path)
    return inner is not None and inner.parts[:1] != ("modules",) and bool(inner.parts)


def _importers(project: Project, packages: set[str], paths: list[str]) -> set[str]:
    """Module packages that import any of ``paths``; all of them for a path
    no module imports."""
    project.activate()
    import grimp

    graph = grimp.build_graph("trading_api", cache_dir=None)
    upstream = {
        package: graph.find_upstream_modules(
            f"trading_api.modules.{package}", as_package=True
        )
        for package in packages
        if f"trading_api.modules.{package}" in graph.modules
    }
    found: set[str] = set()
    for path in paths:
        dotted = _dotted(path)
        users = {p for p, deps in upstream.items() if dotted in deps}
        if not users:
            return set(packages)
        found |= users
    return found


def _dotted(path: str) -> str:
    inner = PurePosixPath(path)
    if inner.suffix != ".py":
        return ""
    parts = list(inner.with_suffix("").parts[1:])  # drop "src"
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_commit(project: Project, ref: str) -> bool:
    found = _run(project, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    return found.returncode == 0


def _git(project: Project, *args: str) -> str:
    result = _run(project, *args)
    if result.returncode != 0:
        raise CliError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def _run(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=project.root, capture_output=True, text=True, check=False
    )
