"""The three spellings of a module's identity and the rules that tie them.

A module has a *name* in kebab-case (``market-data``: URL segment, OpenAPI tag, CLI
argument), a *package* in snake_case (``market_data``) and a class in PascalCase
with a ``Module`` suffix (``MarketDataModule``).
"""

import keyword
import re

_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")

RESERVED_NAMES = frozenset({"shared", "models", "modules", "specs", "ws", "docs"})


def package_for(name: str) -> str:
    """Return the snake_case package of a kebab-case module name."""
    return name.replace("-", "_")


def name_for(package: str) -> str:
    """Return the kebab-case module name of a snake_case package."""
    return package.replace("_", "-")


def class_name_for(name: str) -> str:
    """Return the module class name: ``market-data`` -> ``MarketDataModule``."""
    return "".join(part.capitalize() for part in name.split("-")) + "Module"


def name_problem(name: str) -> str | None:
    """Say what is wrong with a module name and how to fix it, or None if valid."""
    if not name:
        return "module name is empty; use kebab-case such as 'market-data'"
    if "/" in name or "\\" in name or name.startswith("."):
        return (
            f"module name {name!r} looks like a path; "
            "give a bare name like 'market-data'"
        )
    if "_" in name and _NAME_RE.match(name.replace("_", "-")):
        return (
            f"module name {name!r} uses underscores; "
            f"did you mean {name.replace('_', '-')!r}?"
        )
    if name[0].isdigit():
        return f"module name {name!r} starts with a digit; start it with a letter"
    if not _NAME_RE.match(name):
        suggestion = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        hint = f"; did you mean {suggestion!r}?" if _NAME_RE.match(suggestion) else ""
        return (
            f"module name {name!r} is not kebab-case "
            f"(lowercase letters, digits and single hyphens){hint}"
        )
    package = package_for(name)
    if keyword.iskeyword(package) or keyword.issoftkeyword(package):
        return (
            f"module name {name!r} becomes the Python keyword {package!r}; pick another"
        )
    if name in RESERVED_NAMES:
        return f"module name {name!r} is reserved by the project layout; pick another"
    return None
