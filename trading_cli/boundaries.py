"""Import boundaries between the backend's parts, checked with import-linter.

The contracts are generated from the modules discovered in the project, so a new
module is covered the moment it exists. grimp builds the import graph of
``trading_api`` (generated code included: ``ws_generated/``, ``client_generated/``
are packages of their module); import-linter's forbidden contracts find the
imports that cross a boundary. Only direct imports are reported: each one is a
line to change, and an indirect chain always starts with one of them.
"""

from dataclasses import asdict, dataclass
from typing import Any

from trading_api.conventions import ROOT_PACKAGE, name_for  # noqa: TID253
from trading_cli.project import Project

ROOT = ROOT_PACKAGE
RULES = {
    "module-imports": (
        "a module imports only trading_api.shared, trading_api.models, "
        "trading_api.market and itself"
    ),
    "shared-imports-no-module": (
        "trading_api.shared and trading_api.models never import a module"
    ),
    "market-imports-no-module": "trading_api.market never imports a module",
    "api-imports-no-cli": "trading_api never imports trading_cli",
}
MARKET = f"{ROOT}.market"
"""The market library every module may import, which knows no module."""
_ALLOWED_TO_MODULES = ("shared", "models", "market", "modules")
SESSION = {"root_packages": [ROOT], "include_external_packages": "True"}
"""import-linter's session options, as a config file would give them."""


@dataclass(frozen=True)
class Violation:
    """One import that crosses a boundary."""

    file: str
    line: int
    importer: str
    imported: str
    rule: str

    @property
    def explanation(self) -> str:
        """The rule in words."""
        return RULES[self.rule]

    def as_dict(self) -> dict[str, Any]:
        """Stable keys for ``--json``."""
        return {**asdict(self), "explanation": self.explanation}


@dataclass(frozen=True)
class BoundaryReport:
    """What was checked and what broke."""

    modules: list[str]
    violations: list[Violation]


def contracts(modules: list[str], top_level: list[str]) -> list[dict[str, Any]]:
    """import-linter contract options for these module packages.

    Args:
        modules: Dotted names of the module packages
            (``trading_api.modules.broker``).
        top_level: Dotted names of every child of ``trading_api``.
    """
    outside = [
        name for name in top_level if name.rsplit(".", 1)[-1] not in _ALLOWED_TO_MODULES
    ]
    # Source and forbidden sets overlap on purpose: import-linter skips a module
    # importing itself, so one contract covers every pair of modules.
    market = [_forbidden("market-imports-no-module", [MARKET], [f"{ROOT}.modules"])]
    return [
        _forbidden("module-imports", modules, [*modules, *outside]),
        _forbidden(
            "shared-imports-no-module",
            [f"{ROOT}.shared", f"{ROOT}.models"],
            [f"{ROOT}.modules"],
        ),
        *(market if MARKET in top_level else []),
        _forbidden("api-imports-no-cli", [ROOT], ["trading_cli"]),
    ]


def check_boundaries(project: Project) -> BoundaryReport:
    """Check every boundary rule on the project's ``trading_api``."""
    project.activate()
    import grimp
    from importlinter import configuration
    from importlinter.contracts.forbidden import ForbiddenContract

    configuration.configure()  # what `importlinter.api` does on import
    graph = grimp.build_graph(ROOT, include_external_packages=True, cache_dir=None)
    dotted = (f"{ROOT}.modules.{package}" for package in project.module_packages())
    packages = [name for name in dotted if name in graph.modules]
    top_level = sorted(graph.find_children(ROOT))
    violations: set[Violation] = set()
    for options in contracts(packages, top_level):
        contract = ForbiddenContract(
            name=options["name"], session_options=SESSION, contract_options=options
        )
        check = contract.check(graph, verbose=False)
        violations |= _violations(project, options["name"], check.metadata)
    ordered = sorted(violations, key=lambda v: (v.file, v.line, v.imported))
    names = [name_for(p.rsplit(".", 1)[-1]) for p in packages]
    return BoundaryReport(modules=names, violations=ordered)


def _forbidden(rule: str, sources: list[str], forbidden: list[str]) -> dict[str, Any]:
    return {
        "name": rule,
        "type": "forbidden",
        "source_modules": sources,
        "forbidden_modules": forbidden,
        "allow_indirect_imports": "true",
    }


def _violations(
    project: Project, rule: str, metadata: dict[str, Any]
) -> set[Violation]:
    found = set()
    for chains in metadata.get("invalid_chains", []):
        for chain in chains["chains"]:
            for link in chain:
                for line in link["line_numbers"]:
                    found.add(
                        Violation(
                            file=_file_of(project, link["importer"]),
                            line=line,
                            importer=link["importer"],
                            imported=link["imported"],
                            rule=rule,
                        )
                    )
    return found


def _file_of(project: Project, module: str) -> str:
    base = project.src.joinpath(*module.split("."))
    path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    return str(path.relative_to(project.root))
