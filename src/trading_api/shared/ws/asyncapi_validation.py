"""Check AsyncAPI documents with the official parser (``@asyncapi/parser``, Node).

The parser is a Node package installed at the repository root by ``npm ci`` (see
``package.json``); :func:`validate_asyncapi` runs it through ``node`` on a small
script shipped beside this file. Used by the tests and by ``trading specs build``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from trading_api.shared.errors import TradingApiError

SCRIPT = Path(__file__).with_name("validate_asyncapi.mjs")
_PARSER = Path("node_modules") / "@asyncapi" / "parser"
_SEVERITIES = {0: "error", 1: "warning"}


class AsyncApiParserMissingError(TradingApiError):
    """Node or the AsyncAPI parser is not installed."""


def find_parser_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` whose node_modules has the parser.

    ``start`` defaults to this package's folder (the repository in an editable
    install); the current directory is tried next.
    """
    for base in (start or Path(__file__).parent, Path.cwd()):
        for folder in (base.resolve(), *base.resolve().parents):
            if (folder / _PARSER / "package.json").is_file():
                return folder
    return None


def validate_asyncapi(
    document: dict[str, Any], *, include_warnings: bool = False, timeout: float = 60
) -> list[str]:
    """Return the parser's complaints about ``document``; empty means valid.

    Each complaint reads ``"<severity> <path>: <message> (<rule>)"``.

    Raises:
        AsyncApiParserMissingError: ``node`` or ``@asyncapi/parser`` is missing;
            the message says how to install them.
    """
    node = shutil.which("node")
    root = find_parser_root()
    if node is None or root is None:
        raise AsyncApiParserMissingError(
            "the AsyncAPI parser is not installed; run `npm ci --ignore-scripts` at "
            "the repository root (needs Node.js >= 18)"
        )
    result = subprocess.run(
        [node, str(SCRIPT), str(root)],
        input=json.dumps(document),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise TradingApiError(f"the AsyncAPI parser failed: {result.stderr.strip()}")
    wanted = (0, 1) if include_warnings else (0,)
    return [
        f"{_SEVERITIES[d['severity']]} {d['path'] or '/'}: {d['message']} ({d['code']})"
        for d in json.loads(result.stdout)
        if d["severity"] in wanted
    ]
