"""The audit trail is append-only and tamper-evident: edits, deletions and reordering are detected."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, IntegrityError, connection, transaction

from audit.management.commands.db_grants import grant_statements
from audit.models import GENESIS_HASH, AppendOnlyError, AuditChainHead, AuditEvent
from audit.services import audit_chain_verify, audit_record
from portal.checkpoints import (
    Checkpoint,
    audit_chain_verify_with_checkpoint,
    audit_checkpoint_publish,
    checkpoint_latest,
)

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


# --- The tail of the trail: TRUNCATE, the chain head, and checkpoints published outside -----------


@pytest.mark.postgresql_only
@pytest.mark.parametrize("table", ["audit_auditevent", "audit_auditchainhead"])
def test_the_database_refuses_to_truncate_the_trail(events, table):
    with pytest.raises(DatabaseError, match="cannot be truncated"), transaction.atomic(), connection.cursor() as c:
        c.execute(f"TRUNCATE {table}")
    assert audit_chain_verify().ok


@pytest.mark.postgresql_only
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditchainhead SET last_seq = 3, "
        "last_hash = (SELECT row_hash FROM audit_auditevent WHERE seq = 3)",
        "UPDATE audit_auditchainhead SET last_seq = last_seq + 1",
        "DELETE FROM audit_auditchainhead",
    ],
)
def test_the_chain_head_moves_only_forward_to_the_event_just_appended(events, statement):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert AuditChainHead.objects.get(pk=1).last_seq == 5
    audit_record(event_type="test.after")  # the real append still moves it
    assert AuditChainHead.objects.get(pk=1).last_seq == 6


def test_the_chain_head_is_a_single_row(events):
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditChainHead.objects.create(pk=2, last_seq=0)


@pytest.fixture
def checkpointed(events, ca):
    """Five events, then a checkpoint of the head published by the job (the sixth event records it)."""
    return audit_checkpoint_publish()


def cut_the_tail_and_move_the_head_back(keep: int) -> None:
    """The attack: what someone who can rewrite the database (triggers off) does to hide events."""
    raw("DELETE FROM audit_auditevent WHERE seq > %s", [keep])
    if keep:
        raw("UPDATE audit_auditchainhead SET last_seq = %s, last_hash = (SELECT row_hash FROM audit_auditevent "
            "WHERE seq = %s) WHERE id = 1", [keep, keep])
    else:
        raw("UPDATE audit_auditchainhead SET last_seq = 0, last_hash = %s WHERE id = 1", [GENESIS_HASH])


def test_a_tail_cut_with_the_head_moved_back_is_reported_against_the_last_checkpoint(checkpointed, capsys):
    assert checkpointed.seq == 5
    call_command("verify_audit")
    assert "reaching the checkpoint at #5" in capsys.readouterr().out

    cut_the_tail_and_move_the_head_back(keep=3)

    assert audit_chain_verify().ok  # the chain alone cannot see it: it is shorter, not broken
    report = audit_chain_verify_with_checkpoint(checkpoint=checkpoint_latest())
    assert not report.ok and "rows #4–#5 (at least) were removed" in report.reason
    with pytest.raises(CommandError, match="trail ends at #3"):
        call_command("verify_audit")


def test_emptying_both_tables_is_reported_against_the_last_checkpoint(checkpointed):
    cut_the_tail_and_move_the_head_back(keep=0)
    assert audit_chain_verify().checked == 0
    with pytest.raises(CommandError, match="trail ends at #0"):
        call_command("verify_audit")


def test_a_rewritten_row_at_the_checkpoint_is_reported(checkpointed, settings):
    """Rows re-chained with the stolen HMAC key: the chain verifies, the checkpoint's hash does not match."""
    raw("DELETE FROM audit_auditevent WHERE seq >= 5")
    raw("UPDATE audit_auditchainhead SET last_seq = 4, last_hash = (SELECT row_hash FROM audit_auditevent "
        "WHERE seq = 4) WHERE id = 1")
    audit_record(event_type="test.rewritten")  # a different fifth row, properly chained
    report = audit_chain_verify_with_checkpoint(checkpoint=checkpointed)
    assert not report.ok and "row #5 differs from the checkpoint" in report.reason


def test_a_checkpoint_altered_in_its_file_is_reported(checkpointed):
    forged = replace(checkpointed, seq=3, row_hash=AuditEvent.objects.get(seq=3).row_hash)
    report = audit_chain_verify_with_checkpoint(checkpoint=forged)
    assert not report.ok and "timestamp token does not match it" in report.reason


