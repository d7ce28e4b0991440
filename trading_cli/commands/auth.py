"""``trading auth``: development tokens from the built-in issuer.

Who owns which account is stored by the auth module, in the project's database
(``DATABASE_URL``, by default ``.run/trading.db``); the issuer's key and JWKS
live in ``.run/auth/``.
"""

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from trading_api.conventions import DEV_AUTH_DIR, RUN_DIR  # noqa: TID253 (standard library only)
from trading_cli.errors import UsageError
from trading_cli.project import Project, find_project

if TYPE_CHECKING:
    from trading_api.shared.auth import AuthSettings

app = typer.Typer(
    help="Access: mint development tokens. Who owns which account is stored in "
    "the project's database (DATABASE_URL); the development issuer's key and "
    "JWKS live in .run/auth/ (git-ignored).",
    no_args_is_help=True,
)


def _to_stderr(line: str) -> None:
    typer.echo(line, err=True)


def issuer_folder(project: Project) -> Path:
    """Where the project's development issuer keeps its key and accounts."""
    return project.root / RUN_DIR / DEV_AUTH_DIR


@app.command("token")
def token_command(
    user: Annotated[
        str,
        typer.Option(
            "--user", "-u", metavar="NAME", help="Whom the token speaks for (sub)."
        ),
    ],
    accounts: Annotated[
        list[str] | None,
        typer.Option(
            "--account",
            "-a",
            metavar="ID",
            help="An account the user owns from now on (repeatable). The token "
            "lists every account the user owns; an account of another user is "
            "refused.",
        ),
    ] = None,
    minutes: Annotated[
        int,
        typer.Option(
            "--minutes", min=1, max=7 * 24 * 60, help="Lifetime of the token."
        ),
    ] = 12 * 60,
) -> None:
    """Print a development token for USER: paste it into the docs page's
    Authorize button, or send it as 'Authorization: Bearer <token>'."""
    project = find_project()
    settings = dev_settings()
    owned = grant(project, user, accounts or [])
    from trading_api.shared.auth import DevIssuer

    token = DevIssuer(issuer_folder(project), settings).sign(
        user, owned, ttl_seconds=minutes * 60
    )
    typer.echo(token)
    if not owned:
        typer.echo(
            f"note: {user} owns no account yet; add one with --account ID", err=True
        )


def dev_settings() -> "AuthSettings":
    """The settings servers use, if they trust the development issuer.

    Raises:
        UsageError: ``AUTH_*`` is unusable, or ``AUTH_JWKS_URL`` names another
            issuer, whose servers would refuse a development token.
    """
    from trading_api.shared.auth import AuthSettings, AuthSettingsError

    try:
        settings = AuthSettings.from_env()
    except AuthSettingsError as exc:
        raise UsageError(str(exc)) from None
    if not settings.uses_dev_issuer:
        raise UsageError(
            "AUTH_JWKS_URL names another issuer, so servers would refuse a "
            "development token; unset it, or get a token from that issuer"
        )
    return settings


def grant(
    project: Project,
    user: str,
    accounts: list[str],
    echo: Callable[[str], None] = _to_stderr,
) -> list[str]:
    """Store that ``user`` owns ``accounts`` in the project's database; return
    every account the user owns.

    The auth module's tables are migrated first if they are behind, and grants
    an earlier version kept in ``.run/auth/accounts.json`` are imported once;
    each says so through ``echo`` (stderr by default).

    Raises:
        TradingError: a malformed name, another user's account (exit 2), or a
            database that cannot be reached; nothing is stored then.
    """
    from trading_cli.db import database_url, describe_transition

    url = database_url(project)
    project.activate()
    try:
        from trading_api.modules.auth.owners import grant_accounts
    except ModuleNotFoundError:
        raise UsageError(
            "this project has no auth module (src/trading_api/modules/auth), "
            "which stores who owns which account"
        ) from None
    done = grant_accounts(url, user, accounts, issuer_folder(project))
    if done.migrated.changed:
        echo(f"database: {describe_transition(done.migrated)}")
    for line in done.imported.lines():
        echo(line)
    return done.accounts


def dev_token_line(
    project: Project, echo: Callable[[str], None] = _to_stderr
) -> str | None:
    """The line ``trading dev`` prints: a token for the demo user, or None when
    ``AUTH_JWKS_URL`` names another issuer.

    The demo user's grant of the broker's default account is stored like any
    other (:func:`grant`, which reports through ``echo``); when someone else
    owns that account, the line says so instead of a token.
    """
    from trading_api.shared.auth import AuthSettings
    from trading_api.shared.auth._dev import DEV_ACCOUNT, DEV_USER, DevIssuer

    settings = AuthSettings.from_env()
    if not settings.uses_dev_issuer:
        return None
    if not (project.modules_dir / "auth").is_dir():
        owned = [DEV_ACCOUNT]  # nothing stores grants: the claim alone
    else:
        project.activate()
        from trading_api.modules.auth.owners import OwnershipError

        try:
            owned = grant(project, DEV_USER, [DEV_ACCOUNT], echo)
        except OwnershipError as exc:
            return f"no development token for {DEV_USER}: {exc}"
    token = DevIssuer(issuer_folder(project), settings).sign(DEV_USER, owned)
    return (
        f"development token ({DEV_USER}, owns {DEV_ACCOUNT}; Authorize in /docs, "
        f"or `trading auth token --user NAME`): {token}"
    )
