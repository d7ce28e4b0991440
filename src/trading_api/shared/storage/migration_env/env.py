"""The Alembic environment shared by every module's migrations.

``trading_api.shared.storage.migrations`` runs Alembic with the module, its
version table and an open connection in ``config.attributes``; this file only
hands over to it.
"""

from alembic import context

from trading_api.shared.storage.migrations import run_environment

run_environment(context)
