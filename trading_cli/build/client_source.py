"""Python source for generated clients: imports, type expressions, line layout.

The clients are written ruff-format-clean directly, with no formatter run: each
bracketed construct goes on one line when it fits in :data:`LINE_LENGTH`, else one
item per line with a trailing comma (the form ruff keeps as is).
"""

import enum
import sys
import textwrap
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from trading_cli.errors import CliError

LINE_LENGTH = 88
INDENT = "    "

_ANNOTATED = type(typing.Annotated[int, "x"])


@dataclass
class Imports:
    """The ``from module import name`` lines of one file, sorted like ruff's isort.

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

    def render(self) -> str:
        """The import block: stdlib, third-party, first-party, relative sections."""
        sections: dict[int, list[str]] = {}
        for module in sorted(self.by_module, key=str.lower):
            names = sorted(self.by_module[module], key=_member_key)
            sections.setdefault(_section(module), []).append(
                _from_import(module, names)
            )
        return "\n\n".join("\n".join(sections[key]) for key in sorted(sections))


def _section(module: str) -> int:
    if module.startswith("."):
        return 3
    top = module.split(".")[0]
    if top in sys.stdlib_module_names:
        return 0
    return 2 if top in ("trading_api", "trading_cli") else 1


def _member_key(name: str) -> tuple[int, str, str]:
    # isort's order-by-type: CONSTANTS, then Classes, then functions and variables.
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return kind, name.lower(), name


def _from_import(module: str, names: list[str]) -> str:
    line = f"from {module} import {', '.join(names)}"
    if len(line) <= LINE_LENGTH:
        return line
    body = "".join(f"{INDENT}{name},\n" for name in names)
    return f"from {module} import (\n{body})"


class TypeSource:
    """Writes annotations as source, importing each class from where it is defined.

    ``Annotated`` metadata (constraints the server checks) is dropped: the client
    takes the plain type.
    """

    def __init__(self, imports: Imports) -> None:
        self.imports = imports

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
        name = self.imports.add(module or cls.__module__, outer)
        return f"{name}.{rest}" if rest else name


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


@dataclass(frozen=True)
class Group:
    """A bracketed construct: ``head`` ends with the opening bracket, ``tail``
    starts with the closing one; items may be groups themselves."""

    head: str
    items: "Sequence[str | Group]"
    tail: str

    def flat(self) -> str:
        """The construct on one line."""
        inner = ", ".join(
            item if isinstance(item, str) else item.flat() for item in self.items
        )
        return f"{self.head}{inner}{self.tail}"


def layout(item: "str | Group", indent: str, suffix: str = "") -> str:
    """Lay ``item`` out at ``indent``: on one line if it fits, else one item a line
    with a trailing comma, recursively."""
    if isinstance(item, str):
        return f"{indent}{item}{suffix}"
    line = f"{indent}{item.flat()}{suffix}"
    if len(line) <= LINE_LENGTH:
        return line
    body = "\n".join(layout(inner, indent + INDENT, ",") for inner in item.items)
    return f"{indent}{item.head}\n{body}\n{indent}{item.tail}{suffix}"


def bracketed(
    head: str, items: "Sequence[str | Group]", tail: str, *, indent: str
) -> str:
    """``head(items)tail`` at ``indent``, laid out by :func:`layout`."""
    return layout(Group(head, items, tail), indent)


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
