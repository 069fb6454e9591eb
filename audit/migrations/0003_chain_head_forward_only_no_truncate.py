"""The chain head is one row that only moves forward; neither audit table can be truncated (PostgreSQL).

TRUNCATE does not fire row triggers, so the append-only trigger of 0002 let it through, and the head
could be set back: keeping all but the last events, truncating, re-inserting and moving the head
gave a shorter chain that still verified. Now a statement trigger refuses TRUNCATE on both tables,
and the head accepts only the update that follows an append: the next sequence number, pointing at
the row just inserted, which links to the old head. Someone who can disable triggers (a superuser)
can still do all of this: that is what the published checkpoints (portal/checkpoints.py) catch.

The test suite's flush (TRUNCATE of every table) runs with triggers disabled (tests/conftest.py).
"""

from __future__ import annotations

from django.db import migrations, models

PG_SQL = """
CREATE OR REPLACE FUNCTION audit_refuse_truncate() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail cannot be truncated';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_truncate();
CREATE TRIGGER audit_chain_head_no_truncate
    BEFORE TRUNCATE ON audit_auditchainhead
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_truncate();

CREATE OR REPLACE FUNCTION audit_chain_head_forward_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'the audit chain head cannot be deleted';
    END IF;
    IF NEW.id <> OLD.id OR NEW.last_seq <> OLD.last_seq + 1 OR NOT EXISTS (
        SELECT 1 FROM audit_auditevent
        WHERE seq = NEW.last_seq AND row_hash = NEW.last_hash AND prev_hash = OLD.last_hash
    ) THEN
        RAISE EXCEPTION 'the audit chain head only moves forward, to the event just appended';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_chain_head_forward_only
    BEFORE UPDATE OR DELETE ON audit_auditchainhead
    FOR EACH ROW EXECUTE FUNCTION audit_chain_head_forward_only();
"""

PG_DROP_SQL = """
DROP TRIGGER IF EXISTS audit_chain_head_forward_only ON audit_auditchainhead;
DROP FUNCTION IF EXISTS audit_chain_head_forward_only();
DROP TRIGGER IF EXISTS audit_chain_head_no_truncate ON audit_auditchainhead;
DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_refuse_truncate();
"""


def add_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_SQL)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_DROP_SQL)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_chain_head_and_append_only_trigger")]

    operations = [
        migrations.AddConstraint(
            model_name="auditchainhead",
            constraint=models.CheckConstraint(condition=models.Q(("pk", 1)), name="audit_chain_head_single_row"),
        ),
        migrations.RunPython(add_triggers, drop_triggers),
    ]
