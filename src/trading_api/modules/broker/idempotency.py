"""``Idempotency-Key``: a retried order request gets its first answer again.

The first request with a key runs; its outcome (the order id, and the reason if
the order was recorded as rejected) is remembered with a fingerprint of the
request. A later request with the same key and the same order gets that outcome
back without placing anything; the same key with a different order is refused.
A request refused before anything was recorded (bad brackets, a limit) is not
remembered, so it can be corrected and retried under the same key, as Stripe
does. Keys are per account; the oldest are forgotten past a per-account limit.

Records are rows of ``broker__idempotency_keys`` (account, key, fingerprint,
order id, rejection), stored in the transaction of the order they answer.
"""

import hashlib
import json
from dataclasses import dataclass

from trading_api.models.broker import PreOrder
from trading_api.modules.broker.errors import IdempotencyKeyReusedError


@dataclass(frozen=True)
class Answer:
    """What a keyed request answered: its order and, if rejected, why."""

    fingerprint: str
    order_id: str
    rejection: str | None = None


def fingerprint(pre: PreOrder) -> str:
    """A digest of what the order asks for (unknown fields excluded)."""
    canonical = json.dumps(pre.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def replay(answer: Answer | None, key: str, print_: str) -> Answer | None:
    """``answer`` if it answers this request again; None for a new key.

    Raises:
        IdempotencyKeyReusedError: the key came with a different order.
    """
    if answer is not None and answer.fingerprint != print_:
        raise IdempotencyKeyReusedError(
            f"Idempotency-Key {key!r} was already used for a different order "
            f"(order {answer.order_id}); use a new key for a new order"
        )
    return answer
