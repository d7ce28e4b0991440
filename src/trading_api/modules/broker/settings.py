"""The broker's limits, read from the environment when the module is built.

Every limit bounds memory a client can make the server hold; past one, the
request is refused with 409 and a message naming the environment variable.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class BrokerSettings:
    """Limits of the broker.

    Attributes:
        max_accounts: Accounts stored in the database, counted there, so
            every instance together holds at most this many
            (``BROKER_MAX_ACCOUNTS``). An account comes into being with its
            first state-changing request; reading an unknown account creates
            nothing.
        max_open_orders: Working and inactive orders per account, bracket legs
            included (``BROKER_MAX_OPEN_ORDERS``).
        idempotency_keys: ``Idempotency-Key`` answers remembered per account,
            oldest forgotten first (``BROKER_IDEMPOTENCY_KEYS``).
    """

    max_accounts: int = 10_000
    max_open_orders: int = 500
    idempotency_keys: int = 1_000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "BrokerSettings":
        """Read the limits from ``environ``; unset or empty means the default.

        Raises:
            ValueError: a variable is set to something other than a positive
                integer; the message names it.
        """
        defaults = cls()
        values = {}
        for field, variable in (
            ("max_accounts", "BROKER_MAX_ACCOUNTS"),
            ("max_open_orders", "BROKER_MAX_OPEN_ORDERS"),
            ("idempotency_keys", "BROKER_IDEMPOTENCY_KEYS"),
        ):
            raw = environ.get(variable, "").strip()
            if not raw:
                values[field] = getattr(defaults, field)
                continue
            if not raw.isdigit() or int(raw) < 1:
                raise ValueError(f"{variable} must be a positive integer, got {raw!r}")
            values[field] = int(raw)
        return cls(**values)
