"""Which names a new module may take, and finding the module a name means.

The project's conventions (``trading_api.conventions``) decide what a valid
module name is and which names clash; scaffolding keeps ``core`` for the built-in
module and refuses names already taken.
"""

from pathlib import Path

from trading_api.conventions import (  # noqa: TID253 (standard library only)
    ALWAYS_ENABLED,
    name_problem,
    new_module_problem,
    package_for,
)
from trading_cli.errors import UsageError
from trading_cli.project import Project
from trading_cli.scaffold.answers import read_record

BUILT_IN = ALWAYS_ENABLED


def check_new_name(project: Project, name: str, *, force: bool = False) -> None:
    """Raise :class:`UsageError` unless ``name`` can be a new module.

    With ``force`` an existing module folder (other than ``core``) is allowed: the
    caller replaces it.
    """
    problem = new_module_problem(name, project.module_names())
    if problem is not None:
        raise UsageError(problem)
    folder = module_dir(project, name)
    if (folder.exists() or folder.is_symlink()) and not force:
        what = "module" if (folder / "__init__.py").is_file() else "folder"
        hint = ""
        if read_record(folder) is not None:
            hint = f", or remove it first with `trading remove-module {name}`"
        raise UsageError(
            f"{what} {_relative(project, folder)} already exists; pick another "
            f"name{hint}"
        )


def existing_module_dir(project: Project, name: str) -> Path:
    """The package folder of the existing module ``name``.

    Raises:
        UsageError: ``name`` is not a valid module name or no such module exists;
            the message lists the modules there are.
    """
    problem = name_problem(name)
    if problem is not None:
        raise UsageError(problem)
    folder = module_dir(project, name)
    if not (folder / "__init__.py").is_file():
        known = ", ".join(module_names(project)) or "(none)"
        raise UsageError(f"unknown module {name!r}; known modules: {known}")
    return folder


def module_dir(project: Project, name: str) -> Path:
    """Where the package of module ``name`` lives (it may not exist)."""
    return project.modules_dir / package_for(name)


def module_names(project: Project) -> list[str]:
    """Every module of the project, ``core`` first."""
    return project.module_names()


def _relative(project: Project, path: Path) -> str:
    return path.relative_to(project.root).as_posix()
