"""Generators the CLI runs: WS routers, specs, clients.

Each generator returns a :class:`BuildResult`; with ``check=True`` it writes nothing
and reports, per stale file, a unified diff against what it would write.
"""

from trading_cli.build.result import BuildResult

__all__ = ["BuildResult"]
