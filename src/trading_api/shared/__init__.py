"""Infrastructure shared by every module: contract, discovery, specs, WebSocket.

Nothing here imports a feature module. The names below are loaded on first
access, so ``import trading_api.shared.errors`` (or anything light) does not
pull in FastAPI.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trading_api.conventions import API_PREFIX
    from trading_api.shared.errors import (
        GeneratedCodeError,
        ModuleDiscoveryError,
        SpecConflictError,
        TradingError,
        UnknownModuleError,
    )
    from trading_api.shared.module_interface import Module, ModuleInfo
    from trading_api.shared.module_registry import ModuleEntry, ModuleRegistry

_LOCATIONS = {
    "API_PREFIX": "trading_api.conventions",
    "GeneratedCodeError": "trading_api.shared.errors",
    "Module": "trading_api.shared.module_interface",
    "ModuleDiscoveryError": "trading_api.shared.errors",
    "ModuleEntry": "trading_api.shared.module_registry",
    "ModuleInfo": "trading_api.shared.module_interface",
    "ModuleRegistry": "trading_api.shared.module_registry",
    "SpecConflictError": "trading_api.shared.errors",
    "TradingError": "trading_api.shared.errors",
    "UnknownModuleError": "trading_api.shared.errors",
}

__all__ = [
    "API_PREFIX",
    "GeneratedCodeError",
    "Module",
    "ModuleDiscoveryError",
    "ModuleEntry",
    "ModuleInfo",
    "ModuleRegistry",
    "SpecConflictError",
    "TradingError",
    "UnknownModuleError",
]


def __getattr__(name: str) -> Any:
    location = _LOCATIONS.get(name)
    if location is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(location), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
