"""Renewal services, proved through the real services: every transition, every refusal with its words,
the signed form as a relying party sees it, the reminders a renewal silences, tenant isolation, and
the races the database must decide (PostgreSQL).

Dates: a fresh certificate expires in 36 months; the tests open the renewal window wide (2000 days
before expiry) rather than moving the clock, and give ``today``/``now`` to the jobs that take them.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import threading
from datetime import date, datetime, timedelta
from io import BytesIO

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.utils import timezone
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from accounts.models import ContactKind, ContactOwnership, Organization
from accounts.services.people import holder_contacts_update
from audit.models import AuditEvent
from certificates.models import AuthorityRole, Certificate, CertificateKey, CertificateState, Crl, RevocationReason
from certificates.selectors import certificate_current_for_holder
from certificates.services import certificate_suspend
from certificates.services.reminders import expiry_reminders_send, reminder_key
from certificates.services.schedule import certificates_expire_unactivated
from core.errors import ApplicationError
from notifications.models import Message, MessageStatus
from otp.models import DeviceKind
from otp.services import device_create
from renewal.models import ExpiryCause, RenewalRequest, RenewalState
from renewal.selectors import renewal_get_for_holder, renewal_get_for_operator
from renewal.services import (
    holder_data,
    renewal_activate,
    renewal_approve,
    renewal_cancel,
    renewal_consents_accept,
    renewal_data_confirm,
    renewal_operator_digest_send,
    renewal_reject,
    renewal_requests_expire_due,
    renewal_start,
    renewal_submit,
    renewals_approve,
)
from signing.models import SignatureActivation
from signing.services import signature_sign_documents
from tests.certificates.conftest import PIN, active, english_messages  # noqa: F401  (service messages read in English)
from tests.conftest import HOLDER_PASSWORD, login
from tests.signing.conftest import HOTP_SEED, Signer, authorize, pdf_make

WIDE_WINDOW_DAYS = 2000
NEW_PIN = "Nuovo-Argine-58"
WRONG_PIN = "9182736450"
State = RenewalState


# --- Helpers: a holder ready to renew, and a request driven through the real services -----------------


def window_open(organization: Organization, days: int = WIDE_WINDOW_DAYS) -> None:
    """Renewal opens ``days`` before expiry: with 2000, a certificate issued today is already in the window."""
    Organization.objects.filter(pk=organization.pk).update(renewal_window_days=days)
    organization.renewal_window_days = days


def renewer_for(holder, serial: str = "4000000000001") -> Signer:  # noqa: ANN001
    """``holder`` with an active certificate (PIN ``PIN``) and an HOTP token."""
    certificate = active(holder)
    device = device_create(kind=DeviceKind.HARDWARE_HOTP, seed=HOTP_SEED, holder=holder, serial=serial)
    return Signer(holder=holder, certificate=certificate, device=device)


@pytest.fixture
def renewer(world, ca) -> Signer:  # noqa: ANN001
    """Alpha's first holder (Mario Rossi), in the renewal window."""
    window_open(world.alpha.organization)
    return renewer_for(world.alpha.holder)


def started(s: Signer) -> RenewalRequest:
    return renewal_start(holder=s.holder, certificate=s.certificate)


def confirmed(s: Signer) -> RenewalRequest:
    return renewal_data_confirm(request=started(s))


def consented(s: Signer) -> RenewalRequest:
    request = confirmed(s)
    return renewal_consents_accept(
        request=request, form_sha256=request.form_sha256, data_still_valid=True, conditions_accepted=True
    )


def sign(s: Signer, request: RenewalRequest, pin: str = PIN) -> RenewalRequest:
    return renewal_submit(request=request, pin=pin, otp_code=s.otp(), otp_device=s.device)


def submitted(s: Signer) -> RenewalRequest:
    """A request driven to ``submitted``: started, data confirmed, consents given, form signed."""
    return sign(s, consented(s))


def approved(s: Signer, tenant) -> RenewalRequest:  # noqa: ANN001
    """Submitted and approved by ``tenant``'s operator: the new certificate is issued."""
    return renewal_approve(request=submitted(s), actor=tenant.operator.user)


def refused(code: str, call, **kwargs) -> ApplicationError:  # noqa: ANN001
    with pytest.raises(ApplicationError) as info:
        call(**kwargs)
    assert info.value.code == code, (info.value.code, str(info.value.message))
    return info.value


def fresh(request: RenewalRequest) -> RenewalRequest:
    return RenewalRequest.objects.get(pk=request.pk)


def certificate(pk: int) -> Certificate:
    return Certificate.objects.get(pk=pk)


def messages(message_type: str, **filters) -> list[Message]:
    found = list(Message.objects.filter(message_type=message_type, **filters).order_by("pk"))
    for message in found:  # rendered, not recorded dead for a missing variable or template
        assert message.status == MessageStatus.QUEUED and not message.last_error, (message_type, message.last_error)
    return found


def pdf_text(data: bytes) -> str:
    """The text of a PDF (poppler's pdftotext), its whitespace and line wraps collapsed to single spaces."""
    assert shutil.which("pdftotext"), "the renewal form tests read PDFs with pdftotext: apt-get install poppler-utils"
    result = subprocess.run(["pdftotext", "-", "-"], input=bytes(data), capture_output=True, timeout=60, check=True)
    return " ".join(result.stdout.decode().split())


def local(day: date, hour: int = 10) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()).replace(hour=hour))


# --- Start ---------------------------------------------------------------------------------------------


