"""Whether the database's schema is the one this code expects."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor


def migrations_pending(alias: str = DEFAULT_DB_ALIAS) -> list[str]:
    """The migrations of this code not applied to the database (``app.name``), in the order they would run."""
    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
