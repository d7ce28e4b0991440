"""Python source for generated clients: imports, type expressions, docstrings.

Generators write plain source; layout and import order are ruff's job
(:mod:`trading_cli.build.formatting`).
"""

import enum
import textwrap
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from trading_cli.errors import CliError

LINE_LENGTH = 88
INDENT = "    "

_ANNOTATED = type(typing.Annotated[int, "x"])


@dataclass
class Imports:
    """The ``from module import name`` lines of one file.

    Names must be unique in the file: importing two different objects under one
    name is an error that names both.
    """

    by_module: dict[str, set[str]] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)

    def add(self, module: str, name: str) -> str:
        """Import ``name`` from ``module``; return the name to use in the code."""
        owner = self.owners.setdefault(name, module)
        if owner != module:
            raise CliError(
                f"generated client needs two types named {name!r}, from {owner} and "
                f"{module}; rename one of them"
            )
        self.by_module.setdefault(module, set()).add(name)
        return name

    def lines(self) -> list[str]:
        """One import statement per module (ruff sorts and wraps them)."""
        return [
            f"from {module} import {', '.join(sorted(names))}"
            for module, names in sorted(self.by_module.items())
        ]


class TypeSource:
    """Writes annotations as source, importing each class from where it is defined.

    ``Annotated`` metadata (constraints the server checks) is dropped: the client
    takes the plain type.
    """

    def __init__(self, imports: Imports, aliases: dict[str, str] | None = None) -> None:
        self.imports = imports
        self.aliases = aliases or {}

    def __call__(self, annotation: Any) -> str:
        """Source text of ``annotation``, e.g. ``list[Bar] | None``."""
        if annotation is None or annotation is types.NoneType:
            return "None"
        if annotation is Any:
            return self.imports.add("typing", "Any")
        if isinstance(annotation, _ANNOTATED):
            return self(typing.get_args(annotation)[0])
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin is typing.Union or origin is types.UnionType:
            return " | ".join(self(arg) for arg in args)
        if origin is typing.Literal:
            literal = self.imports.add("typing", "Literal")
            return f"{literal}[{', '.join(_literal(arg) for arg in args)}]"
        if origin is not None:
            inner = ", ".join("..." if arg is Ellipsis else self(arg) for arg in args)
            return f"{self(origin)}[{inner}]" if args else self(origin)
        if isinstance(annotation, type):
            return self._class(annotation)
        raise CliError(
            f"cannot write the type {annotation!r} in a generated client; "
            "annotate the endpoint with a class, a pydantic model or a union of them"
        )

    def _class(self, cls: type) -> str:
        if cls.__module__ == "builtins":
            return cls.__qualname__
        if "<locals>" in cls.__qualname__:
            raise CliError(
                f"{cls.__qualname__} is defined inside a function in {cls.__module__}; "
                "move it to module level (e.g. trading_api/models/) so clients can "
                "import it"
            )
        outer, _, rest = cls.__qualname__.partition(".")
        module = "collections.abc" if cls.__module__ == "_collections_abc" else None
        name = self.imports.add(module or self._module_of(cls), outer)
        return f"{name}.{rest}" if rest else name

    def _module_of(self, cls: type) -> str:
        """Where the client imports ``cls`` from: the module's own package under
        the name the backend serves it by, whatever it was loaded as."""
        return _renamed(cls.__module__, self.aliases)


def _renamed(module: str, aliases: dict[str, str]) -> str:
    for loaded, canonical in aliases.items():
        if module == loaded or module.startswith(loaded + "."):
            return canonical + module[len(loaded) :]
    return module


def is_plain_type(annotation: Any) -> bool:
    """Whether ``annotation`` is a class or a generic alias of one (``list[Bar]``):
    what a ``type[T]`` parameter accepts in mypy."""
    origin = typing.get_origin(annotation)
    if origin is None:
        return isinstance(annotation, type)
    return isinstance(origin, type) and origin not in (type, types.UnionType)


def _literal(value: Any) -> str:
    if isinstance(value, enum.Enum):
        raise CliError(
            f"Literal[{value!r}] is not supported in generated clients; "
            "annotate the parameter with the enum class instead"
        )
    return python_literal(value)


def python_literal(value: Any) -> str:
    """Source text of a str, int, float, bool or None value (strings in "...")."""
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    return repr(value)


def docstring(text: str, *, indent: str) -> str:
    """A docstring at ``indent``: the first line, then the rest, wrapped to fit."""
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"').strip()
    lines = _wrap(text.splitlines(), LINE_LENGTH - len(indent) - 6)
    first, rest = lines[0], lines[1:]
    if not rest and len(indent) + len(first) + 6 <= LINE_LENGTH:
        return f'{indent}"""{_safe_end(first)}"""'
    body = [f"{indent}{line}" if line else "" for line in rest]
    return "\n".join([f'{indent}"""{first}', *body, f'{indent}"""'])


def _wrap(lines: list[str], width: int) -> list[str]:
    out: list[str] = []
    for line in (line.rstrip() for line in lines):
        if len(line) <= width:
            out.append(line)
            continue
        lead = line[: len(line) - len(line.lstrip())]
        if line.lstrip().startswith(("- ", "* ")):
            lead += "  "  # continue a list item under its text
        out.extend(
            textwrap.wrap(
                line,
                width=width,
                subsequent_indent=lead,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return out


def _safe_end(line: str) -> str:
    # A docstring ending in a quote would close early; ruff adds the same space.
    return f"{line} " if line.endswith('"') else line