def test_start_opens_a_draft_with_the_data_on_record(world, renewer):
    request = started(renewer)

    assert request.state == State.DRAFT and request.is_open
    assert request.old_certificate_id == renewer.certificate.pk
    assert request.holder_id == renewer.holder.pk and request.organization_id == world.alpha.organization.pk
    assert request.data_on_record == holder_data(renewer.holder)
    assert request.data_on_record["codice_fiscale"] == "RSSMRA80A01F257G"
    assert request.number == f"RIN-{timezone.localdate(request.created_at).year}-{request.pk:06d}"
    assert AuditEvent.objects.filter(event_type="renewal.started").count() == 1


def test_start_again_resumes_the_open_draft(renewer):
    first = started(renewer)
    confirmed(renewer)

    again = started(renewer)

    assert again.pk == first.pk and again.data_confirmed_at is not None
    assert RenewalRequest.objects.count() == 1


def test_a_new_request_may_start_once_the_previous_one_is_cancelled(renewer):
    first = renewal_cancel(request=started(renewer))

    second = started(renewer)

    assert second.pk != first.pk and second.state == State.DRAFT
    assert fresh(first).state == State.CANCELLED


# --- Data review ---------------------------------------------------------------------------------------


def test_data_confirm_snapshots_the_data_and_generates_the_form(renewer):
    request = confirmed(renewer)

    assert request.data_confirmed == holder_data(renewer.holder) == request.data_on_record
    assert request.data_changes == [] and request.data_confirmed_at is not None
    form = bytes(fresh(request).form_pdf)
    assert form.startswith(b"%PDF-")
    assert request.form_sha256 == hashlib.sha256(form).hexdigest()
    assert request.conditions_sha256 == hashlib.sha256(bytes(fresh(request).conditions_pdf)).hexdigest()
    assert request.form_language == "it" and request.form_generated_at is not None
    text = pdf_text(form)
    for expected in ("Mario", "Rossi", "RSSMRA80A01F257G", renewer.certificate.iut, request.number,
                     request.conditions_sha256):
        assert expected in text, expected


def test_an_english_speaking_holder_gets_the_form_in_english(renewer):
    user = renewer.holder.user
    user.preferred_language = "en"
    user.save(update_fields=["preferred_language"])

    request = submitted(renewer)

    assert request.form_language == "en"
    assert "Renewal form for the qualified remote signature certificate" in pdf_text(bytes(fresh(request).form_pdf))
    reason = PdfFileReader(BytesIO(bytes(fresh(request).signed_form_pdf))).embedded_signatures[0].sig_object["/Reason"]
    assert str(reason) == f"Renewal request {request.number}"


def test_data_confirm_records_contacts_changed_after_the_start(renewer):
    holder = renewer.holder
    request = started(renewer)
    holder_contacts_update(holder=holder, actor=holder.user, email="mario.rossi@nuovo.example.org",
                           mobile="+393471000099")

    request = renewal_data_confirm(request=request)

    assert request.data_changes == [
        {"field": "email", "before": "mario.rossi@alpha.example.org", "after": "mario.rossi@nuovo.example.org"},
        {"field": "mobile", "before": "+393471000001", "after": "+393471000099"},
    ]
    assert request.data_on_record["email"] == "mario.rossi@alpha.example.org"
    assert request.data_confirmed["email"] == "mario.rossi@nuovo.example.org"
    assert "mario.rossi@nuovo.example.org" in pdf_text(bytes(fresh(request).form_pdf))


def test_data_confirmed_again_withdraws_the_consents_given_to_the_earlier_form(renewer):
    request = consented(renewer)

    again = renewal_data_confirm(request=request)

    assert again.consent_data_valid_at is None and again.consent_conditions_at is None
    refused("step_skipped", sign, s=renewer, request=again)


def test_data_confirm_is_refused_when_a_contact_belongs_to_another_person(renewer):
    request = started(renewer)
    ContactOwnership.objects.filter(kind=ContactKind.EMAIL, value=renewer.holder.email).delete()
    ContactOwnership.objects.create(kind=ContactKind.EMAIL, value=renewer.holder.email,
                                    codice_fiscale="BNCLRA75M41H501X")

    error = refused("contact_of_another_person", renewal_data_confirm, request=request)

    assert "e-mail address is registered to a different codice fiscale" in str(error.message)
    assert error.field == ContactKind.EMAIL
    request = fresh(request)
    assert request.data_confirmed_at is None and not request.form_sha256


# --- Consents ------------------------------------------------------------------------------------------


def test_consents_accept_records_both_consents_for_the_form_seen(renewer):
    request = consented(renewer)

    assert request.consent_data_valid_at is not None and request.consent_conditions_at is not None
    assert request.state == State.DRAFT
    event = AuditEvent.objects.get(event_type="renewal.consents_given")
    assert event.details["form_sha256"] == request.form_sha256


def test_consents_are_refused_unless_both_are_given(renewer):
    request = confirmed(renewer)

    for data_still_valid, conditions_accepted in ((True, False), (False, True), (False, False)):
        error = refused("consent_required", renewal_consents_accept, request=request, form_sha256=request.form_sha256,
                        data_still_valid=data_still_valid, conditions_accepted=conditions_accepted)
        assert "accept the general conditions" in str(error.message)
    assert fresh(request).consent_conditions_at is None


def test_consents_are_refused_before_the_data_are_confirmed(renewer):
    request = started(renewer)

    error = refused("step_skipped", renewal_consents_accept, request=request, form_sha256="0" * 64,
                    data_still_valid=True, conditions_accepted=True)

    assert str(error.message) == "Review and confirm your data first."
    assert fresh(request).consent_data_valid_at is None


def test_consents_are_refused_for_a_form_other_than_the_one_generated(renewer):
    request = confirmed(renewer)
    tampered = ("0" if request.form_sha256[0] != "0" else "1") + request.form_sha256[1:]

    error = refused("form_changed", renewal_consents_accept, request=request, form_sha256=tampered,
                    data_still_valid=True, conditions_accepted=True)

    assert "The renewal form has changed since you opened it" in str(error.message)
    assert fresh(request).consent_data_valid_at is None


