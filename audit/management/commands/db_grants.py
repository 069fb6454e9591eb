"""The privileges of the application's own PostgreSQL role: what it needs, and nothing more.

Two roles in production: the *owner* runs ``manage.py migrate`` (it owns the tables, can alter them
and disable their triggers); the *application* role is what the web processes and the Celery
workers connect as. The application may read and write the product's tables, but on the audit
trail it may only read and append — no UPDATE or DELETE of events, no TRUNCATE of anything, no
DDL (it owns nothing, so it cannot drop a trigger), no ``session_replication_role`` (not a
superuser). Print the statements, review them, run them as the owner after each migration::

    manage.py db_grants --role firma_app | psql -U firma_owner firma
"""

from __future__ import annotations

import re
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

APPEND_ONLY = {
    # Events are read and appended, never changed.
    "audit_auditevent": "SELECT, INSERT",
    # The chain head: created once, then moved forward by each append (its trigger checks how).
    "audit_auditchainhead": "SELECT, INSERT, UPDATE",
}
READ_ONLY = {"django_migrations": "SELECT"}
READ_WRITE = "SELECT, INSERT, UPDATE, DELETE"


def grant_statements(*, role: str) -> list[str]:
    tables = sorted(
        {model._meta.db_table for model in apps.get_models(include_auto_created=True) if model._meta.managed}
        | {"django_migrations"}
    )
    statements = [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role};",
        f"GRANT USAGE ON SCHEMA public TO {role};",
    ]
    for table in tables:
        privileges = APPEND_ONLY.get(table) or READ_ONLY.get(table) or READ_WRITE
        statements.append(f'GRANT {privileges} ON TABLE "{table}" TO {role};')
    statements.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};")
    return statements


class Command(BaseCommand):
    help = "Print the GRANT statements for the application's database role (least privilege; see the module)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--role", required=True, help="the role the web processes and workers connect as")

    def handle(self, *args: Any, **options: Any) -> None:
        role = options["role"]
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
            raise CommandError("--role must be a plain lower-case PostgreSQL identifier")
        if connection.vendor != "postgresql":
            self.stderr.write("note: these statements are for PostgreSQL (the embedded SQLite has no roles)")
        self.stdout.write("\n".join(grant_statements(role=role)))
