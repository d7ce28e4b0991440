"""The spec validators, each in its own process running beside the build.

Node runs the official AsyncAPI parser (``@asyncapi/parser``, installed at the
project root by ``npm ci``) and a Python process openapi-spec-validator. A build
starts both before it imports the project, so their start-up overlaps rendering
the documents, and streams each document to them as soon as it is rendered.

A document a validator passed is remembered by the hash of its content and the
validator's version (outside the project, in the user's cache folder): unchanged
documents are not validated again, and when every committed spec is known valid
the processes start only if a document turns out new.
CI (``CI=true``) remembers nothing and validates everything.
"""

import hashlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from trading_cli.errors import CliError

ASYNCAPI_SCRIPT = Path(__file__).with_name("asyncapi_parser.mjs")
ASYNCAPI_MISSING = (
    "the AsyncAPI parser is not installed (needs Node.js >= 18 and `npm ci` at the "
    "project root); AsyncAPI validation skipped"
)
_PARSER = Path("node_modules") / "@asyncapi" / "parser" / "package.json"


NICENESS = 10
"""How much the OpenAPI validator process yields the CPU to the build."""


class ValidatorMissingError(CliError):
    """A validator is needed but could not start."""


class BatchValidator:
    """A process that validates documents streamed to it, one JSON document a
    line on stdin, and writes at the end, for each, a list of problems.

    Send each document as soon as it exists (:meth:`send`); a writer thread
    feeds the process, so validating overlaps building the next document.

    Attributes:
        identity: What the verdicts depend on (validator and its version); None
            when the validator is missing.
    """

    name = "validator"

    def __init__(self, command: list[str] | None, identity: str | None) -> None:
        self.identity = identity
        self._command = command
        self._cache = ValidationCache(identity)
        self._process: subprocess.Popen[str] | None = None
        self._errors: IO[bytes] | None = None
        self._queue: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._sent: list[tuple[Path, dict[str, Any]]] = []
        self._known: list[Path] = []

    def start(self) -> None:
        """Start the process now, so its start-up overlaps other work."""
        if self._process is not None or self._command is None:
            return
        # Closed in close(): the file outlives this call, a `with` cannot hold it.
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115
        self._process = subprocess.Popen(
            self._command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._errors,
            text=True,
            encoding="utf-8",
        )
        self._writer = threading.Thread(target=self._write, daemon=True)
        self._writer.start()

    def send(self, path: Path, document: dict[str, Any]) -> None:
        """Queue ``document`` (to be written to ``path``) unless it passed before."""
        if self._cache.knows(document):
            self._known.append(path)
            return
        self.start()
        self._sent.append((path, document))
        self._queue.put(document)

    def results(self) -> dict[Path, list[str]]:
        """The problems of every document sent; empty lists mean valid.

        Raises:
            ValidatorMissingError: a document needs the validator, which is missing.
            CliError: the validator crashed.
        """
        verdicts: dict[Path, list[str]] = {path: [] for path in self._known}
        if not self._sent:
            self.close()
            return verdicts
        if self._process is None:
            raise ValidatorMissingError(f"the {self.name} is not available")
        found = self._finish(self._process)
        for (path, document), problems in zip(self._sent, found, strict=True):
            verdicts[path] = problems
            if not problems:
                self._cache.remember(document)
        return verdicts

    def validate(
        self, documents: Mapping[Path, dict[str, Any]]
    ) -> dict[Path, list[str]]:
        """Send ``documents`` and return :meth:`results`."""
        for path, document in documents.items():
            self.send(path, document)
        return self.results()

    def close(self) -> None:
        """Stop the process if it is still running (not needed, or failed)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
        self._queue.put(None)
        if self._writer is not None:
            self._writer.join()
            self._writer = None
        if self._errors is not None:
            self._errors.close()
            self._errors = None

    def _write(self) -> None:
        process = self._process
        assert process is not None and process.stdin is not None
        try:
            while (document := self._queue.get()) is not None:
                process.stdin.write(json.dumps(document) + "\n")
                process.stdin.flush()
            process.stdin.close()
        except (OSError, ValueError):
            pass  # the process died; results() reports it

    def _finish(self, process: "subprocess.Popen[str]") -> list[list[str]]:
        self._queue.put(None)
        assert self._writer is not None and process.stdout is not None
        self._writer.join()
        stdout = process.stdout.read()
        process.wait()
        self._process = None
        if process.returncode != 0 or not stdout:
            assert self._errors is not None
            self._errors.seek(0)
            stderr = self._errors.read().decode("utf-8", "replace")
            self.close()
            raise CliError(f"the {self.name} failed: {_last_line(stderr)}")
        self.close()
        problems: list[list[str]] = json.loads(stdout)
        return problems


class AsyncApiParser(BatchValidator):
    """The official AsyncAPI parser under Node (see ``asyncapi_parser.mjs``)."""

    name = "AsyncAPI parser"

    def __init__(self, project_root: Path, *, include_warnings: bool = False) -> None:
        node = shutil.which("node")
        root = find_parser_root(project_root.resolve())
        if root is None:
            super().__init__(None, None)
            return
        version = json.loads((root / _PARSER).read_text(encoding="utf-8"))["version"]
        script = hashlib.sha256(ASYNCAPI_SCRIPT.read_bytes()).hexdigest()[:12]
        flags = ["--warnings"] if include_warnings else []
        command = (
            None if node is None else [node, str(ASYNCAPI_SCRIPT), str(root), *flags]
        )
        super().__init__(command, f"@asyncapi/parser {version} {script} {flags}")


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
    """Whether this runs in CI (the CI variable is set to anything), which
    validates everything and needs every tool."""
    return bool(os.environ.get("CI"))


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
    from trading_cli import finish, relax_collector

    relax_collector()
    # Started early so that its start-up overlaps the build's; while the build
    # imports and renders it has nothing to do yet, and the build, not this
    # process, is what the user waits for.
    os.nice(NICENESS)
    import openapi_spec_validator.shortcuts  # noqa: F401 - load before input arrives

    problems = [
        openapi_problems(json.loads(line)) for line in sys.stdin if line.strip()
    ]
    json.dump(problems, sys.stdout)
    finish(0)  # the build reads the verdicts to the end of this process's output


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trading-workbench" / "validated-specs"


def find_parser_root(project_root: Path) -> Path | None:
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