# --- Submission (the form signed with the certificate being renewed) ------------------------------------


def test_submit_signs_the_form_and_notifies_the_holder_and_the_operators(world, renewer):
    request = submitted(renewer)

    assert request.state == State.SUBMITTED and request.submitted_at is not None
    stored = fresh(request)
    signed = bytes(stored.signed_form_pdf)
    assert stored.signed_form_sha256 == hashlib.sha256(signed).hexdigest()
    assert signed.startswith(bytes(stored.form_pdf)) and len(signed) > len(bytes(stored.form_pdf))
    assert [m.recipient for m in messages("renewal_submitted")] == [renewer.holder.email]
    operators = messages("renewal_operator_submitted")
    assert sorted(m.recipient for m in operators) == sorted([world.alpha.operator.email, world.alpha.admin.email])
    assert {m.organization_id for m in operators} == {world.alpha.organization.pk}
    assert request.number in operators[0].body_text
    assert messages("renewal_approved") == []
    assert renewer.certificate.state == certificate(renewer.certificate.pk).state == CertificateState.ACTIVE


def test_the_signed_form_validates_with_pyhanko_against_the_root(ca, renewer):
    request = submitted(renewer)
    signed = bytes(fresh(request).signed_form_pdf)

    reader = PdfFileReader(BytesIO(signed))
    assert len(reader.embedded_signatures) == 1
    embedded = reader.embedded_signatures[0]
    root = asn1_x509.Certificate.load(bytes(ca[AuthorityRole.ROOT].der))
    issuing = asn1_x509.Certificate.load(bytes(ca[AuthorityRole.ISSUING].der))
    context = ValidationContext(trust_roots=[root], other_certs=[issuing], allow_fetching=False)
    status = validate_pdf_signature(embedded, context, ts_validation_context=context)

    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert embedded.signer_cert.serial_number == int(renewer.certificate.serial)
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted
    assert request.number in str(embedded.sig_object["/Reason"])


def test_submit_is_refused_without_consents(renewer):
    request = confirmed(renewer)

    error = refused("step_skipped", sign, s=renewer, request=request)

    assert str(error.message) == "Give both consents before signing the renewal form."
    assert fresh(request).state == State.DRAFT and not SignatureActivation.objects.exists()


def test_submit_is_refused_when_the_stored_form_was_altered(renewer):
    request = consented(renewer)
    form = bytes(fresh(request).form_pdf)
    RenewalRequest.objects.filter(pk=request.pk).update(form_pdf=form.replace(b"Rossi", b"Rosso", 1) + b"\n")

    error = refused("form_changed", sign, s=renewer, request=request)

    assert "The renewal form has changed since you opened it" in str(error.message)
    assert fresh(request).state == State.DRAFT and not fresh(request).signed_form_sha256
    # Refused before the PIN was even tried: nothing authorized, nothing counted.
    assert not SignatureActivation.objects.exists()
    assert certificate(renewer.certificate.pk).pin_failures == 0


def test_submit_twice_is_refused(renewer):
    request = submitted(renewer)

    error = refused("invalid_transition", sign, s=renewer, request=request)

    assert str(error.message) == "This renewal request has already been signed and sent."


def test_a_wrong_pin_while_signing_the_form_counts_towards_blocking_the_certificate(renewer):
    request = consented(renewer)

    error = refused("invalid_pin", sign, s=renewer, request=request, pin=WRONG_PIN)

    assert "attempts left before the certificate is blocked" in str(error.message)
    old = certificate(renewer.certificate.pk)
    assert old.pin_failures == 1 and old.state == CertificateState.ACTIVE
    assert fresh(request).state == State.DRAFT
    assert sign(renewer, request).state == State.SUBMITTED  # the right PIN still works
    assert certificate(renewer.certificate.pk).pin_failures == 0


def test_a_wrong_otp_while_signing_the_form_is_refused_before_the_pin_is_tried(renewer):
    request = consented(renewer)

    with pytest.raises(ApplicationError) as info:
        renewal_submit(request=request, pin=WRONG_PIN, otp_code="000000", otp_device=renewer.device)

    assert info.value.code == "invalid_otp"
    assert certificate(renewer.certificate.pk).pin_failures == 0
    assert fresh(request).state == State.DRAFT and not SignatureActivation.objects.exists()


def test_the_last_wrong_pin_while_signing_the_form_blocks_the_certificate(world, renewer):
    request = consented(renewer)
    retries = world.alpha.organization.pin_max_retries
    assert retries == 5

    for attempt in range(1, retries):
        refused("invalid_pin", sign, s=renewer, request=request, pin=WRONG_PIN)
        assert certificate(renewer.certificate.pk).pin_failures == attempt
    error = refused("locked_pin", sign, s=renewer, request=request, pin=WRONG_PIN)

    assert "the certificate is now blocked" in str(error.message)
    assert certificate(renewer.certificate.pk).state == CertificateState.BLOCKED
    assert fresh(request).state == State.DRAFT
    refused("renewal_not_active", sign, s=renewer, request=request)  # not even with the right PIN
    # The scheduled job closes the draft: the certificate it renews has ended.
    assert renewal_requests_expire_due() == 1
    assert fresh(request).state == State.EXPIRED and fresh(request).expiry_cause == ExpiryCause.OLD_CERTIFICATE_ENDED
    assert messages("renewal_expired") == []  # a draft closes quietly: nothing was sent to anyone


# --- Approval --------------------------------------------------------------------------------------------


