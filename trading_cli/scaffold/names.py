"""Which names a new module may take, and finding the module a name means.

The runtime's naming rules (``trading_api.shared.naming``) decide what a valid
module name is; scaffolding adds a length limit (generated names must fit a line),
keeps ``core`` for the built-in module and refuses names already taken.
"""

from pathlib import Path

from trading_cli.errors import UsageError
from trading_cli.project import Project
from trading_cli.scaffold.answers import read_record

MAX_NAME_LENGTH = 30
BUILT_IN = "core"


def check_new_name(project: Project, name: str, *, force: bool = False) -> None:
    """Raise :class:`UsageError` unless ``name`` can be a new module.

    With ``force`` an existing module folder (other than ``core``) is allowed: the
    caller replaces it.
    """
    _check_syntax(project, name)
    if name == BUILT_IN:
        raise UsageError("module name 'core' is the built-in module; pick another name")
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
    _check_syntax(project, name)
    folder = module_dir(project, name)
    if not (folder / "__init__.py").is_file():
        known = ", ".join(module_names(project)) or "(none)"
        raise UsageError(f"unknown module {name!r}; known modules: {known}")
    return folder


def module_dir(project: Project, name: str) -> Path:
    """Where the package of module ``name`` lives (it may not exist)."""
    return project.modules_dir / name.replace("-", "_")


def module_names(project: Project) -> list[str]:
    """Every module of the project, ``core`` first."""
    names = [
        init.parent.name.replace("_", "-")
        for init in project.modules_dir.glob("*/__init__.py")
        if not init.parent.name.startswith(("_", "."))
    ]
    return sorted(names, key=lambda name: (name != BUILT_IN, name))


def _check_syntax(project: Project, name: str) -> None:
    project.activate()
    from trading_api.shared.naming import name_problem

    problem = name_problem(name)
    if problem is not None:
        raise UsageError(problem)
    if len(name) > MAX_NAME_LENGTH:
        raise UsageError(
            f"module name {name!r} has {len(name)} characters; keep it to "
            f"{MAX_NAME_LENGTH} so generated names stay readable"
        )


def _relative(project: Project, path: Path) -> str:
    return path.relative_to(project.root).as_posix()
