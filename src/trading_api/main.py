"""The ASGI entry point: ``uvicorn trading_api.main:app``.

Serves the modules named in ``ENABLED_MODULES`` (comma list; unset = all). A
configuration problem (an unknown module, a module that fails to import, stale
generated code) stops the server with one line that says how to fix it, instead
of a traceback.
"""

from trading_api.app_factory import AppFactory, freeze_for_serving
from trading_api.shared.errors import TradingError
from trading_api.shared.settings import Settings

try:
    app = AppFactory().create_app(Settings.from_env().enabled_modules)
except TradingError as exc:
    raise SystemExit(f"error: {exc}") from None
freeze_for_serving()