def test_approve_issues_a_new_certificate_that_renews_the_old_one(world, renewer):
    request = approved(renewer, world.alpha)

    old, new = certificate(renewer.certificate.pk), request.new_certificate
    new.refresh_from_db()
    assert request.state == State.ISSUED and fresh(request).state == State.ISSUED
    assert request.decided_by_id == world.alpha.operator.user.pk and not request.automatic
    assert request.decided_at is not None and request.issued_at is not None
    assert new.state == CertificateState.ISSUED and new.replaces_id == old.pk
    assert new.serial != old.serial and new.iut != old.iut
    old_key, new_key = CertificateKey.objects.get(certificate=old), CertificateKey.objects.get(certificate=new)
    assert new_key.public_key_sha256 != old_key.public_key_sha256
    assert (new.subject_common_name, new.subject_serial_number, new.subject_organization) == (
        old.subject_common_name, old.subject_serial_number, old.subject_organization)
    old_x509, new_x509 = x509.load_der_x509_certificate(bytes(old.der)), x509.load_der_x509_certificate(bytes(new.der))
    # The same person and role; only dnQualifier, the certificate's own IUT, is new.
    def without_iut(name: x509.Name) -> list:
        return [a for a in name if a.oid != x509.NameOID.DN_QUALIFIER]

    assert without_iut(new_x509.subject) == without_iut(old_x509.subject)
    assert new_x509.subject.get_attributes_for_oid(x509.NameOID.DN_QUALIFIER)[0].value == new.iut
    assert new_x509.public_key().public_numbers() != old_x509.public_key().public_numbers()
    assert old.state == CertificateState.ACTIVE  # until the new one is activated
    [message] = messages("renewal_approved")
    assert message.recipient == renewer.holder.email and new.iut in message.body_text
    assert AuditEvent.objects.filter(event_type__in=["renewal.approved", "renewal.issued"]).count() == 2


def test_renewals_approve_approves_each_and_names_the_refused(world, renewer):
    laura = renewer_for(world.alpha.holders[1], serial="4000000000002")
    first, second = submitted(renewer), submitted(laura)
    renewal_reject(request=second, actor=world.alpha.operator.user, reason="Documento scaduto")

    count, refusals = renewals_approve(requests=[first, fresh(second)], actor=world.alpha.operator.user)

    assert count == 1 and fresh(first).state == State.ISSUED
    assert refusals == [f"{second.number}: This renewal request is not waiting for a decision: it has already been "
                        "decided or closed."]


@pytest.mark.parametrize("decision", ["approved", "rejected"])
def test_approve_is_refused_for_a_request_already_decided(world, renewer, decision):
    request = submitted(renewer)
    if decision == "approved":
        renewal_approve(request=request, actor=world.alpha.operator.user)
    else:
        renewal_reject(request=request, actor=world.alpha.operator.user, reason="Dati non aggiornati")
    certificates = Certificate.objects.count()

    error = refused("invalid_transition", renewal_approve, request=request, actor=world.alpha.admin.user)

    assert "already been decided or closed" in str(error.message)
    assert Certificate.objects.count() == certificates
    assert fresh(request).decided_by_id == world.alpha.operator.user.pk


def test_a_refused_approval_leaves_nothing_half_done(world, renewer):
    """The refusal comes after the request was moved to approved, inside the transaction: all rolled back."""
    request = submitted(renewer)
    Organization.objects.filter(pk=world.alpha.organization.pk).update(is_active=False)
    certificates = Certificate.objects.count()

    refused("organization_inactive", renewal_approve, request=request, actor=world.alpha.operator.user)

    request = fresh(request)
    assert request.state == State.SUBMITTED and request.decided_at is None and request.decided_by_id is None
    assert request.new_certificate_id is None
    assert Certificate.objects.count() == certificates
    assert not Certificate.objects.filter(replaces=renewer.certificate).exists()
    assert not AuditEvent.objects.filter(event_type__in=["renewal.approved", "renewal.issued"]).exists()
    assert messages("renewal_approved") == []


def test_approve_is_refused_once_the_old_certificate_is_suspended(world, renewer):
    request = submitted(renewer)
    certificate_suspend(certificate=renewer.certificate)
    certificates = Certificate.objects.count()

    error = refused("old_certificate_not_active", renewal_approve, request=request, actor=world.alpha.operator.user)

    assert "no longer active (suspended, revoked or expired)" in str(error.message)
    assert Certificate.objects.count() == certificates and fresh(request).state == State.SUBMITTED


# --- Rejection and cancellation -------------------------------------------------------------------------


def test_reject_closes_the_request_and_tells_the_holder_why(world, renewer):
    request = submitted(renewer)

    request = renewal_reject(request=request, actor=world.alpha.operator.user,
                             reason="  La qualifica indicata non è più attuale.  ")

    assert request.state == State.REJECTED and fresh(request).state == State.REJECTED
    assert request.decision_reason == "La qualifica indicata non è più attuale."
    assert request.decided_by_id == world.alpha.operator.user.pk and request.decided_at is not None
    [message] = messages("renewal_rejected")
    assert message.recipient == renewer.holder.email
    assert "La qualifica indicata non è più attuale." in message.body_text
    assert not Certificate.objects.filter(replaces=renewer.certificate).exists()
    assert certificate(renewer.certificate.pk).state == CertificateState.ACTIVE


def test_the_rejection_reason_is_escaped_in_the_html_message(world, renewer):
    request = submitted(renewer)

    renewal_reject(request=request, actor=world.alpha.operator.user,
                   reason='<a href="https://evil.example">Clicca qui</a>\nseconda riga')

    [message] = messages("renewal_rejected")
    assert "<a href=\"https://evil.example\">" not in message.body_html
    assert "&lt;a href=&quot;https://evil.example&quot;&gt;Clicca qui&lt;/a&gt;<br>seconda riga" in message.body_html


