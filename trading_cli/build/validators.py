"""The spec validators, each in its own process running beside the build.

Node runs the official AsyncAPI parser (``@asyncapi/parser``, installed at the
project root by ``npm ci``) and a Python process openapi-spec-validator. A build
starts both before it imports the project, so their start-up overlaps rendering
the documents, and then hands each its whole batch at once.

A document a validator passed is remembered by the hash of its content and the
validator's version (outside the project, in the user's cache folder): unchanged
documents are not validated again, and when every committed spec is known valid
the processes start only if a document turns out new.
CI (``CI=true``) remembers nothing and validates everything.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trading_cli.errors import CliError

ASYNCAPI_SCRIPT = Path(__file__).with_name("asyncapi_parser.mjs")
ASYNCAPI_MISSING = (
    "the AsyncAPI parser is not installed (needs Node.js >= 18 and `npm ci` at the "
    "project root); AsyncAPI validation skipped"
)
_PARSER = Path("node_modules") / "@asyncapi" / "parser" / "package.json"


class ValidatorMissingError(CliError):
    """A validator is needed but could not start."""


class BatchValidator:
    """A process that reads a JSON list of documents on stdin and writes, for
    each, a list of problems (empty: valid).

    Attributes:
        identity: What the verdicts depend on (validator and its version); None
            when the validator is missing.
    """

    name = "validator"

    def __init__(self, command: list[str] | None, identity: str | None) -> None:
        self.identity = identity
        self._command = command
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        """Start the process now, so its start-up overlaps other work."""
        if self._process is None and self._command is not None:
            self._process = subprocess.Popen(
                self._command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
            )

    def validate(
        self, documents: Mapping[Path, dict[str, Any]]
    ) -> dict[Path, list[str]]:
        """The problems of each document; documents passed before are skipped.

        Raises:
            ValidatorMissingError: a document needs the validator, which is missing.
            CliError: the validator crashed.
        """
        cache = ValidationCache(self.identity)
        todo = {path: doc for path, doc in documents.items() if not cache.knows(doc)}
        if not todo:
            self.close()
            return {path: [] for path in documents}
        self.start()
        if self._process is None:
            raise ValidatorMissingError(f"the {self.name} is not available")
        process, self._process = self._process, None
        stdout, stderr = process.communicate(json.dumps(list(todo.values())))
        if process.returncode != 0 or not stdout:
            raise CliError(f"the {self.name} failed: {_last_line(stderr)}")
        verdicts = dict(zip(todo, json.loads(stdout), strict=True))
        for path, problems in verdicts.items():
            if not problems:
                cache.remember(todo[path])
        return {path: verdicts.get(path, []) for path in documents}

    def close(self) -> None:
        """Stop the process if it was started but not needed."""
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
        if root is None:
            super().__init__(None, None)
            return
        version = json.loads((root / _PARSER).read_text(encoding="utf-8"))["version"]
        script = hashlib.sha256(ASYNCAPI_SCRIPT.read_bytes()).hexdigest()[:12]
        command = None if node is None else [node, str(ASYNCAPI_SCRIPT), str(root)]
        super().__init__(command, f"@asyncapi/parser {version} {script}")


class OpenApiValidator(BatchValidator):
    """openapi-spec-validator in a Python process (this module's ``main``)."""

    name = "OpenAPI validator"

    def __init__(self) -> None:
        from importlib.metadata import version

        super().__init__(
            [sys.executable, "-m", "trading_cli.build.validators"],
            f"openapi-spec-validator {version('openapi-spec-validator')}",
        )


class ValidationCache:
    """Documents a validator passed, as empty files named by a content hash."""

    def __init__(self, identity: str | None) -> None:
        self.identity = identity
        self.folder = None if in_ci() or identity is None else _cache_root()

    @property
    def enabled(self) -> bool:
        """Whether verdicts are remembered (never in CI)."""
        return self.folder is not None

    def knows(self, document: dict[str, Any]) -> bool:
        """Whether this validator passed exactly this document before."""
        return self.folder is not None and (self.folder / self._key(document)).exists()

    def remember(self, document: dict[str, Any]) -> None:
        """Record that the validator passed ``document``; best effort."""
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / self._key(document)).touch()
        except OSError:
            pass  # a read-only home only costs the next build some time

    def _key(self, document: dict[str, Any]) -> str:
        text = json.dumps(document, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(f"{self.identity}\n{text}".encode()).hexdigest()


def in_ci() -> bool:
    """Whether this runs in CI, which validates everything and needs every tool."""
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


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trading-workbench" / "validated-specs"


def _parser_root(project_root: Path) -> Path | None:
    """The project's parser, else the one beside this CLI's own checkout (a
    temporary copy of the project has no node_modules of its own)."""
    cli_checkout = Path(__file__).resolve().parents[2]
    for folder in (project_root, *project_root.parents, cli_checkout):
        if (folder / _PARSER).is_file():
            return folder
    return None


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


if __name__ == "__main__":
    main()
