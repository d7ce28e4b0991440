"""The broker's own simulated prices: a seeded random walk per symbol.

Independent of the datafeed on purpose (modules do not import each other). Each
symbol gets its own ``random.Random`` seeded by ``(seed, symbol)`` and a starting
price derived from a hash of its name, so a run is reproducible for a seed and a
sequence of calls.
"""

import hashlib
import math
import random

MIN_PRICE = 0.01


def starting_price(symbol: str) -> float:
    """A stable starting price between 20 and 500 for ``symbol``."""
    digest = hashlib.blake2b(symbol.encode(), digest_size=8).digest()
    return 20 + int.from_bytes(digest, "big") % 48_000 / 100


class PriceSimulator:
    """Current prices of every symbol the broker has seen, moved by :meth:`step`.

    The walk runs unrounded, so small steps of cheap symbols accumulate; prices
    are read rounded to the cent.
    """

    def __init__(self, seed: int = 7, volatility_per_second: float = 1e-4) -> None:
        """Create a simulator; symbols appear on first use."""
        self._seed = seed
        self._volatility = volatility_per_second
        self._prices: dict[str, float] = {}
        self._randoms: dict[str, random.Random] = {}

    def price(self, symbol: str) -> float:
        """The current price of ``symbol``."""
        if symbol not in self._prices:
            self._prices[symbol] = starting_price(symbol)
            self._randoms[symbol] = random.Random(f"{self._seed}:{symbol}")
        return round(self._prices[symbol], 2)

    def set_price(self, symbol: str, price: float) -> None:
        """Force the price of ``symbol`` (tests and what-if scenarios)."""
        self.price(symbol)
        self._prices[symbol] = round(max(MIN_PRICE, price), 2)

    def step(self, seconds: float) -> None:
        """Move every known price by a log-normal step of ``seconds`` duration."""
        if seconds <= 0:
            return
        sigma = self._volatility * math.sqrt(seconds)
        for symbol, rng in self._randoms.items():
            moved = self._prices[symbol] * math.exp(sigma * rng.gauss(0.0, 1.0))
            self._prices[symbol] = max(MIN_PRICE, moved)

    def symbols(self) -> list[str]:
        """Every symbol that has a price."""
        return list(self._prices)