@pytest.mark.parametrize("reason", ["", "   \n\t "])
def test_reject_needs_a_reason(world, renewer, reason):
    request = submitted(renewer)

    error = refused("reason_required", renewal_reject, request=request, actor=world.alpha.operator.user,
                    reason=reason)

    assert str(error.message) == "Say why the request is rejected: the holder will read it."
    assert fresh(request).state == State.SUBMITTED and messages("renewal_rejected") == []


@pytest.mark.parametrize(
    ("reason", "code", "words"),
    [
        ("x" * 10_000, "reason_too_long", "The reason is too long (at most 2000 characters)."),
        ("Motivo\x00nascosto", "invalid_reason", "The reason contains characters that are not allowed."),
    ],
    ids=["10000-characters", "nul-byte"],
)
def test_reject_refuses_an_unacceptable_reason_and_changes_nothing(world, renewer, reason, code, words):
    request = submitted(renewer)
    before = fresh(request).updated_at

    error = refused(code, renewal_reject, request=request, actor=world.alpha.operator.user, reason=reason)

    assert str(error.message) == words
    request = fresh(request)
    assert request.state == State.SUBMITTED and request.decision_reason == "" and request.decided_at is None
    assert request.updated_at == before
    assert messages("renewal_rejected") == []


@pytest.mark.parametrize("stage", ["draft", "submitted"])
def test_cancel_withdraws_a_request_before_the_decision(renewer, stage):
    request = started(renewer) if stage == "draft" else submitted(renewer)

    request = renewal_cancel(request=request)

    assert request.state == State.CANCELLED and request.cancelled_at is not None and not request.is_open
    assert fresh(request).state == State.CANCELLED
    assert certificate(renewer.certificate.pk).state == CertificateState.ACTIVE


def test_cancel_is_refused_after_approval(world, renewer):
    request = approved(renewer, world.alpha)

    error = refused("invalid_transition", renewal_cancel, request=request)

    assert str(error.message) == (
        "This renewal request can no longer be cancelled: it has already been decided or closed."
    )
    assert fresh(request).state == State.ISSUED and fresh(request).cancelled_at is None


# --- Activation -------------------------------------------------------------------------------------------


def _assert_superseded(old: Certificate, new: Certificate, request: RenewalRequest, *, held: bool = False) -> None:
    old.refresh_from_db()
    new.refresh_from_db()
    assert fresh(request).state == State.ACTIVATED and fresh(request).activated_at is not None
    assert new.state == CertificateState.ACTIVE
    assert old.state == CertificateState.REVOKED and old.revocation_reason == RevocationReason.SUPERSEDED
    # Listed as revoked from the moment it was no longer good: the start of its hold, if it was suspended.
    assert old.revoked_at is not None and old.revocation_time == (old.suspended_at if held else old.revoked_at)
    key = CertificateKey.objects.get(certificate=old)
    assert key.destroyed_at is not None and bytes(key.key_ciphertext) == b"" and bytes(key.wrapped_data_key) == b""
    notices = Message.objects.filter(message_type="security_notice", holder=request.holder,
                                     idempotency_key__startswith="security:certificate_renewed:")
    assert notices.count() == 1


def _signs(s: Signer, certificate_row: Certificate, pin: str) -> bytes:
    _activation, sad = authorize(s, certificate=certificate_row, pin=pin)
    return signature_sign_documents(sad_token=sad, documents=[pdf_make("Verbale dopo il rinnovo")],
                                    certificate=certificate_row)[0]


def test_activate_with_a_new_pin_supersedes_the_old_certificate(world, renewer):
    request = approved(renewer, world.alpha)
    old, new = renewer.certificate, request.new_certificate

    request = renewal_activate(request=request, new_pin=NEW_PIN)

    assert request.state == State.ACTIVATED
    _assert_superseded(old, new, request)
    assert AuditEvent.objects.get(event_type="renewal.activated").details["pin_choice"] == "new"
    assert _signs(renewer, new, NEW_PIN).startswith(b"%PDF")
    refused("credential_is_disabled", authorize, signer=renewer, certificate=old, pin=PIN)
    refused("invalid_pin", authorize, signer=renewer, certificate=new, pin=PIN)  # the old PIN does not open it


def test_activate_keeping_the_current_pin_supersedes_the_old_certificate(world, renewer):
    request = approved(renewer, world.alpha)
    old, new = renewer.certificate, request.new_certificate

    request = renewal_activate(request=request, current_pin=PIN)

    _assert_superseded(old, new, request)
    details = AuditEvent.objects.get(event_type="renewal.activated").details
    assert details["new_iut"] == new.iut and details["pin_choice"] == "kept"
    assert _signs(renewer, new, PIN).startswith(b"%PDF")
    refused("credential_is_disabled", authorize, signer=renewer, certificate=old, pin=PIN)


def test_activate_with_a_wrong_current_pin_counts_and_changes_nothing(world, renewer):
    request = approved(renewer, world.alpha)

    refused("invalid_pin", renewal_activate, request=request, current_pin=WRONG_PIN)

    assert certificate(renewer.certificate.pk).pin_failures == 1
    assert certificate(renewer.certificate.pk).state == CertificateState.ACTIVE
    assert certificate(request.new_certificate_id).state == CertificateState.ISSUED
    assert fresh(request).state == State.ISSUED


