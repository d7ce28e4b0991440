"""``trading auth token``: development tokens minted in process (CliRunner), the
grants stored in the project's database (each test's own ``DATABASE_URL``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest

Cli = Callable[..., Any]
CHECKOUT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The smallest checkout ``trading`` recognises."""
    # The auth module stores the grants (the runtime in use is this checkout's).
    (tmp_path / "src" / "trading_api" / "modules" / "auth").mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    return tmp_path


def claims_of(token: str, project: Path) -> dict[str, object]:
    """Verify ``token`` against the JWKS the command published in the project."""
    jwks = json.loads((project / ".run" / "auth" / "jwks.json").read_text())
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]]
    return jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience="trading-api",
        issuer="trading-dev",
    )


def test_token_speaks_for_the_user_and_the_accounts_they_own(
    cli: Cli, project: Path
) -> None:
    first = cli(project, "auth", "token", "--user", "alice", "--account", "ALICE-1")
    second = cli(
        project, "auth", "token", "-u", "alice", "-a", "ALICE-2", "--minutes", "5"
    )
    assert (first.code, second.code) == (0, 0)
    claims = claims_of(second.out.strip(), project)
    assert (claims["sub"], claims["accounts"]) == ("alice", ["ALICE-1", "ALICE-2"])
    assert claims["exp"] == claims["iat"] + 300  # type: ignore[operator]


def accounts_of(cli: Cli, project: Path, user: str, **env: str) -> object:
    """The accounts the next token of ``user`` lists (granting nothing)."""
    outcome = cli(project, "auth", "token", "--user", user, env=env)
    assert outcome.code == 0, outcome.err
    return claims_of(outcome.out.strip(), project)["accounts"]


def test_an_account_of_another_user_is_refused_and_nothing_changes(
    cli: Cli, project: Path
) -> None:
    cli(project, "auth", "token", "--user", "alice", "--account", "ALICE-1")
    outcome = cli(project, "auth", "token", "-u", "bob", "-a", "BOB-1", "-a", "ALICE-1")
    assert outcome.code == 2
    assert outcome.out == ""
    assert outcome.err == (
        "error: account 'ALICE-1' belongs to user 'alice'; give another account id\n"
    )
    # All or nothing: BOB-1, named in the same command, was not granted either.
    assert accounts_of(cli, project, "bob") == []
    assert accounts_of(cli, project, "alice") == ["ALICE-1"]


def test_grants_are_stored_in_the_database_and_outlive_the_issuer_folder(
    cli: Cli, project: Path, tmp_path: Path
) -> None:
    database = {"DATABASE_URL": f"sqlite:///{tmp_path / 'fresh' / 'trading.db'}"}
    first = cli(project, "auth", "token", "-u", "alice", "-a", "ALICE-1", env=database)
    # A database the auth module never used: its tables are made first.
    assert first.code == 0
    assert first.err == "database: auth: base -> 0001\n"
    # The issuer's key goes (a new key signs from now on); the grant stays.
    for name in ("dev-key.pem", "jwks.json"):
        (project / ".run" / "auth" / name).unlink()
    assert accounts_of(cli, project, "alice", **database) == ["ALICE-1"]
    assert accounts_of(cli, project, "alice") == []  # another database: not there


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "al ice"], "user name 'al ice' must be"),
        (["--user", "alice", "--account", "A/1"], "account id 'A/1' is not"),
    ],
)
def test_malformed_names_are_usage_errors(
    cli: Cli, project: Path, args: list[str], message: str
) -> None:
    outcome = cli(project, "auth", "token", *args)
    assert outcome.code == 2
    assert message in outcome.err
    assert outcome.out == ""


def test_a_user_without_accounts_gets_a_token_and_a_note(
    cli: Cli, project: Path
) -> None:
    outcome = cli(project, "auth", "token", "--user", "carol")
    assert outcome.code == 0
    assert claims_of(outcome.out.strip(), project)["accounts"] == []
    assert "carol owns no account yet" in outcome.err


def test_a_real_issuer_configured_refuses_to_mint(cli: Cli, project: Path) -> None:
    outcome = cli(
        project,
        "auth",
        "token",
        "--user",
        "alice",
        env={"AUTH_JWKS_URL": "https://login.example.com/jwks.json"},
    )
    assert outcome.code == 2
    assert "AUTH_JWKS_URL names another issuer" in outcome.err


