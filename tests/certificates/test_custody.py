"""Key custody: no clear key at rest, the PIN guards the key and counts, KEK rotation."""

from __future__ import annotations

import base64
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from django.core.management import call_command
from django.db import connection, transaction

from audit.models import AuditEvent
from certificates.models import CertificateAuthority, CertificateKey, CertificateState
from certificates.services import (
    certificate_activate,
    certificate_key_unlock,
    certificate_pin_change,
    keys_rewrap_kek,
    pin_validate,
)
from certificates.services.authority import authority_private_key
from certificates.vault import KeyUnavailable, sealed_from_row, vault_get
from core.errors import ApplicationError
from tests.certificates.conftest import OTHER_PIN, PIN, active, issued

pytestmark = pytest.mark.both_vaults


def _every_row_bytes() -> bytes:
    """Every value of every table, as bytes: what a stolen database would contain."""
    chunks: list[bytes] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, (bytes, memoryview)):
                        chunks.append(bytes(value))
                    elif value is not None:
                        chunks.append(str(value).encode())
    return b"\x00".join(chunks)


def _forms(private_key) -> list[bytes]:
    der = serialization.Encoding.DER
    none = serialization.NoEncryption()
    forms = [
        private_key.private_bytes(der, serialization.PrivateFormat.PKCS8, none),
        private_key.private_bytes(der, serialization.PrivateFormat.TraditionalOpenSSL, none),
    ]
    forms += [base64.b64encode(f) for f in forms]
    # The secret numbers themselves (the DER's tail is the public key, which is public anyway).
    numbers = private_key.private_numbers()
    secrets = [numbers.private_value] if hasattr(numbers, "private_value") else [numbers.d, numbers.p, numbers.q]
    forms += [n.to_bytes((n.bit_length() + 7) // 8, "big") for n in secrets]
    return forms


def test_the_database_holds_no_clear_private_key(world, ca, key_vault):
    certificate = active(world.alpha.holder)
    holder_key = certificate_key_unlock(certificate=certificate, pin=PIN)
    ca_keys = [authority_private_key(a) for a in CertificateAuthority.objects.all()]

    dump = _every_row_bytes()

    for private_key in [holder_key, *ca_keys]:
        if key_vault == "pkcs11":
            # Generated in the device: this process never had the private key, and cannot get it.
            with pytest.raises(KeyUnavailable):
                _forms(private_key)
            continue
        for form in _forms(private_key):
            assert form not in dump


def test_an_issued_key_is_sealed_by_the_kek_alone_until_activation(world, ca):
    certificate = issued(world.alpha.holder)
    key = CertificateKey.objects.get(certificate=certificate)

    assert key.awaiting_pin and bytes(key.pin_salt) == b""
    with pytest.raises(ApplicationError) as refused:
        certificate_key_unlock(certificate=certificate, pin=PIN)
    assert refused.value.code == "certificate_not_active"


def test_after_activation_the_key_does_not_open_without_the_pin(world, ca):
    certificate = active(world.alpha.holder)
    key = CertificateKey.objects.get(certificate=certificate)

    assert not key.awaiting_pin and key.key_version == 2
    with pytest.raises(KeyUnavailable):
        vault_get().open(sealed=sealed_from_row(key), binding=key.key_binding)  # the KEK alone
    assert certificate_key_unlock(certificate=certificate, pin=PIN).public_key() is not None


def test_the_unlocked_key_matches_the_certificate(world, ca):
    from cryptography import x509

    certificate = active(world.alpha.holder)
    private_key = certificate_key_unlock(certificate=certificate, pin=PIN)

    assert private_key.public_key() == x509.load_der_x509_certificate(bytes(certificate.der)).public_key()


def test_a_sealed_key_copied_onto_another_row_does_not_open(world, ca):
    first = issued(world.alpha.holder)
    second = issued(world.beta.holder)
    stolen = CertificateKey.objects.get(certificate=first)

    with pytest.raises(KeyUnavailable):
        vault_get().open(sealed=sealed_from_row(stolen), binding=f"certificate:{second.pk}")


def test_a_wrong_pin_fails_and_counts_with_attempts_left(world, ca):
    certificate = active(world.alpha.holder)
    before = AuditEvent.objects.filter(event_type="certificate.pin_failed").count()

    with pytest.raises(ApplicationError) as wrong:
        certificate_key_unlock(certificate=certificate, pin="99999998", ip="192.0.2.7")

    assert wrong.value.code == "invalid_pin"
    assert "4 attempts left" in str(wrong.value.message)
    certificate.refresh_from_db()
    assert certificate.pin_failures == 1 and certificate.state == CertificateState.ACTIVE
    event = AuditEvent.objects.filter(event_type="certificate.pin_failed").latest("seq")
    assert AuditEvent.objects.filter(event_type="certificate.pin_failed").count() == before + 1
    assert event.outcome == "failure" and event.ip == "192.0.2.7" and event.details["remaining"] == 4


def test_the_right_pin_resets_the_failure_count(world, ca):
    certificate = active(world.alpha.holder)
    for _attempt in range(3):
        with pytest.raises(ApplicationError):
            certificate_key_unlock(certificate=certificate, pin="99999998")

    certificate_key_unlock(certificate=certificate, pin=PIN)

    certificate.refresh_from_db()
    assert certificate.pin_failures == 0


def test_the_fifth_wrong_pin_blocks_the_certificate_for_good(world, ca):
    certificate = active(world.alpha.holder)
    codes = []
    for _attempt in range(5):
        with pytest.raises(ApplicationError) as wrong:
            certificate_key_unlock(certificate=certificate, pin="99999998")
        codes.append(wrong.value.code)

    assert codes == ["invalid_pin"] * 4 + ["locked_pin"]
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.BLOCKED and certificate.blocked_at is not None
    assert AuditEvent.objects.filter(event_type="certificate.blocked", subject_id=str(certificate.pk)).count() == 1
    # Final: even the right PIN no longer opens anything, and the key material is gone.
    with pytest.raises(ApplicationError) as blocked:
        certificate_key_unlock(certificate=certificate, pin=PIN)
    assert blocked.value.code == "locked_pin"
    key = CertificateKey.objects.get(certificate=certificate)
    assert key.destroyed_at is not None and bytes(key.key_ciphertext) == b"" and bytes(key.wrapped_data_key) == b""


def test_the_retry_limit_is_the_organization_policy(world, ca):
    world.alpha.organization.pin_max_retries = 3
    world.alpha.organization.save(update_fields=["pin_max_retries"])
    certificate = active(world.alpha.holder)
    for _attempt in range(2):
        with pytest.raises(ApplicationError):
            certificate_key_unlock(certificate=certificate, pin="99999998")
    with pytest.raises(ApplicationError) as third:
        certificate_key_unlock(certificate=certificate, pin="99999998")
    assert third.value.code == "locked_pin"


def test_pin_change_rewraps_and_the_old_pin_stops_working(world, ca):
    certificate = active(world.alpha.holder)
    before = bytes(CertificateKey.objects.get(certificate=certificate).wrapped_data_key)

    certificate_pin_change(certificate=certificate, current_pin=PIN, new_pin=OTHER_PIN)

    key = CertificateKey.objects.get(certificate=certificate)
    assert bytes(key.wrapped_data_key) != before and key.key_version == 3
    with pytest.raises(ApplicationError) as old:
        certificate_key_unlock(certificate=certificate, pin=PIN)
    assert old.value.code == "invalid_pin"
    assert certificate_key_unlock(certificate=certificate, pin=OTHER_PIN) is not None
    assert AuditEvent.objects.filter(event_type="certificate.pin_changed").count() == 1


def test_pin_change_with_a_wrong_current_pin_counts_as_a_failure(world, ca):
    certificate = active(world.alpha.holder)

    with pytest.raises(ApplicationError) as wrong:
        certificate_pin_change(certificate=certificate, current_pin="99999998", new_pin=OTHER_PIN)

    assert wrong.value.code == "invalid_pin"
    certificate.refresh_from_db()
    assert certificate.pin_failures == 1
    assert certificate_key_unlock(certificate=certificate, pin=PIN) is not None


@pytest.mark.parametrize(
    "pin",
    ["1234567", "11111111", "12345678", "87654321", "abcdefgh", "RSSMRA80A01F257G", "x-RSSMRA80A01F257G", "01011980",
     "19800101"],
)
def test_trivial_pins_are_refused_with_a_reason(world, pin):
    import datetime

    holder = world.alpha.holder
    holder.birth_date = datetime.date(1980, 1, 1)

    with pytest.raises(ApplicationError) as refused:
        pin_validate(pin=pin, holder=holder)

    assert refused.value.code == "weak_pin" and len(str(refused.value.message)) > 20


@pytest.mark.parametrize("pin", ["48213957", "482139576"])
def test_a_pin_of_digits_only_needs_ten_digits_against_offline_guessing(world, pin):
    with pytest.raises(ApplicationError) as refused:
        pin_validate(pin=pin, holder=world.alpha.holder)

    assert refused.value.code == "weak_pin" and "10 digits" in str(refused.value.message)


@pytest.mark.parametrize("pin", ["4821395760", "Ghirlandina7", "torre-vecchia"])
def test_ten_digits_or_eight_characters_with_letters_are_accepted(world, pin):
    pin_validate(pin=pin, holder=world.alpha.holder)


def test_activation_refuses_a_trivial_pin_and_stays_issued(world, ca):
    certificate = issued(world.alpha.holder)

    with pytest.raises(ApplicationError):
        certificate_activate(certificate=certificate, pin="12345678")

    certificate.refresh_from_db()
    assert certificate.state == CertificateState.ISSUED
    assert CertificateKey.objects.get(certificate=certificate).awaiting_pin


def test_kek_rotation_rewraps_every_key_and_old_ids_still_open_before(world, ca, settings, key_vault):
    if key_vault == "pkcs11":
        # The wrapping key of the holder keys' outer layer lives in the device: a new id is a new
        # key there; the CA's keys are the device's own objects and are not wrapped at all. (Ids of
        # this test's own: the token outlives the test.)
        settings.CA_HSM_WRAPPING_KEY_ID = old_id = f"old-{uuid.uuid4().hex[:8]}"
    certificate = active(world.alpha.holder)
    waiting = issued(world.beta.holder)
    if key_vault == "pkcs11":
        setting = "CA_HSM_WRAPPING_KEY_ID"
        settings.CA_HSM_WRAPPING_KEY_ID = new_id = f"new-{uuid.uuid4().hex[:8]}"
        authorities_kek = {"token"}
    else:
        old_id, setting = settings.CA_KEK_KEY_ID, "CA_KEK_KEY_ID"
        settings.CA_KEK_KEYS = {**settings.CA_KEK_KEYS, "2026": base64.b64encode(b"k" * 32).decode()}
        settings.CA_KEK_KEY_ID = new_id = "2026"
        authorities_kek = {new_id}

    # Before rotation: rows under the old id still open (the old key is still configured).
    assert certificate_key_unlock(certificate=certificate, pin=PIN) is not None
    assert CertificateKey.objects.filter(kek_id=old_id).count() == 2

    call_command("ca_rotate_kek", stdout=__import__("io").StringIO())

    assert not CertificateKey.objects.exclude(kek_id=new_id).exists()
    assert set(CertificateAuthority.objects.values_list("kek_id", flat=True)) == authorities_kek
    assert keys_rewrap_kek() == 0  # idempotent
    # The old KEK can go: everything still opens under the new one, the PIN still needed.
    if key_vault == "pkcs11":
        from tests.hsm import wrapping_key_destroy

        wrapping_key_destroy(old_id)
    else:
        settings.CA_KEK_KEYS = {new_id: settings.CA_KEK_KEYS[new_id]}
    assert getattr(settings, setting) == new_id
    assert certificate_key_unlock(certificate=certificate, pin=PIN) is not None
    with pytest.raises(ApplicationError):
        certificate_key_unlock(certificate=certificate, pin="99999998")
    certificate_activate(certificate=waiting, pin=PIN)
    for authority in CertificateAuthority.objects.all():
        assert authority_private_key(authority) is not None


@pytest.mark.django_db(transaction=True)
def test_the_pin_check_refuses_to_run_inside_a_callers_transaction(world, ca):
    # A wrong PIN must stay counted: inside a caller's transaction a rollback would un-count it, so
    # the check's own transaction is durable and refuses to nest.
    certificate = active(world.alpha.holder)

    with pytest.raises(RuntimeError), transaction.atomic():
        certificate_key_unlock(certificate=certificate, pin="99999998")
    with pytest.raises(RuntimeError), transaction.atomic():
        certificate_pin_change(certificate=certificate, current_pin="99999998", new_pin=OTHER_PIN)

    certificate.refresh_from_db()
    assert certificate.pin_failures == 0
    with pytest.raises(ApplicationError) as wrong:
        certificate_key_unlock(certificate=certificate, pin="99999998")
    assert wrong.value.code == "invalid_pin"
    certificate.refresh_from_db()
    assert certificate.pin_failures == 1
