"""``trading dev``: serve the modules, reload on every save, regenerate on the way."""

import contextlib
import errno
import socket
import sys
import time

import typer

from trading_cli.errors import CliError, UsageError
from trading_cli.project import Project, find_project

BACKLOG = 2048


def dev_command(
    modules: str | None = typer.Option(
        None,
        "--modules",
        "-m",
        metavar="A,B",
        help="Serve only these modules (a comma list); core is always served. "
        "Default: every module.",
    ),
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        metavar="ADDRESS",
        help="Address to listen on. The default keeps the server private to this "
        "machine; 0.0.0.0 opens it to the network.",
    ),
    port: int = typer.Option(
        8000,
        "--port",
        metavar="PORT",
        min=0,
        max=65535,
        help="Port to listen on; 0 picks a free one (printed when ready).",
    ),
    reload: bool = typer.Option(
        True,
        "--reload/--no-reload",
        help="Watch src/trading_api/ and templates/ and reload on every save "
        "(default), or just serve.",
    ),
    swap: bool = typer.Option(
        True,
        "--swap/--no-swap",
        help="Replace only the edited module in the running server when a save "
        "stays inside one module (default), or start a new server on every save.",
    ),
    build: bool = typer.Option(
        True,
        "--build/--no-build",
        help="Rebuild the touched modules' specs and clients once no file has "
        "changed for a second (default), or leave them as they are; WS routers "
        "are regenerated either way (the server needs them).",
    ),
    verbose: bool = typer.Option(
        False,
        "--verbose",
        "-v",
        help="After each reload line, print where its time went: the watcher, "
        "the relay, the WS routers, the import, the build, the start-up and "
        "what ran after the new code served.",
    ),
) -> None:
    """Run the dev server with hot reload.

    On each save: regenerate the WS routers of the modules you touched; a save
    inside one module swaps that module in the running server (other modules'
    WebSockets stay open, its own close with code 1012), any other save starts
    a fresh server on the same socket (no refused connections) and stops the old
    one; then rebuild those modules' specs and clients. One line per reload says
    its path (swap or full), what changed, what was regenerated and how long it
    took from save to serving. A syntax or import error is printed with
    file:line: a swapped module keeps its old code serving, a failed full reload
    answers 503, until the next good save. Ctrl-C stops everything.
    """
    started = time.time()
    project = find_project()
    names = parse_modules(modules)
    check_modules(project, names)
    from trading_cli.db import upgrade_for_serving

    upgrade_for_serving(
        project, names, lambda line: _emit(f"trading dev: {line}", False)
    )
    listener = listen(host, port)
    url = _url(listener)
    from trading_cli.commands.auth import dev_token_line

    token_line = dev_token_line(
        project, lambda line: _emit(f"trading dev: {line}", False)
    )
    if token_line is not None:
        _emit(f"trading dev: {token_line}", False)
    try:
        if reload:
            _run_loop(project, listener, url, names, swap, build, verbose)
        else:
            _serve_once(project, listener, url, names, started)
    finally:
        listener.close()


def parse_modules(value: str | None) -> list[str] | None:
    """``"broker, datafeed"`` -> ``["broker", "datafeed"]``; empty -> None (all)."""
    if value is None:
        return None
    names = list(dict.fromkeys(name.strip() for name in value.split(",")))
    names = [name for name in names if name]
    return names or None


def check_modules(project: Project, names: list[str] | None) -> None:
    """Refuse module names the project does not have, before anything starts.

    Looks at the module folders only (the project's conventions): ``trading dev``
    never imports the code it serves.

    Raises:
        UnknownModuleError: naming every unknown module and listing the known
            ones (exit code 2).
    """
    from trading_api.conventions import module_names
    from trading_api.shared.errors import UnknownModuleError

    known = module_names(project.modules_dir)
    unknown = [name for name in names or [] if name not in known]
    if unknown:
        raise UnknownModuleError(unknown, known)


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, inheritable by the server processes.

    Raises:
        UsageError: ``host`` is not an address of this machine.
        CliError: the port is taken or not allowed.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise UsageError(
            f"--host {host!r} is not a usable address ({exc.strerror}); "
            "use an IP address such as 127.0.0.1"
        ) from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise _bind_error(host, port, exc) from None
    sock.set_inheritable(True)
    return sock


def _bind_error(host: str, port: int, exc: OSError) -> CliError:
    if exc.errno == errno.EADDRINUSE:
        return CliError(
            f"port {port} on {host} is already in use; stop what uses it or pick "
            "another with --port (0 picks a free one)"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return UsageError(
            f"--host {host} is not an address of this machine; use 127.0.0.1"
        )
    if exc.errno == errno.EACCES:
        return CliError(f"port {port} needs privileges; use a port above 1023")
    return CliError(f"cannot listen on {host}:{port}: {exc.strerror}")


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _emit(text: str, error: bool) -> None:
    typer.echo(text, err=error)


def _run_loop(
    project: Project,
    listener: socket.socket,
    url: str,
    names: list[str] | None,
    swap: bool,
    build: bool,
    verbose: bool,
) -> None:
    import asyncio

    from trading_cli.dev.supervisor import DevLoop

    if not sys.platform.startswith("linux"):
        raise CliError(
            "the reloader forks its servers, which needs Linux (or WSL); "
            "run `trading dev --no-reload` here"
        )
    project.activate()
    unbuilt = "" if build else " (specs and clients are not rebuilt: --no-build)"
    _emit(
        f"trading dev: starting on {url}, watching {_watched(project)}{unbuilt}",
        False,
    )
    loop = DevLoop(
        project, listener, url, names, _emit, swap=swap, build=build, verbose=verbose
    )
    code = asyncio.run(loop.run())
    if code:
        raise typer.Exit(code)
    _emit("trading dev: stopped", False)


def _watched(project: Project) -> str:
    folders = [project.package_dir, project.templates_dir]
    return " and ".join(
        str(folder.relative_to(project.root)) for folder in folders if folder.is_dir()
    )


def _serve_once(
    project: Project,
    listener: socket.socket,
    url: str,
    names: list[str] | None,
    started: float,
) -> None:
    from trading_cli.dev import report
    from trading_cli.dev.failure import describe_failure
    from trading_cli.dev.server import DevApp, load_app, run_server

    loaded = load_app(project, names, None)
    if loaded.failure is not None:
        raise CliError(f"the app failed to load:\n{loaded.failure.block}")
    app = DevApp(loaded.app, None, lambda exc: describe_failure(exc, project.root))

    def ready() -> None:
        if app.failure is None:
            _emit(report.ready_line(url, loaded.modules, time.time() - started), False)

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: a clean stop
        run_server(app, listener, ready, exit_on_failure=True)
    if app.failure is not None:
        raise CliError(f"the app failed to start:\n{app.failure.block}")
