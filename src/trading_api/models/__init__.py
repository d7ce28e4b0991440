"""Pydantic models shared across modules, one file per topic.

``common`` holds base classes and the error body, ``bars`` candles, ``datafeed``
symbols and quotes, ``broker`` orders, positions and accounts.
"""

__all__: list[str] = []
