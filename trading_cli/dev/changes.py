"""What a burst of file events means to ``trading dev``.

The watcher reports paths; this module decides which of them matter (not
generated, not caches, not editor droppings), which really changed (a save of
identical bytes is no change), and what they touch: one module, every module, the
set of modules, or the templates.
"""

import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from trading_api.conventions import GENERATED_SUFFIX, name_for  # noqa: TID253
from trading_cli.project import Project

IGNORED_DIRS = frozenset(
    {
        "__pycache__",
        ".git",
        ".hg",
        ".svn",
        ".idea",
        ".vscode",
        ".venv",
        "node_modules",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
    }
)
EDITOR_TEMP = re.compile(
    r"""(
        ^\.\#           # emacs lock files
      | ^\#.*\#$        # emacs auto-save
      | ~$              # backups
      | \.sw[a-p]$      # vim swap files
      | ^4913$          # vim's write probe
      | \.tmp$          # atomic-write temporaries
      | ___jb_(tmp|old)___$   # JetBrains safe write
      | ^\.goutputstream-     # GNOME
      | \.py[cod]$
      | ^\.DS_Store$
    )""",
    re.VERBOSE,
)
TESTS_DIR = "tests"


class WatchFilter:
    """Which paths under the watched roots are worth a look.

    Paths are judged by their parts *below* the root they live in, so a checkout
    that itself sits in a folder called ``.venv`` or ``x_generated`` still works,
    and ``*_generated/`` folders are ignored at any depth.
    """

    def __init__(self, roots: Iterable[Path]) -> None:
        self.roots = tuple(root.resolve() for root in roots)

    def __call__(self, change: object, path: str) -> bool:
        """The ``watch_filter`` of :func:`watchfiles.awatch`."""
        return self.is_watched(Path(path))

    def is_watched(self, path: Path) -> bool:
        """Whether ``path`` can change what the server serves."""
        parts = self._parts_below_root(path)
        if parts is None:
            return False
        if any(_ignored_dir(part) for part in parts):
            return False
        return not parts or not EDITOR_TEMP.search(parts[-1])

    def files(self) -> Iterator[Path]:
        """Every watched file that exists now."""
        for root in self.roots:
            yield from self.walk(root)

    def walk(self, folder: Path) -> Iterator[Path]:
        """Every watched file in ``folder``."""
        for current, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if not _ignored_dir(d))
            for name in sorted(files):
                if not EDITOR_TEMP.search(name):
                    yield Path(current, name)

    def _parts_below_root(self, path: Path) -> tuple[str, ...] | None:
        for root in self.roots:
            if path == root or root in path.parents:
                return path.relative_to(root).parts
        return None


def _ignored_dir(name: str) -> bool:
    return name in IGNORED_DIRS or name.endswith(GENERATED_SUFFIX)


class ContentIndex:
    """A digest of every watched file, to tell real edits from rewrites.

    An editor that saves unchanged text, ``touch`` or a ``git checkout`` that
    rewrites files with the same bytes cause no reload.
    """

    def __init__(self, watch_filter: WatchFilter) -> None:
        self.filter = watch_filter
        self._digests: dict[Path, bytes] = {}

    def scan(self) -> None:
        """Record the current content of every watched file."""
        digests = ((path, _digest(path)) for path in self.filter.files())
        self._digests = {path: digest for path, digest in digests if digest}

    def update(self, paths: Iterable[Path]) -> list[Path]:
        """Record the new state of ``paths``; return the files whose content
        changed (created, edited or deleted), sorted.

        A folder stands for every watched file in it, so a module moved in or
        deleted as a whole counts file by file.
        """
        changed: set[Path] = set()
        for path in paths:
            for file in self._expand(path):
                digest = _digest(file) if file.is_file() else None
                if digest != self._digests.get(file):
                    changed.add(file)
                if digest is None:
                    self._digests.pop(file, None)
                else:
                    self._digests[file] = digest
        return sorted(changed)

    def _expand(self, path: Path) -> set[Path]:
        if path in self._digests or path.is_file():
            files = {path}  # a file: the common case, no folder to look into
        else:
            files = {path} if not path.is_dir() else set(self.filter.walk(path))
            files.update(known for known in self._digests if path in known.parents)
        return {file for file in files if self.filter.is_watched(file)}


