"""The audit trail is append-only and tamper-evident: edits, deletions and reordering are detected."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from audit.models import AppendOnlyError, AuditChainHead, AuditEvent
from audit.services import audit_chain_verify, audit_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(db) -> list[AuditEvent]:
    return [audit_record(event_type="test.event", details={"n": n}) for n in range(1, 6)]


@contextmanager
def bypassing_the_append_only_trigger() -> Iterator[None]:
    """What an attacker with raw database access (or a DBA) could do; rolled back with the test."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
            yield
            cursor.execute("SET LOCAL session_replication_role = origin")
        else:  # SQLite, the embedded database, has no trigger to bypass
            yield


def raw(sql: str, params: list | None = None) -> None:
    with bypassing_the_append_only_trigger(), connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def test_an_untouched_chain_verifies(events):
    report = audit_chain_verify()
    assert report.ok and report.checked == 5
    assert AuditChainHead.objects.get(pk=1).last_seq == 5


def test_each_row_links_to_the_previous_one(events):
    for previous, current in zip(events, events[1:], strict=False):
        assert current.prev_hash == previous.row_hash
        assert current.seq == previous.seq + 1


def test_the_orm_refuses_updates_and_deletes(events):
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(seq=2).update(event_type="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(seq=2).delete()
    event = AuditEvent.objects.get(seq=2)
    event.event_type = "x"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()


@pytest.mark.postgresql_only
@pytest.mark.parametrize("statement", ["UPDATE audit_auditevent SET outcome = 'denied' WHERE seq = 2",
                                       "DELETE FROM audit_auditevent WHERE seq = 2"])
def test_the_database_itself_refuses_updates_and_deletes(events, statement):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert audit_chain_verify().ok


def test_an_edited_row_is_detected(events):
    raw("UPDATE audit_auditevent SET details = %s WHERE seq = 3", ['{"n": 99}'])
    report = audit_chain_verify()
    assert not report.ok and report.broken_at == 3 and "hash" in report.reason


def test_a_deleted_row_is_detected(events):
    raw("DELETE FROM audit_auditevent WHERE seq = 2")
    report = audit_chain_verify()
    assert not report.ok and report.broken_at == 2 and "missing" in report.reason


def test_deleting_the_most_recent_rows_is_detected(events):
    raw("DELETE FROM audit_auditevent WHERE seq >= 4")
    report = audit_chain_verify()
    assert not report.ok and "removed" in report.reason


def test_reordered_rows_are_detected(events):
    raw("UPDATE audit_auditevent SET seq = seq + 100 WHERE seq IN (2, 3)")
    raw("UPDATE audit_auditevent SET seq = 2 WHERE seq = 103")
    raw("UPDATE audit_auditevent SET seq = 3 WHERE seq = 102")
    report = audit_chain_verify()
    assert not report.ok and report.broken_at == 2


def test_a_row_rebuilt_without_the_key_is_detected(events, settings):
    """Someone who recomputes hashes with a guessed key cannot produce a chain that verifies."""
    forged = AuditEvent.objects.get(seq=5)
    raw("UPDATE audit_auditevent SET event_type = 'forged' WHERE seq = 5")
    settings.AUDIT_CHAIN_KEY = "guessed-key"
    assert not audit_chain_verify().ok
    assert forged.event_type == "test.event"


def test_verify_audit_command_fails_loudly_on_a_broken_chain(events, capsys):
    call_command("verify_audit")
    assert "5 events verified" in capsys.readouterr().out
    raw("UPDATE audit_auditevent SET actor_username = 'someone-else' WHERE seq = 1")
    with pytest.raises(CommandError, match="BROKEN at #1"):
        call_command("verify_audit")


def test_secrets_can_never_be_written_to_the_trail(db):
    for key in ("password", "PIN", "otp", "user_code", "secret"):
        with pytest.raises(ValueError):
            audit_record(event_type="test.leak", details={key: "x"})
    assert not AuditEvent.objects.filter(event_type="test.leak").exists()


def test_an_audit_row_rolls_back_with_the_change_it_records(db):
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(event_type="test.rolled_back")
        raise RuntimeError
    assert not AuditEvent.objects.filter(event_type="test.rolled_back").exists()
    assert audit_chain_verify().ok
