"""Trading API: a modular FastAPI backend for a trading platform.

Importing this package is cheap and side-effect free: modules are discovered and
imported only when :class:`trading_api.app_factory.AppFactory` builds an app.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
