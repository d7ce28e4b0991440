"""Domain errors of the broker; the REST layer maps each class to one status code."""


class BrokerError(Exception):
    """A request the broker refuses; the message says why and what to do."""


class NotFoundError(BrokerError):
    """No order or position with that id in this account (HTTP 404)."""


class ConflictError(BrokerError):
    """The order or position is in a state that forbids the request (HTTP 409)."""


class RuleViolationError(BrokerError):
    """The request breaks a business rule, such as a bracket on the wrong side."""


class OrderRejectedError(RuleViolationError):
    """The order was recorded as REJECTED (e.g. insufficient margin)."""

    def __init__(self, order_id: str, reason: str) -> None:
        """Keep the id of the rejected order next to the reason."""
        self.order_id = order_id
        super().__init__(f"order {order_id} rejected: {reason}")


class LimitError(ConflictError):
    """A configured limit (accounts, open orders) would be exceeded (HTTP 409)."""


class IdempotencyKeyReusedError(ConflictError):
    """An ``Idempotency-Key`` sent again with a different order (HTTP 409)."""


class StorageUnavailableError(BrokerError):
    """The change could not be stored, so it was not made (HTTP 503)."""
