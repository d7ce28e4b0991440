"""The answers a module is rendered with, and the record a scaffolded module keeps.

The project's root ``.copier-answers.yml`` holds what every render shares (API
prefix, root package, default author). Each scaffolded module keeps its own
``.copier-answers.yml``: the answers, the template commit (``_commit``) and a hash
of every rendered file (``_manifest``), so ``update-module`` can re-render the
template as it was, and ``remove-module`` can tell hand edits from rendered code.
"""

import hashlib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trading_api.conventions import (  # noqa: TID253 (standard library only)
    API_PREFIX,
    ROOT_PACKAGE,
    package_for,
)
from trading_cli.errors import UsageError

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
    api_prefix: str = API_PREFIX
    root_package: str = ROOT_PACKAGE

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
        conflicts: Files ``update-module`` left with conflict markers, each with
            the template commit it was last merged cleanly at; until they are
            resolved the module is not up to date with ``commit``.
    """

    answers: ModuleAnswers
    commit: str | None
    manifest: dict[str, str] = field(default_factory=dict)
    conflicts: dict[str, str] = field(default_factory=dict)


def project_answers(root: Path) -> dict[str, str]:
    """The project-wide answers from ``root/.copier-answers.yml`` ({} if absent).

    Raises:
        UsageError: the file is unreadable, not a mapping, has an unknown key, or
            a value the backend cannot use (e.g. another API prefix).
    """
    path = root / ANSWERS_FILE
    if not path.exists():
        return {}
    label = ANSWERS_FILE
    document = _load_mapping(path, label, empty_ok=True)
    for key in document:
        if not str(key).startswith("_") and key not in PROJECT_KEYS:
            raise UsageError(
                f"{label}: unknown key {_shown(key)}; the project-wide answers are "
                f"{', '.join(PROJECT_KEYS)} (a typo?)"
            )
    answers = {key: document[key] for key in PROJECT_KEYS if key in document}
    _check_shared_answers(answers, label)
    return {key: str(value) for key, value in answers.items()}


def read_record(module_dir: Path) -> ModuleRecord | None:
    """The record of a module made by ``trading new-module``, else None.

    Every value is checked before anything uses it: values reach file paths and
    git commands, and a pull request can change the file.

    Raises:
        UsageError: the answers file exists but is broken or holds a value
            that is out of place; one line says which and how to fix it.
    """
    path = module_dir / ANSWERS_FILE
    if not path.exists() and not path.is_symlink():
        return None
    label = _label(path)
    document = _load_mapping(path, label, empty_ok=False)
    if document.get("_src_path") != TEMPLATE_SRC:
        return None
    missing = [key for key in _MODULE_KEYS if key not in document]
    if missing:
        raise UsageError(
            f"{label} lacks the answer {missing[0]!r}; restore the file from git"
        )
    values = {key: document[key] for key in _MODULE_KEYS}
    for key in ("name", "description"):
        if not isinstance(values[key], str):
            raise UsageError(_bad(label, key, values[key], "must be text"))
    name, description = values["name"], values["description"]
    problem = _name_problem(name)
    if problem is not None:
        raise UsageError(f"{label}: name: {problem}; restore the file from git")
    if package_for(name) != module_dir.name:
        raise UsageError(
            f"{label}: name {name!r} does not match the folder {module_dir.name!r}; "
            "restore the file from git"
        )
    problem = description_problem(description)
    if problem is not None:
        raise UsageError(f"{label}: description: {problem}")
    if not isinstance(values["with_ws"], bool):
        raise UsageError(
            _bad(label, "with_ws", values["with_ws"], "must be true/false")
        )
    _check_shared_answers(values, label)
    return ModuleRecord(
        answers=ModuleAnswers(**values),
        commit=_commit(document.get("_commit"), label, "_commit"),
        manifest=_manifest(document.get("_manifest"), label),
        conflicts=_conflicts(document.get("_conflicts"), label),
    )


_MODULE_KEYS = ("name", "description", "with_ws", *PROJECT_KEYS)
_COMMIT = re.compile(r"[0-9a-f]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_AUTHOR = re.compile(r'[^"\\\r\n]{1,60}')


def is_commit(value: object) -> bool:
    """Whether ``value`` is a full git commit id: exactly 40 lowercase hex digits."""
    return isinstance(value, str) and _COMMIT.fullmatch(value) is not None


def _check_shared_answers(answers: dict[str, Any], label: str) -> None:

    for key, value in answers.items():
        if key not in PROJECT_KEYS:
            continue
        if not isinstance(value, str):
            raise UsageError(_bad(label, key, value, "must be text"))
    prefix = answers.get("api_prefix", API_PREFIX)
    if prefix != API_PREFIX:
        raise UsageError(
            f"{label}: api_prefix is {_shown(prefix)} but the backend mounts every "
            f"module under {API_PREFIX}; set api_prefix: {API_PREFIX}"
        )
    package = answers.get("root_package", ROOT_PACKAGE)
    if package != ROOT_PACKAGE:
        raise UsageError(
            f"{label}: root_package is {_shown(package)} but the backend package is "
            f"{ROOT_PACKAGE}; set root_package: {ROOT_PACKAGE}"
        )
    author = answers.get("author", "Trading team")
    if not _AUTHOR.fullmatch(author):
        raise UsageError(
            _bad(
                label,
                "author",
                author,
                "must be 1 to 60 characters on one line, without quotes or backslashes",
            )
        )


def _commit(value: object, label: str, key: str) -> str | None:
    if value is None or value == "":
        return None
    if not is_commit(value):
        raise UsageError(
            _bad(label, key, value, "must be a full git commit (40 hex digits)")
            + "; restore the file from git"
        )
    assert isinstance(value, str)
    return value


def _manifest(value: object, label: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError(
            _bad(label, "_manifest", value, "must map file paths to sha256 digests")
            + "; restore the file from git"
        )
    manifest = {}
    for path, digest in value.items():
        _check_relative(path, label, "_manifest")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise UsageError(
                _bad(label, f"_manifest.{path}", digest, "must be a sha256 digest")
                + "; restore the file from git"
            )
        manifest[path] = digest
    return manifest


def _conflicts(value: object, label: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError(
            _bad(label, "_conflicts", value, "must map file paths to commits")
            + "; restore the file from git"
        )
    conflicts = {}
    for path, commit in value.items():
        _check_relative(path, label, "_conflicts")
        checked = _commit(commit, label, f"_conflicts.{path}")
        if checked is None:
            raise UsageError(
                _bad(label, f"_conflicts.{path}", commit, "needs a commit")
            )
        conflicts[path] = checked
    return conflicts


def _check_relative(path: object, label: str, key: str) -> None:
    parts = path.split("/") if isinstance(path, str) else []
    if (
        not parts
        or any(part in ("", ".", "..") for part in parts)
        or any(not part.isprintable() or "\\" in part for part in parts)
    ):
        raise UsageError(
            f"{label}: {key} names {_shown(path)}, which is not a path inside the "
            "module; restore the file from git"
        )


def _name_problem(name: str) -> str | None:
    from trading_api.conventions import name_problem

    return name_problem(name)


def _bad(label: str, key: str, value: object, rule: str) -> str:
    return f"{label}: {key} {rule} (got {_shown(value)})"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _label(path: Path) -> str:
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)


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


def _load_mapping(path: Path, label: str, *, empty_ok: bool) -> dict[str, Any]:
    from trading_cli.yaml_file import load_yaml_file

    document = load_yaml_file(path, label=label)
    if document is None and empty_ok:
        return {}
    if not isinstance(document, dict):
        raise UsageError(f"{label} must hold a YAML mapping; fix or restore it")
    return document
