"""The answers a module is rendered with, and the record a scaffolded module keeps.

The project's root ``.copier-answers.yml`` holds what every render shares (API
prefix, root package, default author). Each scaffolded module keeps its own
``.copier-answers.yml``: the answers, the template commit (``_commit``) and a hash
of every rendered file (``_manifest``), so ``update-module`` can re-render the
template as it was, and ``remove-module`` can tell hand edits from rendered code.
"""

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trading_cli.errors import CliError

ANSWERS_FILE = ".copier-answers.yml"
TEMPLATE_SRC = "templates/module"
"""The ``_src_path`` of every module rendered from this project's template."""

PROJECT_KEYS = ("api_prefix", "author", "root_package")
"""Answers the root ``.copier-answers.yml`` may set for every render."""

MAX_DESCRIPTION = 200
CACHE_PARTS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})


@dataclass(frozen=True)
class ModuleAnswers:
    """Everything the template asks, as recorded in a module's answers file."""

    name: str
    description: str
    with_ws: bool = True
    author: str = "Trading team"
    api_prefix: str = "/api/v1"
    root_package: str = "trading_api"

    def data(self, commit: str | None) -> dict[str, Any]:
        """The ``data`` copier renders with (``commit``: the template version)."""
        return {**asdict(self), "template_commit": commit or ""}


@dataclass(frozen=True)
class ModuleRecord:
    """What a scaffolded module's ``.copier-answers.yml`` says.

    Attributes:
        answers: The answers it was rendered with.
        commit: The git commit of ``templates/module`` it was rendered from, or
            None when the template was not committed at the time.
        manifest: The sha256 of every rendered file (answers file excluded), by
            path relative to the module folder, as last rendered.
    """

    answers: ModuleAnswers
    commit: str | None
    manifest: dict[str, str] = field(default_factory=dict)


def project_answers(root: Path) -> dict[str, str]:
    """The project-wide answers from ``root/.copier-answers.yml`` ({} if absent).

    Raises:
        CliError: the file is not a YAML mapping.
    """
    path = root / ANSWERS_FILE
    if not path.is_file():
        return {}
    document = _load_yaml(path)
    return {key: str(document[key]) for key in PROJECT_KEYS if key in document}


def read_record(module_dir: Path) -> ModuleRecord | None:
    """The record of a module made by ``trading new-module``, else None.

    Raises:
        CliError: the answers file exists but is broken.
    """
    path = module_dir / ANSWERS_FILE
    if not path.is_file():
        return None
    document = _load_yaml(path)
    if document.get("_src_path") != TEMPLATE_SRC:
        return None
    try:
        answers = ModuleAnswers(
            name=str(document["name"]),
            description=str(document["description"]),
            with_ws=bool(document["with_ws"]),
            author=str(document["author"]),
            api_prefix=str(document["api_prefix"]),
            root_package=str(document["root_package"]),
        )
    except KeyError as exc:
        raise CliError(
            f"{path} lacks the answer {exc.args[0]!r}; restore the file from git"
        ) from None
    manifest = document.get("_manifest") or {}
    commit = document.get("_commit")
    return ModuleRecord(
        answers=answers,
        commit=str(commit) if commit else None,
        manifest={str(key): str(value) for key, value in dict(manifest).items()},
    )


def manifest_block(manifest: dict[str, str]) -> str:
    """The ``_manifest`` mapping appended to a rendered answers file."""
    lines = ["_manifest:"]
    lines += [f"  {path}: {digest}" for path, digest in sorted(manifest.items())]
    return "\n".join(lines) + "\n"


def hash_files(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` but caches and the answers file."""
    return {
        relative: hashlib.sha256((folder / relative).read_bytes()).hexdigest()
        for relative in tree_files(folder)
        if relative != ANSWERS_FILE
    }


def tree_files(folder: Path) -> list[str]:
    """Every file under ``folder`` (posix paths relative to it), caches excluded."""
    return sorted(
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file()
        and not CACHE_PARTS.intersection(path.parts)
        and path.suffix not in (".pyc", ".pyo")
    )


def description_problem(description: str) -> str | None:
    """Say what is wrong with a module description, or None if it is usable."""
    if not description.strip():
        return "the description is empty; describe the module in one line"
    if len(description) > MAX_DESCRIPTION:
        return (
            f"the description has {len(description)} characters; "
            f"keep it to {MAX_DESCRIPTION}"
        )
    if any(not char.isprintable() for char in description):
        return "the description must be one line of printable text"
    return None


def _load_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CliError(f"{path} is not valid YAML ({exc}); fix or restore it") from None
    if not isinstance(document, dict):
        raise CliError(f"{path} must hold a YAML mapping; fix or restore it")
    return document