def test_activation_lists_the_old_certificate_as_superseded_on_the_crl(world, renewer,
                                                                      django_capture_on_commit_callbacks):
    request = approved(renewer, world.alpha)

    with django_capture_on_commit_callbacks(execute=True):
        renewal_activate(request=request, new_pin=NEW_PIN)

    old = certificate(renewer.certificate.pk)
    crl = x509.load_der_x509_crl(bytes(Crl.objects.filter(authority__role=AuthorityRole.ISSUING).latest("number").der))
    entry = crl.get_revoked_certificate_by_serial_number(int(old.serial))
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.superseded
    assert entry.revocation_date_utc == old.revocation_time.replace(microsecond=0)
    assert crl.get_revoked_certificate_by_serial_number(int(request.new_certificate.serial)) is None


def test_activating_the_renewal_supersedes_a_suspended_old_certificate_too(world, renewer):
    request = approved(renewer, world.alpha)
    certificate_suspend(certificate=renewer.certificate)

    renewal_activate(request=request, new_pin=NEW_PIN)

    _assert_superseded(renewer.certificate, request.new_certificate, request, held=True)


def test_keeping_the_current_pin_is_refused_once_the_old_certificate_is_not_active(world, renewer):
    request = approved(renewer, world.alpha)
    certificate_suspend(certificate=renewer.certificate)

    error = refused("current_pin_unavailable", renewal_activate, request=request, current_pin=PIN)

    assert str(error.message).startswith("Your previous certificate is no longer active, so its PIN cannot be reused")
    assert fresh(request).state == State.ISSUED
    assert certificate(request.new_certificate_id).state == CertificateState.ISSUED


def test_during_a_renewal_the_panel_talks_about_the_certificate_in_use(world, renewer):
    user = renewer.holder.user
    request = approved(renewer, world.alpha)

    assert certificate_current_for_holder(user=user).pk == renewer.certificate.pk

    renewal_activate(request=request, new_pin=NEW_PIN)

    assert certificate_current_for_holder(user=user).pk == request.new_certificate_id


# --- Deadlines ----------------------------------------------------------------------------------------------


def test_an_undecided_request_expires_when_the_old_certificate_expires_first(world, renewer):
    request = submitted(renewer)
    Certificate.objects.filter(pk=renewer.certificate.pk).update(not_after=timezone.now() - timedelta(minutes=1))
    certificates = Certificate.objects.count()

    # An operator who gets there before the job is refused, and nothing is issued.
    refused("old_certificate_not_active", renewal_approve, request=request, actor=world.alpha.operator.user)
    assert Certificate.objects.count() == certificates

    assert renewal_requests_expire_due() == 1
    request = fresh(request)
    assert request.state == State.EXPIRED and request.expiry_cause == ExpiryCause.OLD_CERTIFICATE_EXPIRED
    assert request.expired_at is not None
    [message] = messages("renewal_expired")
    assert message.recipient == renewer.holder.email
    assert renewal_requests_expire_due() == 0  # nothing twice


def test_an_issued_renewal_not_activated_by_its_deadline_expires_with_its_new_certificate(world, renewer):
    request = approved(renewer, world.alpha)
    new = certificate(request.new_certificate_id)
    after_deadline = new.activation_deadline + timedelta(seconds=1)

    assert renewal_requests_expire_due(now=new.activation_deadline - timedelta(seconds=1)) == 0
    assert renewal_requests_expire_due(now=after_deadline) == 1

    request = fresh(request)
    assert request.state == State.EXPIRED and request.expiry_cause == ExpiryCause.NOT_ACTIVATED
    new.refresh_from_db()
    assert new.state == CertificateState.EXPIRED
    assert CertificateKey.objects.get(certificate=new).destroyed_at is not None
    assert certificate(renewer.certificate.pk).state == CertificateState.ACTIVE  # the old one lives on
    assert len(messages("renewal_expired")) == 1
    refused("invalid_transition", renewal_activate, request=request, new_pin=NEW_PIN)


def test_a_renewal_whose_new_certificate_the_certificates_job_expired_first_is_closed(world, renewer):
    request = approved(renewer, world.alpha)
    after_deadline = request.new_certificate.activation_deadline + timedelta(seconds=1)
    assert certificates_expire_unactivated(now=after_deadline) == 1

    assert renewal_requests_expire_due(now=after_deadline) == 1

    request = fresh(request)
    assert request.state == State.EXPIRED and request.expiry_cause == ExpiryCause.NOT_ACTIVATED
    assert certificate(request.new_certificate_id).state == CertificateState.EXPIRED
    assert len(messages("renewal_expired")) == 1


# --- Automatic renewal ------------------------------------------------------------------------------------


def test_automatic_renewal_issues_at_submission_without_operators(world, renewer):
    Organization.objects.filter(pk=world.alpha.organization.pk).update(renewal_requires_approval=False)

    request = submitted(renewer)

    assert request.state == State.ISSUED and request.automatic and request.decided_by_id is None
    new = certificate(request.new_certificate_id)
    assert new.state == CertificateState.ISSUED and new.replaces_id == renewer.certificate.pk
    assert messages("renewal_operator_submitted") == [] and messages("renewal_submitted") == []
    [message] = messages("renewal_approved")
    assert message.recipient == renewer.holder.email and new.iut in message.body_text
    assert renewal_activate(request=request, new_pin=NEW_PIN).state == State.ACTIVATED


# --- Refusals at the start ----------------------------------------------------------------------------------


def test_start_is_refused_before_the_renewal_window_opens(world, ca):
    s = renewer_for(world.alpha.holder)  # the organization's default window: 60 days before expiry
    opens_on = timezone.localdate(s.certificate.not_after) - timedelta(days=60)

    error = refused("renewal_too_early", renewal_start, holder=s.holder, certificate=s.certificate)

    assert str(error.message) == f"Renewal opens on {opens_on:%d/%m/%Y}, 60 days before your certificate expires."
    assert not RenewalRequest.objects.exists()


