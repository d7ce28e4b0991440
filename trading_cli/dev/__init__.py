"""``trading dev``: the dev server with its own watcher, reloader and generators.

Processes, and why:

* ``trading dev`` itself (:mod:`~trading_cli.dev.supervisor`) holds the listening
  socket, watches ``src/trading_api/`` and ``templates/`` with watchfiles and decides
  what each burst of edits needs (:mod:`~trading_cli.dev.changes`). It never imports
  the project's code, so nothing it does is based on stale modules.
* The zygote (:mod:`~trading_cli.dev.zygote`) has fastapi, pydantic and uvicorn
  imported; its spawner has the project's shared code imported too, and forks per
  reload a server that regenerates the touched modules' WS routers, imports the
  modules fresh and accepts on the shared socket (:mod:`~trading_cli.dev.server`),
  then a low-priority build of their specs and clients
  (:mod:`~trading_cli.dev.builder`). An edit of the shared code replaces the
  spawner.
* The old server stops accepting as soon as the new one is up, so clients never
  see a refused connection, and a reload costs a fork and the modules' imports
  rather than a cold Python start.
* An edit confined to one module's package takes a shorter path: the running
  server replaces that module alone (:mod:`~trading_cli.dev.swap`), on a
  ``Swap`` order sent straight to the server on the control channel it handed
  over with its ``Serving`` report; other modules' WebSocket connections stay
  open.

Every message between these processes is a typed value of
:mod:`~trading_cli.dev.channel`.
"""

from trading_cli.dev.changes import (
    ChangeClassifier,
    ChangeSet,
    ContentIndex,
    WatchFilter,
)
from trading_cli.dev.loop_guard import LoopGuard, Verdict

__all__ = [
    "ChangeClassifier",
    "ChangeSet",
    "ContentIndex",
    "LoopGuard",
    "Verdict",
    "WatchFilter",
]
