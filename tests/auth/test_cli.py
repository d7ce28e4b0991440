"""``trading auth token``: development tokens minted in process (CliRunner)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest

Cli = Callable[..., Any]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The smallest checkout ``trading`` recognises."""
    (tmp_path / "src" / "trading_api" / "modules").mkdir(parents=True)
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


def test_an_account_of_another_user_is_refused_and_nothing_changes(
    cli: Cli, project: Path
) -> None:
    cli(project, "auth", "token", "--user", "alice", "--account", "ALICE-1")
    accounts = project / ".run" / "auth" / "accounts.json"
    before = accounts.read_text()
    outcome = cli(project, "auth", "token", "--user", "bob", "--account", "ALICE-1")
    assert outcome.code == 1
    assert outcome.out == ""
    assert "belongs to user 'alice'" in outcome.err
    assert accounts.read_text() == before


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
    assert not (project / ".run" / "auth" / "accounts.json").exists()


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
