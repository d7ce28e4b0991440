"""WebSocket routes of the datafeed: the live bar and quotes.

``trading specs build`` turns each alias into a class in ``ws_generated/``.
"""

from typing import TypeAlias

from trading_api.models.bars import Bar, BarsSubscriptionRequest
from trading_api.models.datafeed import QuoteData, QuotesSubscriptionRequest
from trading_api.shared.ws import WsRouter

BarsRouter: TypeAlias = WsRouter[BarsSubscriptionRequest, Bar]
QuotesRouter: TypeAlias = WsRouter[QuotesSubscriptionRequest, QuoteData]
