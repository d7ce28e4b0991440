"""``Idempotency-Key``: a retried order request gets its first answer again.

The first request with a key runs; its outcome (the order id, and the reason if
the order was recorded as rejected) is remembered with a fingerprint of the
request. A later request with the same key and the same order gets that outcome
back without placing anything; the same key with a different order is refused.
A request refused before anything was recorded (bad brackets, a limit) is not
remembered, so it can be corrected and retried under the same key, as Stripe
does. Keys are per account; the oldest are forgotten past a per-account limit.

Records are plain rows (account, key, fingerprint, order id, rejection) so they
can be stored with the orders they point to.
"""

import hashlib
import json
from collections import OrderedDict
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


class IdempotencyStore:
    """Remembered answers per account, at most ``capacity`` each."""

    def __init__(self, capacity: int) -> None:
        """Remember up to ``capacity`` keys per account."""
        self._capacity = capacity
        self._answers: dict[str, OrderedDict[str, Answer]] = {}

    def recall(self, account_id: str, key: str, print_: str) -> Answer | None:
        """The answer stored under ``key``, or None if the key is new.

        Raises:
            IdempotencyKeyReusedError: the key came with a different order.
        """
        answer = self._answers.get(account_id, OrderedDict()).get(key)
        if answer is not None and answer.fingerprint != print_:
            raise IdempotencyKeyReusedError(
                f"Idempotency-Key {key!r} was already used for a different order "
                f"(order {answer.order_id}); use a new key for a new order"
            )
        return answer

    def remember(self, account_id: str, key: str, answer: Answer) -> None:
        """Store ``answer`` under ``key``, forgetting the account's oldest if full."""
        answers = self._answers.setdefault(account_id, OrderedDict())
        answers[key] = answer
        while len(answers) > self._capacity:
            answers.popitem(last=False)
