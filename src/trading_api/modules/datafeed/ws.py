"""WebSocket routes of the datafeed: the live bar and quotes.

``trading specs build`` turns each alias into a class in ``ws_generated/``.
Delivery: a slow client gets the newest state of each bar (keyed by its opening
time) and the newest quote of every symbol of its subscription (keyed by ``n``).
"""

from typing import Annotated, TypeAlias

from trading_api.models.bars import Bar, BarsSubscriptionRequest
from trading_api.models.datafeed import QuoteData, QuotesSubscriptionRequest
from trading_api.shared.ws import ConflateByKey, WsRouter

BarsRouter: TypeAlias = Annotated[
    WsRouter[BarsSubscriptionRequest, Bar], ConflateByKey("time")
]
QuotesRouter: TypeAlias = Annotated[
    WsRouter[QuotesSubscriptionRequest, QuoteData], ConflateByKey("n")
]
