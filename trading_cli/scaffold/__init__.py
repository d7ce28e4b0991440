"""Scaffolding: render ``templates/module/`` into modules, update and remove them.

The library behind ``trading new-module``, ``update-module`` and ``remove-module``.
Every operation is all or nothing: a failure leaves the tree as it was.
"""

from trading_cli.scaffold.answers import ModuleAnswers, ModuleRecord, read_record
from trading_cli.scaffold.create import ScaffoldResult, scaffold_module
from trading_cli.scaffold.remove import Removal, plan_removal, remove_module
from trading_cli.scaffold.update import ModuleUpdate, update_modules

__all__ = [
    "ModuleAnswers",
    "ModuleRecord",
    "ModuleUpdate",
    "Removal",
    "ScaffoldResult",
    "plan_removal",
    "read_record",
    "remove_module",
    "scaffold_module",
    "update_modules",
]
