"""Who is calling: the verified identity a route receives."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class AuthError(Exception):
    """A request's credentials are missing or not acceptable (HTTP 401).

    Attributes:
        reason: What is wrong, for the client (``token expired``).
        missing: True when no token was presented at all.
    """

    def __init__(self, reason: str, *, missing: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.missing = missing


@dataclass(frozen=True)
class Principal:
    """The user a verified token speaks for.

    Attributes:
        user: The token's subject (``sub``).
        accounts: The accounts the user owns (the accounts claim).
        expires_at: When the token expires, in UNIX seconds.
        claims: Every claim of the token.
    """

    user: str
    accounts: frozenset[str] = frozenset()
    expires_at: float = float("inf")
    claims: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def owns(self, account_id: str) -> bool:
        """Whether ``account_id`` is one of the user's accounts."""
        return account_id in self.accounts
