"""``trading auth``: development tokens from the built-in issuer."""

from pathlib import Path
from typing import Annotated

import typer

from trading_cli.errors import UsageError
from trading_cli.project import Project, find_project

app = typer.Typer(
    help="Access: mint development tokens. The development issuer's key, its "
    "JWKS and who owns which account live in .run/auth/ (git-ignored).",
    no_args_is_help=True,
)


def issuer_folder(project: Project) -> Path:
    """Where the project's development issuer keeps its key and accounts."""
    return project.root / ".run" / "auth"


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
    from trading_api.shared.auth import AuthSettings, AuthSettingsError, DevIssuer

    project = find_project()
    try:
        settings = AuthSettings.from_env()
    except AuthSettingsError as exc:
        raise UsageError(str(exc)) from None
    if not settings.uses_dev_issuer:
        raise UsageError(
            "AUTH_JWKS_URL names another issuer, so servers would refuse a "
            "development token; unset it, or get a token from that issuer"
        )
    issuer = DevIssuer(issuer_folder(project), settings)
    token = issuer.mint(user, accounts or [], ttl_seconds=minutes * 60)
    owned = issuer.accounts().get(user, [])
    typer.echo(token)
    if not owned:
        typer.echo(
            f"note: {user} owns no account yet; add one with --account ID", err=True
        )


def dev_token_line(project: Project) -> str | None:
    """The line ``trading dev`` prints: a token for the demo user, or None when
    ``AUTH_JWKS_URL`` names another issuer."""
    from trading_api.shared.auth import AuthSettings
    from trading_api.shared.auth._dev import DEV_ACCOUNT, DEV_USER, DevIssuer

    settings = AuthSettings.from_env()
    if not settings.uses_dev_issuer:
        return None
    token = DevIssuer(issuer_folder(project), settings).mint(DEV_USER, [DEV_ACCOUNT])
    return (
        f"development token ({DEV_USER}, owns {DEV_ACCOUNT}; Authorize in /docs, "
        f"or `trading auth token --user NAME`): {token}"
    )
