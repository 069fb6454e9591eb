"""``manage.py restore_check``: a restored database passes only with its migrations, an intact audit trail
reaching the last checkpoint, and CA keys that open and sign with the key material in place."""

from __future__ import annotations

import base64

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from certificates.models import CertificateAuthority
from portal.checkpoints import audit_checkpoint_publish
from tests.audit.test_chain import events, raw  # noqa: F401  (fixture)
from tests.certificates.conftest import ca, ca_hierarchy  # noqa: F401  (fixtures)


@pytest.fixture
def restored(events, ca):  # noqa: F811
    """An installation as a backup restores it: audit events, the CA, a checkpoint of the head."""
    return audit_checkpoint_publish()


def test_a_complete_restore_passes_and_reports_what_it_holds(restored, capsys):
    call_command("restore_check")

    out = capsys.readouterr().out
    assert "migrations: all" in out
    assert f"reaching the checkpoint #{restored.seq}" in out
    assert "issuing CA signs" in out and "root CA signs" in out
    assert "audit events" in out and "restore check passed" in out


def test_a_tampered_audit_row_fails(restored):
    raw("UPDATE audit_auditevent SET event_type = 'forged' WHERE seq = 2")

    with pytest.raises(CommandError, match=r"audit: chain broken at #2"):
        call_command("restore_check")


def test_a_missing_checkpoint_file_fails(restored, settings, tmp_path):
    settings.AUDIT_CHECKPOINT_FILE = tmp_path / "elsewhere" / "checkpoints.jsonl"

    with pytest.raises(CommandError, match="no checkpoint in .*restore the checkpoint file"):
        call_command("restore_check")


def test_a_dump_older_than_the_checkpoint_fails(restored):
    """The dump lost the trail's tail (an older dump with a newer checkpoint file): found, not passed."""
    raw("DELETE FROM audit_auditevent WHERE seq > 3")
    raw("UPDATE audit_auditchainhead SET last_seq = 3, last_hash = (SELECT row_hash FROM audit_auditevent "
        "WHERE seq = 3) WHERE id = 1")

    with pytest.raises(CommandError, match="trail ends at #3"):
        call_command("restore_check")


def test_key_files_of_another_installation_fail(restored, settings):
    other = base64.b64encode(b"\x07" * 32).decode()
    settings.CA_KEK_KEYS = {key_id: other for key_id in settings.CA_KEK_KEYS}

    with pytest.raises(CommandError, match="keys: the .* CA key does not open or sign"):
        call_command("restore_check")


def test_a_database_without_a_ca_fails(restored):
    CertificateAuthority.objects.update(is_current=False)

    with pytest.raises(CommandError, match="no current certificate authority"):
        call_command("restore_check")


def test_a_dump_of_an_older_version_fails_naming_the_migrations_it_lacks(restored, monkeypatch):
    from portal.management.commands import restore_check

    monkeypatch.setattr(restore_check, "migrations_pending", lambda: ["signing.0099_next"])

    with pytest.raises(CommandError, match=r"migrations: 1 migrations not applied \(signing.0099_next…\)"):
        call_command("restore_check")