def _digest(path: Path) -> bytes | None:
    try:
        return hashlib.blake2b(path.read_bytes(), digest_size=16).digest()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


@dataclass(frozen=True)
class ChangeSet:
    """What a burst of real edits touches.

    Attributes:
        files: Every changed file (absolute paths), sorted.
        modules: Names of the modules whose own files changed.
        everything: Code every module depends on changed (``shared/``,
            ``models/``, the app factory...): every module is affected.
        modules_moved: A module package appeared or disappeared.
        templates: Changed files of the copier templates.
        migrations: Names of the modules whose ``migrations/`` folder changed
            (a revision written, edited or removed): their tables are upgraded
            before the new code serves.
    """

    files: tuple[Path, ...]
    modules: frozenset[str] = frozenset()
    everything: bool = False
    modules_moved: bool = False
    templates: tuple[Path, ...] = ()
    migrations: frozenset[str] = frozenset()

    def plan(self, served: frozenset[str] | None, existing: frozenset[str]) -> "Plan":
        """What to do about these changes.

        Args:
            served: The modules the server serves (None: every module).
            existing: The modules that exist after the changes.
        """
        broad = self.everything or self.modules_moved
        affected = self.modules if served is None else self.modules & served
        reload = (
            self.everything or bool(affected) or (served is None and self.modules_moved)
        )
        return Plan(
            reload=reload,
            codegen=None if broad else tuple(sorted(affected & existing)),
            build=None if broad else tuple(sorted(self.modules & existing)),
        )


@dataclass(frozen=True)
class Plan:
    """The work one burst of changes calls for.

    Attributes:
        reload: Start a fresh server with the new code.
        codegen: Modules whose WS routers to regenerate before the server
            imports them (None: every served module).
        build: Modules whose specs and clients to rebuild once the new server is
            up (None: every module; empty: none).
    """

    reload: bool
    codegen: tuple[str, ...] | None
    build: tuple[str, ...] | None

    @property
    def idle(self) -> bool:
        """Nothing to do."""
        return not self.reload and self.build == ()


class ChangeClassifier:
    """Sorts changed files of a project into modules, shared code and templates."""

    def __init__(self, project: Project) -> None:
        from trading_api.shared.storage.migrations import MIGRATIONS_DIR

        self.project = project
        self.migrations_dir = MIGRATIONS_DIR
        self._packages = self.module_packages()

    def module_names(self) -> frozenset[str]:
        """The modules that exist now."""
        return frozenset(name_for(package) for package in self._packages)

    def module_packages(self) -> frozenset[str]:
        """The module packages that exist now (folders with ``__init__.py``)."""
        return frozenset(self.project.module_packages())

    def classify(self, files: Iterable[Path]) -> ChangeSet:
        """The :class:`ChangeSet` of ``files`` (absolute paths that changed)."""
        files = tuple(sorted(files))
        modules: set[str] = set()
        migrations: set[str] = set()
        templates: list[Path] = []
        everything = False
        for path in files:
            kind, module = self._kind(path)
            if kind in ("module", "migration"):
                modules.add(module)
            if kind == "migration":
                migrations.add(module)
            elif kind == "shared":
                everything = True
            elif kind == "template":
                templates.append(path)
        packages = self.module_packages()
        moved, self._packages = packages != self._packages, packages
        return ChangeSet(
            files=files,
            modules=frozenset(modules),
            everything=everything,
            modules_moved=moved,
            templates=tuple(templates),
            migrations=frozenset(migrations),
        )

    def _kind(self, path: Path) -> tuple[str, str]:
        """("module", name), ("migration", name), ("shared", ""), ("template",
        ""), ("test", "") or ("other", "")."""
        project = self.project
        if project.templates_dir in path.parents:
            return "template", ""
        if project.package_dir not in path.parents:
            return "other", ""
        parts = path.relative_to(project.package_dir).parts
        if parts[0] != "modules" or len(parts) < 3 or parts[1].startswith(("_", ".")):
            return "shared", ""
        if parts[2] == TESTS_DIR:
            return "test", ""
        if parts[2] == self.migrations_dir and path.suffix == ".py":
            return "migration", name_for(parts[1])
        return "module", name_for(parts[1])
