"""The ASGI entry point: ``uvicorn trading_api.main:app``.

Serves the modules named in ``ENABLED_MODULES`` (comma list; unset = all).
"""

from trading_api.app_factory import AppFactory
from trading_api.shared.settings import Settings

app = AppFactory().create_app(Settings.from_env().enabled_modules)