def test_start_is_refused_for_a_suspended_certificate(renewer):
    certificate_suspend(certificate=renewer.certificate)

    error = refused("renewal_not_active", renewal_start, holder=renewer.holder, certificate=renewer.certificate)

    assert str(error.message) == "Your certificate is suspended: reactivate it before renewing it."
    assert not RenewalRequest.objects.exists()


def test_start_is_refused_where_the_organization_does_not_renew(world, renewer):
    Organization.objects.filter(pk=world.alpha.organization.pk).update(renewable=False)

    error = refused("renewal_not_renewable", renewal_start, holder=renewer.holder, certificate=renewer.certificate)

    assert str(error.message).startswith("Certificates of your organization cannot be renewed.")
    assert not RenewalRequest.objects.exists()


def test_start_is_refused_after_expiry(renewer):
    Certificate.objects.filter(pk=renewer.certificate.pk).update(not_after=timezone.now() - timedelta(seconds=1))

    error = refused("renewal_expired", renewal_start, holder=renewer.holder, certificate=renewer.certificate)

    assert str(error.message).startswith("Your certificate has expired, and an expired certificate cannot be renewed")
    assert not RenewalRequest.objects.exists()


def test_start_is_refused_for_another_holders_certificate(world, renewer):
    error = refused("not_found", renewal_start, holder=world.alpha.holders[1], certificate=renewer.certificate)

    assert str(error.message) == "Certificate not found."


def test_start_is_refused_while_a_renewal_is_under_way(renewer):
    request = submitted(renewer)

    error = refused("renewal_under_way", renewal_start, holder=renewer.holder, certificate=renewer.certificate)

    assert str(error.message) == "A renewal of this certificate is already under way."
    assert list(RenewalRequest.objects.values_list("pk", flat=True)) == [request.pk]


def test_the_database_allows_one_open_request_per_certificate(renewer):
    request = started(renewer)

    with pytest.raises(IntegrityError), transaction.atomic():
        RenewalRequest.objects.create(organization=request.organization, holder=request.holder,
                                      old_certificate=request.old_certificate)

    renewal_cancel(request=request)  # a closed request holds nothing
    RenewalRequest.objects.create(organization=request.organization, holder=request.holder,
                                  old_certificate=request.old_certificate)


def test_data_confirm_is_refused_once_the_certificate_is_suspended(renewer):
    request = started(renewer)
    certificate_suspend(certificate=renewer.certificate)

    error = refused("renewal_not_active", renewal_data_confirm, request=request)

    assert "suspended" in str(error.message) and fresh(request).data_confirmed_at is None


# --- Expiry reminders ---------------------------------------------------------------------------------------


def _reminder_day(s: Signer) -> date:
    """A day on which the certificate is in the 30-day reminder band (20 days left)."""
    return timezone.localdate(s.certificate.not_after) - timedelta(days=20)


def test_reminders_are_silent_while_a_renewal_is_under_way(renewer):
    submitted(renewer)

    assert expiry_reminders_send(today=_reminder_day(renewer)) == 0
    assert not Message.objects.filter(idempotency_key=reminder_key(renewer.certificate.pk, 30)).exists()


def test_a_draft_does_not_silence_the_reminders(renewer):
    confirmed(renewer)

    assert expiry_reminders_send(today=_reminder_day(renewer)) == 1


@pytest.mark.parametrize("outcome", ["rejected", "cancelled", "not_activated"])
def test_reminders_resume_once_the_renewal_is_rejected_cancelled_or_lapses(world, renewer, outcome):
    request = submitted(renewer)
    day = _reminder_day(renewer)
    assert expiry_reminders_send(today=day) == 0

    if outcome == "rejected":
        renewal_reject(request=request, actor=world.alpha.operator.user, reason="Ruolo cessato")
    elif outcome == "cancelled":
        renewal_cancel(request=request)
    else:
        new = renewal_approve(request=request, actor=world.alpha.operator.user).new_certificate
        assert expiry_reminders_send(today=day) == 0  # issued, waiting for activation: still under way
        assert renewal_requests_expire_due(now=new.activation_deadline + timedelta(seconds=1)) == 1

    assert expiry_reminders_send(today=day) == 1
    [reminder] = messages("certificate_expiry_reminder")
    assert reminder.idempotency_key == reminder_key(renewer.certificate.pk, 30)
    assert reminder.recipient == renewer.holder.email


# --- Tenant isolation ---------------------------------------------------------------------------------------


def test_getters_answer_another_organizations_user_as_if_the_request_did_not_exist(world, renewer):
    request = started(renewer)
    missing = request.pk + 1000

    assert renewal_get_for_holder(user=renewer.holder.user, request_id=request.pk).pk == request.pk
    assert renewal_get_for_operator(user=world.alpha.operator.user, request_id=request.pk).pk == request.pk
    for user in (world.beta.holder.user, world.alpha.holders[1].user):
        for request_id in (request.pk, missing):
            with pytest.raises(RenewalRequest.DoesNotExist):
                renewal_get_for_holder(user=user, request_id=request_id)
    for user in (world.beta.operator.user, world.beta.admin.user, renewer.holder.user):
        for request_id in (request.pk, missing):
            with pytest.raises(RenewalRequest.DoesNotExist):
                renewal_get_for_operator(user=user, request_id=request_id)
    with pytest.raises(RenewalRequest.DoesNotExist):
        renewal_get_for_holder(user=world.alpha.operator.user, request_id=request.pk)


