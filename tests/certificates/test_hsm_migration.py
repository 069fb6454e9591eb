"""``manage.py ca_migrate_to_hsm``: an installation on the software vault moves into the HSM — the CA's
keys imported once and erased from the database, holder keys under the HSM without a PIN changing —
resumable and audited."""

from __future__ import annotations

import io

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management import call_command
from pkcs11 import Attribute, ObjectClass

from audit.models import AuditEvent
from certificates import hsm
from certificates.models import AuthorityRole, CertificateAuthority, CertificateKey
from certificates.services import (
    authority_hierarchy_build,
    certificate_activate,
    certificate_key_unlock,
    crl_publish,
    keys_migrate_to_device,
)
from certificates.services.authority import authority_private_key
from certificates.vault import KeyUnavailable, kek_layer_remove, key_release, sealed_from_row
from tests.certificates.conftest import PIN, active, issued, load_hierarchy
from tests.certificates.test_custody import _every_row_bytes
from tests.hsm import use_token


@pytest.fixture
def installation(world, settings):
    """A CA and two holders on the software vault: one active (PIN set), one awaiting activation."""
    settings.CA_KEY_VAULT_BACKEND = "certificates.vault.SoftwareKeyVault"
    load_hierarchy(authority_hierarchy_build())
    ca_keys = {
        a.role: authority_private_key(a).private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        for a in CertificateAuthority.objects.all()
    }
    return active(world.alpha.holder), issued(world.beta.holder), ca_keys


def _migrate() -> str:
    out = io.StringIO()
    call_command("ca_migrate_to_hsm", stdout=out)
    return out.getvalue()


def test_the_ca_moves_into_the_device_and_its_software_copies_are_gone(installation, settings, softhsm_token):
    _active, _waiting, ca_keys = installation
    use_token(settings, softhsm_token)

    report = _migrate()

    assert "4 CA key(s) imported" in report
    dump = _every_row_bytes()
    for der in ca_keys.values():
        assert der not in dump
    for authority in CertificateAuthority.objects.all():
        assert authority.vault == "pkcs11" and authority.kek_id == "token"
        with hsm.device_get().session() as session:
            query = {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: authority.key_binding}
            (obj,) = session.get_objects(query)
            assert obj[Attribute.EXTRACTABLE] is False and obj[Attribute.SENSITIVE] is True
    # The same CA, now signing in the device: a CRL verifies under the issuing CA's certificate.
    issuing = CertificateAuthority.objects.get(role=AuthorityRole.ISSUING, is_current=True)
    crl = x509.load_der_x509_crl(bytes(crl_publish(role=AuthorityRole.ISSUING).der))
    assert crl.is_signature_valid(x509.load_der_x509_certificate(bytes(issuing.der)).public_key())
    assert AuditEvent.objects.filter(event_type="ca.keys_migrated", details__kind="certificateauthority").exists()


def test_holder_keys_move_without_their_pins_changing(installation, settings, softhsm_token):
    holder_active, waiting, _ca_keys = installation
    use_token(settings, softhsm_token)

    report = _migrate()

    assert "2 holder key(s) re-wrapped; 1 holder key(s) move into the HSM at their holder's next use" in report
    row = CertificateKey.objects.get(certificate=holder_active)
    # The software KEK no longer opens the row: its outer layer is now the device's.
    with pytest.raises(KeyUnavailable):
        kek_layer_remove(sealed=sealed_from_row(row), binding=row.key_binding)
    # Without the software KEKs at all, the same PIN opens the key, which moves into the device for good.
    settings.CA_KEK_KEYS = {"retired": "A" * 43 + "="}
    settings.CA_KEK_KEY_ID = "retired"
    key = certificate_key_unlock(certificate=holder_active, pin=PIN)
    signature = key.sign(b"verbale", ec.ECDSA(hashes.SHA256()))
    x509.load_der_x509_certificate(bytes(holder_active.der)).public_key().verify(
        signature, b"verbale", ec.ECDSA(hashes.SHA256())
    )
    key_release(key)
    row.refresh_from_db()
    assert not hsm.Pkcs11KeyVault.is_migrated(sealed_from_row(row)) and row.wrapped_data_key[:1] == b"\x02"
    assert certificate_key_unlock(certificate=holder_active, pin=PIN) is not None
    # The key that was awaiting its PIN was imported at once, and activates as before.
    certificate_activate(certificate=waiting, pin=PIN)
    assert certificate_key_unlock(certificate=waiting, pin=PIN) is not None
    assert "0 holder key(s) move into the HSM" in _migrate()


def test_an_interrupted_migration_goes_on_where_it_stopped(installation, settings, softhsm_token, monkeypatch):
    use_token(settings, softhsm_token)
    calls = {"n": 0}
    original = hsm.Pkcs11KeyVault.migrate_from_software

    def fails_on_the_second(self, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("power cut")
        return original(self, **kwargs)

    monkeypatch.setattr(hsm.Pkcs11KeyVault, "migrate_from_software", fails_on_the_second)
    with pytest.raises(RuntimeError):
        keys_migrate_to_device(batch_size=1)
    assert CertificateKey.objects.filter(vault="software").count() == 1
    assert not CertificateAuthority.objects.filter(vault="software").exists()

    monkeypatch.undo()
    use_token(settings, softhsm_token)
    assert keys_migrate_to_device() == {"authorities": 0, "holder_keys": 1}
    assert keys_migrate_to_device() == {"authorities": 0, "holder_keys": 0}
    assert not CertificateKey.objects.filter(vault="software").exists()


def test_migrating_without_the_device_vault_configured_is_refused(installation):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="CA_KEY_VAULT_BACKEND"):
        _migrate()