def test_the_checkpoint_is_published_to_the_file_the_log_and_the_platform_admins(events, ca, caplog):
    from accounts.models import User
    from notifications.models import Message

    admin = User.objects.create_superuser(username="tsp.admin", password="x" * 24, email="pki@tsp.example.org")
    with caplog.at_level(logging.INFO, logger="audit.checkpoint"):
        first = audit_checkpoint_publish()
        second = audit_checkpoint_publish()
    lines = Path(settings.AUDIT_CHECKPOINT_FILE).read_text().splitlines()
    assert [Checkpoint.from_json(line) for line in lines] == [first, second]
    assert (first.seq, second.seq) == (5, 6)  # the first publication is itself an audit event
    assert sum("audit checkpoint" in r.getMessage() for r in caplog.records) == 2
    mails = Message.objects.filter(message_type="audit_checkpoint")
    assert [m.recipient for m in mails] == [admin.email]  # once a day, not once an hour
    assert first.to_json() in mails.get().body_text
    assert AuditEvent.objects.filter(event_type="audit.checkpoint_published").count() == 2


def test_openssl_verifies_the_checkpoint_timestamp_against_our_ca(checkpointed, ca, tmp_path):
    from tests.certificates.conftest import openssl, pem

    token = tmp_path / "checkpoint.tst"
    token.write_bytes(checkpointed.timestamp_token)
    chain = tmp_path / "chain.pem"
    chain.write_bytes(pem(ca["root"].der) + pem(ca["issuing"].der))
    verified = openssl("ts", "-verify", "-digest", checkpointed.digest.hex(), "-token_in", "-in", str(token),
                       "-CAfile", str(chain), "-untrusted", str(write_tsa(tmp_path, ca)))
    assert verified.returncode == 0 and "Verification: OK" in verified.stdout, verified.stderr


def write_tsa(tmp_path: Path, ca) -> Path:  # noqa: ANN001
    from tests.certificates.conftest import pem

    path = tmp_path / "tsa.pem"
    path.write_bytes(pem(ca["tsa"].der))
    return path


@pytest.mark.postgresql_only
def test_the_application_role_can_append_to_the_trail_but_not_rewrite_or_truncate_it(events):
    role = f"firma_app_test_{os.getpid()}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")
        for statement in grant_statements(role=role):
            cursor.execute(statement)
        cursor.execute(f"SET ROLE {role}")
        try:
            audit_record(event_type="test.as_application")  # the application's own path works
            for forbidden in (
                "UPDATE audit_auditevent SET outcome = 'denied' WHERE seq = 2",
                "DELETE FROM audit_auditevent WHERE seq = 6",
                "TRUNCATE audit_auditevent",
                "ALTER TABLE audit_auditevent DISABLE TRIGGER ALL",
                "SET session_replication_role = replica",
            ):
                with pytest.raises(DatabaseError), transaction.atomic():
                    cursor.execute(forbidden)
        finally:
            cursor.execute("RESET ROLE")
    assert audit_chain_verify().ok and audit_chain_verify().checked == 6


def test_an_unreadable_checkpoint_file_is_reported_not_a_crash(checkpointed):
    from portal.tasks import audit_chain_verify_task as hourly_verification

    with Path(settings.AUDIT_CHECKPOINT_FILE).open("a") as file:
        file.write('{"seq": 9, "row_hash": "cut off in the middle\n')
    with pytest.raises(CommandError, match="the last checkpoint cannot be read"):
        call_command("verify_audit")
    assert hourly_verification() is False
    assert AuditEvent.objects.filter(event_type="audit.chain_verified", outcome="failure").exists()


def test_a_full_disk_leaves_the_checkpoint_file_as_it_was_and_publishes_nothing(checkpointed, monkeypatch):
    import errno

    import portal.checkpoints as checkpoints

    path = Path(settings.AUDIT_CHECKPOINT_FILE)
    before = path.read_bytes()
    published = AuditEvent.objects.filter(event_type="audit.checkpoint_published").count()
    real_write = os.write

    def disk_fills_up(fd: int, data: bytes) -> int:  # the first bytes fit, then the device is full
        if len(data) > 10:
            return real_write(fd, data[:10])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoints.os, "write", disk_fills_up)
    with pytest.raises(checkpoints.CheckpointNotWritten, match="No space left on device; the file is unchanged"):
        audit_checkpoint_publish()
    monkeypatch.undo()

    assert path.read_bytes() == before  # no half line for the next verification to trip on
    assert checkpoints.checkpoint_latest() == checkpointed
    assert AuditEvent.objects.filter(event_type="audit.checkpoint_published").count() == published
    assert audit_checkpoint_publish().seq == checkpointed.seq + 1  # space again: it simply works
