"""Signature activation (SAD): PIN + OTP authorize exactly these hashes, that many times, with that
certificate, for that client, briefly, once; every refusal with its code, counters right."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.utils import timezone

from audit.models import AuditEvent
from certificates.models import Certificate, CertificateState
from certificates.services import certificate_key_unlock, certificate_reactivate, certificate_suspend
from certificates.vault import KeyUnavailable
from core.errors import ApplicationError
from otp.models import OtpDevice
from otp.sms_codes import sms_code_issue
from signing.models import Channel, SignatureActivation
from signing.selectors import signature_list_for_holder
from signing.services import (
    signature_activations_purge,
    signature_sign_documents,
    signature_sign_hashes,
)
from tests.signing.conftest import PIN, active, authorize, pdf_make

pytestmark = pytest.mark.both_vaults


@dataclass
class Client:
    client_id: str
    organization_id: int


def digests(n: int, tag: str = "doc") -> list[bytes]:
    return [hashlib.sha256(f"{tag} {i}".encode()).digest() for i in range(n)]


def refused(code: str, call, *args, **kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as error:
        call(*args, **kwargs)
    assert error.value.code == code, (error.value.code, str(error.value))
    return error.value


def test_hash_bound_activation_signs_exactly_its_hashes_once(signer):
    hashes = digests(3)
    activation, token = authorize(signer, hashes=hashes, channel=Channel.CSC)

    first = signature_sign_hashes(sad_token=token, hashes=hashes[:2], certificate=signer.certificate)
    assert len(first) == 2
    refused("unauthorized_hash", signature_sign_hashes, sad_token=token, hashes=[hashes[0]],
            certificate=signer.certificate)  # already signed: crossed off
    refused("unauthorized_hash", signature_sign_hashes, sad_token=token, hashes=digests(1, "other"),
            certificate=signer.certificate)
    assert len(signature_sign_hashes(sad_token=token, hashes=[hashes[2]], certificate=signer.certificate)) == 1
    refused("sad_expired", signature_sign_hashes, sad_token=token, hashes=[hashes[2]],
            certificate=signer.certificate)  # used up

    activation.refresh_from_db()
    assert activation.signatures_left == 0 and activation.closed_at is not None
    assert bytes(activation.wrapped_data_key) == b""
    records = signature_list_for_holder(user=signer.holder.user)
    assert records.count() == 3 and {r.level for r in records} == {"hash"}
    assert {r.document_sha256 for r in records} == {h.hex() for h in hashes}
    assert AuditEvent.objects.filter(event_type="signature.refused", details__error="unauthorized_hash").count() == 2


def test_more_signatures_than_authorized_are_refused_and_nothing_is_spent(signer, pdf):
    activation, token = authorize(signer, num_signatures=2)

    refused("num_signatures_too_high", signature_sign_documents, sad_token=token,
            documents=[pdf, pdf, pdf], certificate=signer.certificate)

    activation.refresh_from_db()
    assert activation.signatures_left == 2
    signed = signature_sign_documents(sad_token=token, documents=[pdf, pdf], certificate=signer.certificate,
                                      level="B-T", names=["a.pdf", "b.pdf"])
    assert len(signed) == 2 and all(s.startswith(b"%PDF") for s in signed)
    history = list(signature_list_for_holder(user=signer.holder.user))
    assert {r.document_name for r in history} == {"a.pdf", "b.pdf"}
    assert history[0].document_sha256 == hashlib.sha256(pdf).hexdigest() and history[0].level == "B-T"


def test_documents_of_a_hash_bound_activation_must_be_the_authorized_ones(signer):
    wanted, other = pdf_make("one"), pdf_make("two")
    _, token = authorize(signer, hashes=[hashlib.sha256(wanted).digest()], channel=Channel.API)

    refused("unauthorized_hash", signature_sign_documents, sad_token=token, documents=[other],
            certificate=signer.certificate)
    assert signature_sign_documents(sad_token=token, documents=[wanted], certificate=signer.certificate)


def test_an_expired_activation_is_refused_and_loses_its_key(signer):
    activation, token = authorize(signer, hashes=digests(1))
    SignatureActivation.objects.filter(pk=activation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    refused("sad_expired", signature_sign_hashes, sad_token=token, hashes=digests(1), certificate=signer.certificate)

    activation.refresh_from_db()
    assert activation.closed_at is not None and bytes(activation.wrapped_data_key) == b""


def test_the_purge_job_erases_activations_nobody_came_back_to(signer):
    activation, _ = authorize(signer, num_signatures=1)
    assert signature_activations_purge(now=timezone.now() + timedelta(minutes=6)) == 1
    activation.refresh_from_db()
    assert bytes(activation.wrapped_data_key) == b""


def test_another_certificate_or_a_forged_token_is_refused(signer, world):
    _, token = authorize(signer, hashes=digests(1))
    other = active(world.alpha.holders[1])

    refused("invalid_request", signature_sign_hashes, sad_token=token, hashes=digests(1), certificate=other)
    forged = token[:22] + ("A" if token[22] != "A" else "B") + token[23:]  # same id, another K
    refused("sad_expired", signature_sign_hashes, sad_token=forged, hashes=digests(1), certificate=signer.certificate)
    refused("invalid_request", signature_sign_hashes, sad_token="not-a-token", hashes=digests(1),
            certificate=signer.certificate)
    # None of this spent the authorization.
    assert signature_sign_hashes(sad_token=token, hashes=digests(1), certificate=signer.certificate)


def test_the_sad_is_bound_to_its_api_client_and_organization(signer, world):
    mine = Client("client-alpha", world.alpha.organization.pk)
    _, token = authorize(signer, hashes=digests(2), channel=Channel.CSC, client=mine)

    refused("invalid_request", signature_sign_hashes, sad_token=token, hashes=digests(1),
            certificate=signer.certificate, client=Client("client-beta", world.beta.organization.pk))
    refused("invalid_request", signature_sign_hashes, sad_token=token, hashes=digests(1),
            certificate=signer.certificate)  # without the client
    refused("invalid_request", authorize, signer, hashes=digests(1), client=Client("x", world.beta.organization.pk))
    assert signature_sign_hashes(sad_token=token, hashes=digests(1), certificate=signer.certificate, client=mine)


def test_wrong_pins_count_and_the_fifth_blocks_the_certificate(signer):
    for attempt in range(1, 5):
        error = refused("invalid_pin", authorize, signer, pin="00000000")
        assert str(5 - attempt) in str(error)
    refused("locked_pin", authorize, signer, pin="00000000")

    certificate = Certificate.objects.get(pk=signer.certificate.pk)
    assert certificate.state == CertificateState.BLOCKED and certificate.pin_failures == 5
    signer.certificate = certificate
    refused("locked_pin", authorize, signer)  # even with the right PIN
    assert AuditEvent.objects.filter(event_type="signature.refused", details__error="invalid_pin").count() == 4


def test_a_wrong_otp_counts_on_the_device_and_the_pin_is_not_tried(signer, settings):
    settings.OTP_MAX_FAILURES = 3
    refused("invalid_otp", authorize, signer, otp_code="000000")
    refused("invalid_otp", authorize, signer, otp_code="000001")
    refused("locked_otp", authorize, signer, otp_code="000002")

    assert OtpDevice.objects.get(pk=signer.device.pk).failure_count == 3
    assert Certificate.objects.get(pk=signer.certificate.pk).pin_failures == 0
    refused("locked_otp", authorize, signer)  # a right code on a locked device


def test_sms_codes_authorize_too(signer, settings):
    from tests.otp.test_sms_codes import deliver  # noqa: PLC0415

    settings.SMS_BACKEND = "tests.notifications.backends.ScriptedSmsBackend"
    code = deliver(sms_code_issue(holder=signer.holder, purpose="sign"))

    refused("invalid_otp", authorize, signer, otp_device=None, sms=True, otp_code="999999")
    activation, token = authorize(signer, otp_device=None, sms=True, otp_code=code, hashes=digests(1))
    assert signature_sign_hashes(sad_token=token, hashes=digests(1), certificate=signer.certificate)
    used = refused("otp_replayed", authorize, signer, otp_device=None, sms=True, otp_code=code)
    assert str(used.message) == "This code has already been used. Use a new code."


def test_a_replayed_otp_reads_already_used_and_counts_on_neither_device_nor_pin(signer):
    code = signer.otp()
    authorize(signer, otp_code=code)

    for _attempt in range(3):
        error = refused("otp_replayed", authorize, signer, otp_code=code)
        assert str(error.message) == "This code has already been used. Use a new code." and error.field == "otp"

    assert OtpDevice.objects.get(pk=signer.device.pk).failure_count == 0
    assert Certificate.objects.get(pk=signer.certificate.pk).pin_failures == 0
    assert AuditEvent.objects.filter(event_type="otp.code_replayed").count() == 3
    assert AuditEvent.objects.filter(event_type="signature.refused", details__error="otp_replayed").count() == 3


def test_signing_while_suspended_is_refused_and_after_reactivation_needs_a_new_authorization(signer):
    _, token = authorize(signer, hashes=digests(2))

    certificate_suspend(certificate=signer.certificate)
    refused("credential_is_disabled", signature_sign_hashes, sad_token=token, hashes=digests(1),
            certificate=signer.certificate)
    signer.certificate.refresh_from_db()
    refused("credential_is_disabled", authorize, signer, hashes=digests(1))

    certificate_reactivate(certificate=signer.certificate)
    refused("sad_expired", signature_sign_hashes, sad_token=token, hashes=digests(1), certificate=signer.certificate)


def test_the_activation_row_holds_no_usable_key_material(signer, key_vault):
    activation, token = authorize(signer, num_signatures=2)
    private_key = certificate_key_unlock(certificate=signer.certificate, pin=PIN)
    if key_vault == "pkcs11":
        # The key was generated in the device and never left it: there is no DER to look for.
        with pytest.raises(KeyUnavailable):
            private_key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        der = b"\x00" * 64
    else:
        der = private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    activation.refresh_from_db()
    row = repr({f.name: getattr(activation, f.name) for f in SignatureActivation._meta.fields}).encode()
    wrapped = bytes(activation.wrapped_data_key)
    assert der not in row and der[-64:] not in wrapped and token.encode() not in row
    # Without the token's key the wrapped data key does not decrypt — not with another key, not without AAD.
    for key in (AESGCM.generate_key(bit_length=256), bytes(32)):
        with pytest.raises(Exception):  # noqa: B017, PT011
            AESGCM(key).decrypt(wrapped[:12], wrapped[12:], activation.aad)
    assert not AuditEvent.objects.filter(details__icontains=token).exists()


def test_an_activation_reserved_for_a_job_is_usable_by_that_job_only(signer, world, pdf):
    from signing.models import SigningJob
    from signing.services import signature_activation_check, signature_activation_extend
    from tests.signing.conftest import api_client_for

    api_client, _secret = api_client_for(world.alpha, scopes=("batch", "csc"))
    activation, token = authorize(signer, hashes=[hashlib.sha256(pdf).digest()], channel=Channel.API,
                                  client=api_client)
    job = SigningJob.objects.create(organization=world.alpha.organization, client=api_client, holder=signer.holder,
                                    certificate=signer.certificate, level="B-B", total=1)
    SignatureActivation.objects.filter(pk=activation.pk).update(reserved_for=job)
    other_job = SigningJob.objects.create(organization=world.alpha.organization, client=api_client,
                                          holder=signer.holder, certificate=signer.certificate, level="B-B", total=1)
    mine = {"sad_token": token, "certificate": signer.certificate, "client": api_client}
    public_id = activation.public_id

    refused("sad_expired", signature_activation_check, documents=[pdf], **mine)
    refused("sad_expired", signature_activation_check, documents=[pdf], job=other_job, **mine)
    refused("sad_expired", signature_activation_extend, **mine)
    refused("sad_expired", signature_sign_documents, documents=[pdf], **mine)
    activation.refresh_from_db()
    assert activation.signatures_left == 1 and activation.public_id == public_id  # nothing spent, not re-keyed

    signature_activation_check(documents=[pdf], job=job, **mine)
    assert signature_sign_documents(documents=[pdf], job=job, **mine)[0].startswith(pdf)


def test_a_signing_that_fails_after_the_key_is_opened_spends_nothing_and_the_sad_still_signs(signer, pdf):
    _first, token = authorize(signer)
    already_signed = signature_sign_documents(sad_token=token, documents=[pdf], certificate=signer.certificate)[0]
    activation, token = authorize(signer, num_signatures=1)

    # A certification signature must be a document's first: the signer says no to a signed document
    # once the SAD has been checked and the key opened — the refusal counts nothing and records nothing.
    refused("invalid_request", signature_sign_documents, sad_token=token, documents=[already_signed],
            certificate=signer.certificate, certify=True)

    activation.refresh_from_db()
    assert activation.signatures_left == 1 and activation.closed_at is None
    assert not activation.records.exists()
    assert AuditEvent.objects.filter(event_type="signature.refused", details__step="sign").exists()
    other = pdf_make("Altro verbale")
    (signed,) = signature_sign_documents(sad_token=token, documents=[other], certificate=signer.certificate)
    activation.refresh_from_db()
    assert signed.startswith(other) and activation.signatures_left == 0
