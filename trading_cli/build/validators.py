"""The spec validators, each in its own process running beside the build.

``trading specs build`` starts both before it imports the project: Node loads
the official AsyncAPI parser (``@asyncapi/parser``, installed at the project root
by ``npm ci``) and a Python process loads openapi-spec-validator, while the build
renders the documents. Each then validates its whole batch at once, so the
start-up costs overlap the build instead of adding to it.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from trading_cli.errors import CliError

ASYNCAPI_SCRIPT = Path(__file__).with_name("asyncapi_parser.mjs")
ASYNCAPI_MISSING = (
    "the AsyncAPI parser is not installed (needs Node.js >= 18 and `npm ci` at the "
    "project root); AsyncAPI validation skipped"
)


class BatchValidator:
    """A process that reads a JSON list of documents on stdin and writes, for
    each, a list of problems (empty: valid)."""

    name = "validator"

    def __init__(self, command: list[str] | None) -> None:
        self._process: subprocess.Popen[str] | None = None
        if command is not None:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
            )

    @property
    def available(self) -> bool:
        """Whether the validator could start."""
        return self._process is not None

    def validate(self, documents: list[dict[str, Any]]) -> list[list[str]]:
        """The problems of each document, in order.

        Raises:
            CliError: the validator is missing or crashed.
        """
        if self._process is None:
            raise CliError(f"the {self.name} is not available")
        process, self._process = self._process, None
        stdout, stderr = process.communicate(json.dumps(documents), timeout=300)
        if process.returncode != 0 or not stdout:
            raise CliError(f"the {self.name} failed: {_last_line(stderr)}")
        problems: list[list[str]] = json.loads(stdout)
        return problems

    def close(self) -> None:
        """Stop the process if :meth:`validate` was never called."""
        if self._process is not None:
            self._process.kill()
            self._process.communicate()
            self._process = None


class AsyncApiParser(BatchValidator):
    """The official AsyncAPI parser under Node (see ``asyncapi_parser.mjs``)."""

    name = "AsyncAPI parser"

    def __init__(self, project_root: Path) -> None:
        node = shutil.which("node")
        root = _parser_root(project_root.resolve())
        if node is None or root is None:
            super().__init__(None)
        else:
            super().__init__([node, str(ASYNCAPI_SCRIPT), str(root)])


class OpenApiValidator(BatchValidator):
    """openapi-spec-validator in a Python process (this module's ``main``)."""

    name = "OpenAPI validator"

    def __init__(self) -> None:
        super().__init__([sys.executable, "-m", "trading_cli.build.validators"])


def asyncapi_required() -> bool:
    """CI must validate AsyncAPI: a missing parser fails the build there."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def openapi_problems(document: dict[str, Any]) -> list[str]:
    """What openapi-spec-validator finds wrong with ``document``."""
    from openapi_spec_validator.shortcuts import get_validator_cls

    validator = get_validator_cls(document)(document)
    return [
        f"{'.'.join(map(str, error.absolute_path)) or '/'}: "
        + str(error.message).split("\n", 1)[0]
        for error in validator.iter_errors()
    ]


def main() -> None:
    """Validate the OpenAPI documents on stdin (the validator process)."""
    import openapi_spec_validator.shortcuts  # noqa: F401 - load before input arrives

    documents = json.load(sys.stdin)
    json.dump([openapi_problems(document) for document in documents], sys.stdout)


def _parser_root(project_root: Path) -> Path | None:
    """The project's parser, else the one beside this CLI's own checkout (a
    temporary copy of the project has no node_modules of its own)."""
    marker = Path("node_modules") / "@asyncapi" / "parser" / "package.json"
    cli_checkout = Path(__file__).resolve().parents[2]
    for folder in (project_root, *project_root.parents, cli_checkout):
        if (folder / marker).is_file():
            return folder
    return None


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


if __name__ == "__main__":
    main()
