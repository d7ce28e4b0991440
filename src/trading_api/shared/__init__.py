"""Infrastructure shared by every module: contract, discovery, specs, WebSocket.

Nothing here imports a feature module.
"""

from trading_api.shared.errors import (
    GeneratedCodeError,
    ModuleDiscoveryError,
    SpecConflictError,
    TradingApiError,
    UnknownModuleError,
)
from trading_api.shared.module_interface import API_PREFIX, Module, ModuleInfo
from trading_api.shared.module_registry import ModuleEntry, ModuleRegistry

__all__ = [
    "API_PREFIX",
    "GeneratedCodeError",
    "Module",
    "ModuleDiscoveryError",
    "ModuleEntry",
    "ModuleInfo",
    "ModuleRegistry",
    "SpecConflictError",
    "TradingApiError",
    "UnknownModuleError",
]
