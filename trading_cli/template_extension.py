"""The project's conventions as Jinja filters, for the module template.

``templates/module/copier.yml`` loads this extension (``_jinja_extensions``), so
its validators and derived answers come from :mod:`trading_api.conventions`
instead of a copy of the rules written in Jinja:

- ``name | module_name_problem``: why the name cannot be a new module, or ``""``;
- ``name | module_package``: the snake_case package (``market_data``);
- ``name | module_pascal``: the PascalCase stem of its class and schemas;
- ``API_PREFIX``: where modules are mounted (``/api/v1``).

Copier imports it while rendering; the CLI never imports it at start-up.
"""

from jinja2 import Environment  # noqa: TID253 (only copier imports this file)
from jinja2.ext import Extension  # noqa: TID253

from trading_api.conventions import (  # noqa: TID253
    API_PREFIX,
    new_module_problem,
    package_for,
    pascal_for,
)


def module_name_problem(name: object) -> str:
    """The validator's message for a new module name; empty when it is valid."""
    return new_module_problem(str(name)) or ""


class ConventionsExtension(Extension):
    """Adds the ``module_*`` filters to copier's Jinja environment."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["module_name_problem"] = module_name_problem
        environment.filters["module_package"] = package_for
        environment.filters["module_pascal"] = pascal_for
        environment.globals["API_PREFIX"] = API_PREFIX
