"""Rendering the module template in a process of its own.

``new-module`` has two slow starts in a row: copier (its import is most of a
render) and the runtime it must import to build the new module's documents
(FastAPI, SQLAlchemy, the shared code). Rendering in a child process lets the
command import the runtime meanwhile, on the other core.

The child is this module run as a script: it reads one request (JSON, its
only argument), renders with :meth:`ModuleTemplate.render`, and writes one JSON line on
stdout: ``{"ok": true}`` or ``{"error": <ErrorReport>}``. It writes nothing but
the staging folder it is given, and stops by itself if its parent dies, so a
``kill -9`` of the command leaves only what the next command rolls back.
"""

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import Any

from trading_cli import finish, relax_collector
from trading_cli.errors import CliError, TradingError
from trading_cli.project import Project
from trading_cli.scaffold.answers import TEMPLATE_SRC, ModuleAnswers

PARENT_CHECK_SECONDS = 0.05
"""How often the child looks whether the command that started it still runs."""


class RenderProcess:
    """A render of the module template running in a child process.

    Use as a context manager; :meth:`wait` returns once the module is rendered
    into ``dest`` and raises what the render raised. Leaving the context
    before that kills the child.
    """

    def __init__(
        self, project: Project, answers: ModuleAnswers, dest: Path, commit: str | None
    ) -> None:
        request = {
            "project": str(project.root),
            "answers": asdict(answers),
            "dest": str(dest),
            "commit": commit,
        }
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__, json.dumps(request)],
            # `python -m` looks in its working folder first: the one holding
            # this very trading_cli, whatever folder the command runs in.
            cwd=Path(__file__).resolve().parents[2],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def __enter__(self) -> "RenderProcess":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.communicate()

    def wait(self) -> None:
        """Wait for the render to end.

        Raises:
            TradingError: what the render raised (a refused answer is a usage
                error, exit 2), or a crash of the child, in one line.
        """
        out, err = self._process.communicate()
        for line in out.splitlines():
            reply = json.loads(line)
            if "error" in reply:
                from trading_api.shared.errors import ErrorReport

                raise ErrorReport.from_dict(reply["error"]).to_error()
            if reply.get("ok") is True:
                return
        last = [line for line in err.strip().splitlines() if line.strip()]
        raise CliError(
            f"rendering {TEMPLATE_SRC} failed: "
            f"{last[-1] if last else f'exit {self._process.returncode}'}; "
            "fix the template and retry"
        )


def main() -> None:
    """The child: render the request given as argument, reply on stdout."""
    relax_collector()
    request: dict[str, Any] = json.loads(sys.argv[1])
    _stop_with_parent(os.getppid())
    from trading_cli.journal import failpoint
    from trading_cli.scaffold.template import ModuleTemplate

    failpoint("new-module:rendering")

    try:
        ModuleTemplate(Project(Path(request["project"]))).render(
            ModuleAnswers(**request["answers"]),
            Path(request["dest"]),
            commit=request["commit"],
        )
    except TradingError as exc:
        reply: dict[str, Any] = {"error": exc.report().as_dict()}
    else:
        reply = {"ok": True}
    sys.stdout.write(json.dumps(reply) + "\n")
    finish(0)  # the command reads the reply to the end of this process's output


def _stop_with_parent(parent: int) -> None:
    """End this process as soon as ``parent`` is gone (it was killed)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


if __name__ == "__main__":
    main()
