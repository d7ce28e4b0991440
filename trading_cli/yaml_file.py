"""Reading the project's YAML files strictly, with one-line errors.

A config or answers file may be hand-edited, half-merged, or hostile: every way
it can be unreadable (a folder, binary bytes, a syntax error, a key written
twice) is reported as one line that names the file and the line, with exit 2,
before anything acts on it. YAML itself lets a repeated key silently win; here it
is an error, as a typo in a deployment or answers file should be.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from trading_cli.errors import UsageError

if TYPE_CHECKING:
    import yaml

MAX_BYTES = 1_000_000
"""Larger files are refused: none of the project's YAML files is near this."""


def load_yaml_file(path: Path, *, label: str | None = None) -> Any:
    """Parse ``path`` as YAML; refuse duplicate keys.

    ``label`` names the file in messages (default: the path as given).

    Raises:
        UsageError: the file is missing, not a regular file, too large, not
            UTF-8 text, or not valid YAML; the message says where and what.
    """
    name = label or str(path)
    try:
        if not path.exists():
            raise UsageError(f"{name} does not exist; create it or pass another file")
        if not path.is_file():
            raise UsageError(f"{name} is not a regular file; point at a YAML file")
        data = path.read_bytes()
    except PermissionError:
        raise UsageError(f"{name} is not readable (permission denied)") from None
    except OSError as exc:
        raise UsageError(f"{name} cannot be read: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise UsageError(
            f"{name} is larger than {MAX_BYTES} bytes; is it the right file?"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{name} is not UTF-8 text (byte {exc.start}); is it the right file?"
        ) from None
    if "\x00" in text:
        raise UsageError(
            f"{name} holds binary data (a NUL byte); is it the right file?"
        )
    return parse_yaml(text, name)


def parse_yaml(text: str, name: str) -> Any:
    """Parse YAML ``text`` (from the file called ``name``); refuse duplicate keys.

    Raises:
        UsageError: ``text`` is not valid YAML, in one line.
    """
    import yaml

    try:
        return yaml.load(text, Loader=_strict_loader())  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        problem = " ".join(str(exc.problem or exc.context or "invalid").split())
        if "end of stream" in problem:
            problem = "the file ends inside a value (an unclosed quote or bracket?)"
        raise UsageError(f"{name}:{where} {problem}; fix the YAML") from None
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise UsageError(f"{name}: not valid YAML ({detail}); fix the YAML") from None
    except RecursionError:
        raise UsageError(f"{name}: nested too deeply; fix the YAML") from None


_LOADER: type[yaml.SafeLoader] | None = None


def _strict_loader() -> type[yaml.SafeLoader]:
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import yaml

    class StrictLoader(yaml.SafeLoader):
        """A safe loader that refuses a mapping key written twice."""

        def construct_mapping(
            self, node: yaml.MappingNode, deep: bool = False
        ) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: the base class says so
                    break
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key {key!r} (YAML would silently keep the last)",
                        key_node.start_mark,
                    )
            return super().construct_mapping(node, deep=deep)

    _LOADER = StrictLoader
    return _LOADER