LEGACY = {"alice": ["ALICE-1", "SHARED-1"], "bob": ["BOB-1", "SHARED-1"]}
"""What the earlier version could leave: SHARED-1 given to two users by a race."""


def test_an_earlier_accounts_file_is_imported_once_then_set_aside(
    cli: Cli, project: Path
) -> None:
    folder = project / ".run" / "auth"
    folder.mkdir(parents=True)
    text = json.dumps(LEGACY, indent=2, sort_keys=True) + "\n"
    (folder / "accounts.json").write_text(text)
    first = cli(project, "auth", "token", "--user", "carol", "--account", "CAROL-1")
    assert first.code == 0
    assert first.err.splitlines() == [
        "imported 3 account grant(s) from the earlier accounts.json; it is now "
        "accounts.json.imported",
        "warning: accounts.json also gave 'SHARED-1' to 'bob', but it belongs to "
        "'alice'; 'bob' does not own it",
    ]
    assert claims_of(first.out.strip(), project)["accounts"] == ["CAROL-1"]
    assert not (folder / "accounts.json").exists()
    assert (folder / "accounts.json.imported").read_text() == text
    assert accounts_of(cli, project, "alice") == ["ALICE-1", "SHARED-1"]
    assert accounts_of(cli, project, "bob") == ["BOB-1"]
    again = cli(project, "auth", "token", "--user", "bob", "--account", "SHARED-1")
    assert again.code == 2
    assert "belongs to user 'alice'" in again.err


def test_an_unreadable_accounts_file_stops_the_command_and_stays(
    cli: Cli, project: Path
) -> None:
    folder = project / ".run" / "auth"
    folder.mkdir(parents=True)
    (folder / "accounts.json").write_text('{"alice": ["ALICE-1"]')
    outcome = cli(project, "auth", "token", "--user", "alice", "--account", "A-2")
    assert outcome.code == 1
    assert outcome.out == ""
    assert outcome.err.startswith(f"error: {folder / 'accounts.json'} is not the ")
    assert "fix it, or move it away" in outcome.err
    assert (folder / "accounts.json").read_text() == '{"alice": ["ALICE-1"]'
    (folder / "accounts.json").unlink()
    assert accounts_of(cli, project, "alice") == []


def test_db_status_lists_the_auth_tables_the_token_command_made(
    cli: Cli, project: Path, tmp_path: Path
) -> None:
    database = {"DATABASE_URL": f"sqlite:///{tmp_path / 'status.db'}"}
    minted = cli(project, "auth", "token", "-u", "alice", "-a", "A-1", env=database)
    assert minted.code == 0
    status = cli(CHECKOUT, "db", "status", "--json", env=database)
    assert status.code == 0
    [auth] = [row for row in json.loads(status.out) if row["module"] == "auth"]
    assert auth == {
        "module": "auth",
        "current": "0001",
        "head": "0001",
        "state": "up to date",
    }


def test_dev_records_demo_as_the_owner_of_the_default_account(
    cli: Cli, project: Path
) -> None:
    from trading_cli.commands.auth import dev_token_line
    from trading_cli.project import Project

    said: list[str] = []
    line = dev_token_line(Project(project), said.append)
    assert line is not None and line.startswith("development token (demo, owns DEMO-1")
    assert claims_of(line.split()[-1], project)["accounts"] == ["DEMO-1"]
    assert said == []  # the test's database has the auth tables already
    taken = cli(project, "auth", "token", "--user", "bob", "--account", "DEMO-1")
    assert (taken.code, taken.err) == (
        2,
        "error: account 'DEMO-1' belongs to user 'demo'; give another account id\n",
    )


def test_dev_says_so_when_someone_else_owns_the_default_account(
    cli: Cli, project: Path
) -> None:
    from trading_cli.commands.auth import dev_token_line
    from trading_cli.project import Project

    assert cli(project, "auth", "token", "-u", "alice", "-a", "DEMO-1").code == 0
    assert dev_token_line(Project(project)) == (
        "no development token for demo: account 'DEMO-1' belongs to user 'alice'; "
        "give another account id"
    )