@pytest.mark.parametrize("other", ["same_organization", "other_organization"])
def test_panel_pages_of_another_holders_request_answer_404(world, renewer, other):
    request = confirmed(renewer)
    urls = [f"/rinnovo/{request.pk}/dati/", f"/rinnovo/{request.pk}/documenti/modulo.pdf"]
    owner = Client()
    assert login(owner, renewer.holder.user.username, HOLDER_PASSWORD).status_code == 302
    document = owner.get(urls[1])
    assert document.status_code == 200 and document.content == bytes(fresh(request).form_pdf)

    intruder = world.alpha.holders[1] if other == "same_organization" else world.beta.holder
    client = Client()
    assert login(client, intruder.user.username, HOLDER_PASSWORD).status_code == 302

    assert [client.get(url).status_code for url in urls] == [404, 404]
    assert client.post(f"/rinnovo/{request.pk}/annulla/").status_code == 404
    assert fresh(request).state == State.DRAFT


# --- Operators' digest ----------------------------------------------------------------------------------------


THURSDAY = date(2026, 12, 10)


def test_operator_digest_lists_requests_waiting_more_than_two_working_days_once_a_day(world, renewer):
    assert THURSDAY.weekday() == 3
    laura = renewer_for(world.alpha.holders[1], serial="4000000000002")
    window_open(world.beta.organization)
    lucia = renewer_for(world.beta.holder, serial="4000000000003")
    overdue, recent, beta_overdue = submitted(renewer), submitted(laura), submitted(lucia)
    RenewalRequest.objects.filter(pk=overdue.pk).update(submitted_at=local(THURSDAY - timedelta(days=3)))  # Monday
    RenewalRequest.objects.filter(pk=recent.pk).update(submitted_at=local(THURSDAY - timedelta(days=1)))  # yesterday
    RenewalRequest.objects.filter(pk=beta_overdue.pk).update(submitted_at=local(THURSDAY - timedelta(days=10)))

    assert renewal_operator_digest_send(today=THURSDAY) == 4

    alpha = messages("renewal_operator_digest", organization=world.alpha.organization)
    assert sorted(m.recipient for m in alpha) == sorted([world.alpha.operator.email, world.alpha.admin.email])
    # Operators read it in their language (Italian here).
    assert all("1 richiesta di rinnovo di Università Alfa" in m.body_text and "07/12/2026" in m.body_text
               for m in alpha)
    beta = messages("renewal_operator_digest", organization=world.beta.organization)
    assert sorted(m.recipient for m in beta) == sorted([world.beta.operator.email, world.beta.admin.email])
    assert all("Camera di Commercio Beta" in m.body_text and "30/11/2026" in m.body_text for m in beta)

    assert renewal_operator_digest_send(today=THURSDAY) == 0  # rerun the same day: nothing new
    assert len(messages("renewal_operator_digest")) == 4
    assert renewal_operator_digest_send(today=THURSDAY + timedelta(days=1)) == 4  # the next day: again
    assert len(messages("renewal_operator_digest")) == 8


def test_operator_digest_skips_a_request_submitted_yesterday(renewer):
    request = submitted(renewer)
    RenewalRequest.objects.filter(pk=request.pk).update(submitted_at=local(THURSDAY - timedelta(days=1), hour=9))

    assert renewal_operator_digest_send(today=THURSDAY) == 0
    assert messages("renewal_operator_digest") == []


# --- Races (PostgreSQL: real row locks) ------------------------------------------------------------------------


def _together(count: int, call) -> tuple[list[object], list[str]]:  # noqa: ANN001
    """``call`` from ``count`` threads released at once: its results, and the error codes."""
    barrier = threading.Barrier(count)
    results: list[object] = []
    codes: list[str] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(call())
        except ApplicationError as exc:
            codes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, codes


@pytest.mark.postgresql_only
@pytest.mark.django_db(transaction=True)
def test_simultaneous_starts_leave_exactly_one_open_request(world, renewer):
    results, codes = _together(2, lambda: started(renewer).pk)

    assert RenewalRequest.objects.filter(old_certificate=renewer.certificate).count() == 1
    pk = RenewalRequest.objects.get().pk
    assert results + codes in ([pk, pk], [pk, "renewal_under_way"], ["renewal_under_way", pk])


@pytest.mark.postgresql_only
@pytest.mark.django_db(transaction=True)
def test_simultaneous_approvals_issue_exactly_one_certificate(world, renewer):
    request = submitted(renewer)
    actors = [world.alpha.operator.user, world.alpha.admin.user]

    results, codes = _together(2, lambda: renewal_approve(request=request, actor=actors.pop()).pk)

    assert results == [request.pk] and codes == ["invalid_transition"]
    assert Certificate.objects.filter(replaces=renewer.certificate).count() == 1
    assert fresh(request).state == State.ISSUED
    assert len(messages("renewal_approved")) == 1


def test_a_renewal_may_be_requested_again_after_one_not_activated_in_time(world, renewer):
    first = approved(renewer, world.alpha)
    lapsed = certificate(first.new_certificate_id)
    assert renewal_requests_expire_due(now=lapsed.activation_deadline + timedelta(seconds=1)) == 1

    second = approved(renewer, world.alpha)

    assert second.pk != first.pk and second.state == State.ISSUED
    assert second.new_certificate.replaces_id == lapsed.replaces_id == renewer.certificate.pk
    assert renewal_activate(request=second, new_pin=NEW_PIN).state == State.ACTIVATED
    assert certificate(renewer.certificate.pk).revocation_reason == RevocationReason.SUPERSEDED
    assert certificate(lapsed.pk).state == CertificateState.EXPIRED


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_an_operator_of_another_organization_cannot_decide_even_through_the_service(world, renewer, decision):
    request = submitted(renewer)
    with pytest.raises(ApplicationError) as refusal:
        if decision == "approve":
            renewal_approve(request=request, actor=world.beta.operator.user)
        else:
            renewal_reject(request=request, actor=world.beta.operator.user, reason="Non è dei nostri")
    assert refusal.value.code == "not_found"
    assert fresh(request).state == State.SUBMITTED and fresh(request).decided_at is None
