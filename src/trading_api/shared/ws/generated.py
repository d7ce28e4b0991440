"""Is a module's ``ws_generated/`` up to date with its ``ws.py``? (checked on serve)

The generator (``trading specs build``, in the CLI) writes one file per router
alias plus ``__init__.py``, each starting with :data:`HEADER` and a fingerprint
line of what it was made from. The server only needs to know whether those are
current: :func:`check_ws_generated` parses ``ws.py`` (never imports it) and reads
two lines of each generated file, without rendering anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from trading_api.conventions import name_for
from trading_api.shared.artifacts import header_line
from trading_api.shared.errors import GeneratedCodeError
from trading_api.shared.ws.declarations import (
    GENERATOR_VERSION,
    RouterDeclaration,
    WsDeclarationError,
    digest,
    read_declarations,
)

__all__ = [
    "COMMAND",
    "FINGERPRINT_PREFIX",
    "GENERATED_DIR",
    "HEADER",
    "check_ws_generated",
    "generated_files",
    "init_fingerprint",
    "staleness",
]

COMMAND = "trading specs build"
GENERATED_DIR = "ws_generated"
HEADER = header_line(COMMAND)
FINGERPRINT_PREFIX = "# ws.py fingerprint: "


def check_ws_generated(module_dir: Path) -> None:
    """Fail unless ``ws_generated/`` matches the declarations in ``ws.py``.

    Does nothing for a module without ``ws.py``.

    Raises:
        GeneratedCodeError: a one-line message naming the module, the problem and
            ``trading specs build``.
    """
    if not (module_dir / "ws.py").is_file():
        return
    try:
        problem = staleness(module_dir)
    except WsDeclarationError as exc:
        raise GeneratedCodeError(f"{exc}; fix it, then run `{COMMAND}`") from None
    if problem is not None:
        module = name_for(module_dir.name)
        raise GeneratedCodeError(
            f"module {module!r}: {problem}; run `{COMMAND}` to regenerate it"
        )


def staleness(module_dir: Path) -> str | None:
    """What is out of date in ``module_dir/ws_generated/``, or None if nothing.

    Raises:
        WsDeclarationError: ``ws.py`` cannot be read as declarations.
    """
    declarations = read_declarations(module_dir)
    out_dir = module_dir / GENERATED_DIR
    if not out_dir.is_dir():
        return f"{GENERATED_DIR}/ is missing"
    expected = {out_dir / d.filename: d.fingerprint for d in declarations}
    init = out_dir / "__init__.py"
    for path in generated_files(out_dir):
        if path not in expected and path != init:
            return f"{GENERATED_DIR}/{path.name} has no declaration left in ws.py"
    expected[init] = init_fingerprint(declarations)
    for path, fingerprint in expected.items():
        found = _read_fingerprint(path)
        if found is None:
            return f"{GENERATED_DIR}/{path.name} is missing"
        if found != fingerprint:
            return f"{GENERATED_DIR}/{path.name} is out of date with ws.py"
    return None


def generated_files(out_dir: Path) -> list[Path]:
    """Python files in ``out_dir`` that carry the generated header."""
    found = []
    for path in sorted(out_dir.glob("*.py")):
        with path.open(encoding="utf-8") as handle:
            if handle.readline().rstrip("\n") == HEADER:
                found.append(path)
    return found


def init_fingerprint(declarations: Sequence[RouterDeclaration]) -> str:
    """The fingerprint of ``__init__.py``: every alias and its own fingerprint."""
    return digest([GENERATOR_VERSION, [(d.alias, d.fingerprint) for d in declarations]])


def _read_fingerprint(path: Path) -> str | None:
    """The fingerprint in a generated file, "" if it has none, None if absent."""
    try:
        with path.open(encoding="utf-8") as handle:
            header, second = handle.readline(), handle.readline()
    except FileNotFoundError:
        return None
    if header.rstrip("\n") != HEADER or not second.startswith(FINGERPRINT_PREFIX):
        return ""
    return second[len(FINGERPRINT_PREFIX) :].strip()
