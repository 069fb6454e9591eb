"""Renewal of a certificate: every transition is one atomic, audited, notified service.

::

    draft ─submit (form signed)→ submitted ─approve→ approved ─issue→ issued ─activate→ activated
      │                              │  └─reject→ rejected                 │
      └──────cancel─────────────────┴─→ cancelled                         │
      └─────expire (old certificate expired or ended)──────────────────────┴─→ expired (new one not activated)

The holder confirms the data (the renewal form and the general conditions are generated then, and
stored with their SHA-256), accepts both consents, and signs the form with the certificate being
renewed (PIN + OTP: a wrong PIN counts towards blocking it). The signed form is validated — intact,
trusted, signed by that very certificate, over exactly the bytes generated — before the request is
submitted. Approval (an operator's, or the organization's automatic renewal) issues the new
certificate in the same transaction: a request is never left approved without a certificate, and no
certificate is issued without an approved, signed request. Activating the new certificate supersedes
the old one (``certificate_activate``).

Lock order: request row, then holder row, then certificate rows (as in ``certificates``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import date, datetime, timedelta
from io import BytesIO
from typing import Any
from urllib.parse import urljoin

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext_lazy as _

from accounts.models import ContactKind, Holder, Operator, Organization
from accounts.services.contacts import contact_check_available
from audit.events import AuditEventType
from audit.services import audit_record
from certificates.models import Certificate, CertificateState
from certificates.services import certificate_activate, certificate_expire, certificate_issue, certificate_request
from certificates.services.custody import certificate_key_unlock
from core.errors import ApplicationError
from notifications.models import Channel, Message
from notifications.services import message_enqueue
from otp.models import OtpDevice
from renewal.documents import renewal_documents_render
from renewal.models import OPEN_STATES, ExpiryCause, RenewalRequest, RenewalState
from renewal.selectors import renewal_eligibility
from signing.models import Channel as SigningChannel
from signing.pades import Level
from signing.services import pdf_validate, signature_authorize, signature_sign_documents

logger = logging.getLogger(__name__)

State = RenewalState

# Which states each transition may start from, and where it leads.
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "submit": ((State.DRAFT,), State.SUBMITTED),
    "approve": ((State.SUBMITTED,), State.APPROVED),
    "reject": ((State.SUBMITTED,), State.REJECTED),
    "issue": ((State.APPROVED,), State.ISSUED),
    "activate": ((State.ISSUED,), State.ACTIVATED),
    "cancel": ((State.DRAFT, State.SUBMITTED), State.CANCELLED),
    "expire": ((State.DRAFT, State.SUBMITTED, State.APPROVED, State.ISSUED), State.EXPIRED),
}

_REFUSED = {
    "submit": _("This renewal request has already been signed and sent."),
    "approve": _("This renewal request is not waiting for a decision: it has already been decided or closed."),
    "reject": _("This renewal request is not waiting for a decision: it has already been decided or closed."),
    "issue": _("This renewal request has not been approved."),
    "activate": _("There is no new certificate waiting for activation in this renewal request."),
    "cancel": _("This renewal request can no longer be cancelled: it has already been decided or closed."),
    "expire": _("This renewal request is already closed."),
}

_CLOSED_OR_SIGNED = _("This renewal request can no longer be changed: it has been signed or closed.")
_NOT_FOUND = _("Renewal request not found.")

REASON_MAX_LENGTH = 2000
# What the panel's data review shows and the form prints; the snapshot the request keeps.
DATA_FIELDS = (
    "given_name", "surname", "codice_fiscale", "birth_date", "birth_place", "email", "mobile", "residence",
    "role_organization", "role_title",
)
# How the pages name them (lazy: read in the language of each request).
DATA_FIELD_LABELS = {
    "given_name": _("Given name"), "surname": _("Surname"), "codice_fiscale": _("Codice fiscale"),
    "birth_date": _("Birth date"), "birth_place": _("Birth place"), "email": _("E-mail"),
    "mobile": _("Mobile number"), "residence": _("Residence"), "role_organization": _("Organization"),
    "role_title": _("Title / role"),
}
# What the holder may change in the wizard (everything else needs a new certificate).
CHANGEABLE_FIELDS = ("email", "mobile", "residence")

_CONTACT_OF_ANOTHER = _(
    "Your %(contact)s is registered to a different codice fiscale, so the renewal cannot continue. E-mail address "
    "and mobile number are reserved contact channels and authentication factors: each must belong to one person "
    "only. Change it here, then confirm your data again."
)


# --- Small pieces -----------------------------------------------------------------------------------


def _absolute(path: str) -> str:
    return urljoin(settings.SITE_URL.rstrip("/") + "/", path.lstrip("/"))


def _check(request: RenewalRequest, transition: str) -> None:
    if request.state not in TRANSITIONS[transition][0]:
        raise ApplicationError("invalid_transition", _REFUSED[transition])


def _move(request: RenewalRequest, transition: str, now: datetime, *fields: str) -> None:
    _check(request, transition)
    request.state = TRANSITIONS[transition][1]
    request.save(update_fields=["state", "updated_at", *fields])


def _lock(request: RenewalRequest) -> RenewalRequest:
    return RenewalRequest.objects.select_for_update().select_related("organization").get(pk=request.pk)


def _check_operator(request: RenewalRequest, actor: Any) -> None:
    """Defence in depth behind the console's selectors: an operator decides only for their own
    organization (a foreign request is answered like a missing one)."""
    if actor is None:
        return
    organization = getattr(actor, "organization", None)
    if organization is None or organization.pk != request.organization_id:
        raise ApplicationError("not_found", _NOT_FOUND)


def _audit(event: AuditEventType, request: RenewalRequest, actor: Any, ip: str, **details: Any) -> None:
    audit_record(
        event_type=event,
        actor=actor,
        organization=request.organization_id,
        subject=request,
        ip=ip,
        details={"number": request.number, "state": request.state, "iut": request.old_certificate.iut, **details},
    )


def holder_data(holder: Holder) -> dict[str, str]:
    """The holder data a renewal shows, confirms and prints, as text."""
    residence = ", ".join(
        part for part in (
            holder.residence_address,
            " ".join(p for p in (holder.residence_postal_code, holder.residence_city) if p),
            holder.residence_province,
            holder.residence_country if holder.residence_address else "",
        ) if part
    )
    return {
        "given_name": holder.given_name,
        "surname": holder.surname,
        "codice_fiscale": holder.codice_fiscale.upper(),
        "birth_date": holder.birth_date.strftime("%d/%m/%Y") if holder.birth_date else "",
        "birth_place": holder.birth_place,
        "email": holder.email,
        "mobile": holder.mobile,
        "residence": residence,
        "role_organization": holder.role_organization,
        "role_title": holder.role_title,
    }


def data_changes(before: dict[str, str], after: dict[str, str]) -> list[dict[str, str]]:
    return [
        {"field": field, "before": before.get(field, ""), "after": after.get(field, "")}
        for field in DATA_FIELDS
        if before.get(field, "") != after.get(field, "")
    ]


def _check_eligible(request: RenewalRequest, *, now: datetime | None = None) -> None:
    eligibility = renewal_eligibility(certificate=request.old_certificate, now=now)
    if not eligibility.allowed and not (
        eligibility.open_request is not None and eligibility.open_request.pk == request.pk
    ):
        raise ApplicationError(f"renewal_{eligibility.verdict}", eligibility.message)


def _check_contacts_own(holder: Holder) -> None:
    """Seed rule: an e-mail or mobile registered to another codice fiscale blocks the renewal."""
    for kind, value, label in (
        (ContactKind.EMAIL, holder.email, _("e-mail address")),
        (ContactKind.MOBILE, holder.mobile, _("mobile number")),
    ):
        try:
            contact_check_available(holder=holder, kind=kind, value=value)
        except ApplicationError as exc:
            raise ApplicationError(
                "contact_of_another_person", _CONTACT_OF_ANOTHER % {"contact": label}, field=kind
            ) from exc


def _operators(organization: Organization) -> list[Operator]:
    return list(
        Operator.objects.filter(organization=organization, user__is_active=True)
        .select_related("user")
        .exclude(email="")
        .order_by("pk")
    )


def _notify_holder(request: RenewalRequest, message_type: str, **context: Any) -> None:
    holder = request.holder
    message_enqueue(
        message_type=message_type,
        channel=Channel.EMAIL,
        recipient=holder.email,
        language=holder.user.preferred_language,
        holder=holder,
        organization=request.organization,
        idempotency_key=f"renewal:{request.pk}:{message_type}",
        context={
            "holder_name": holder.full_name,
            "number": request.number,
            "renewal_url": _absolute(reverse("renewal:home")),
            "organization_name": request.organization.name,
            "support_email": request.organization.support_email,
            "support_url": request.organization.support_url,
            **context,
        },
    )


def _notify_operators(request: RenewalRequest) -> None:
    for operator in _operators(request.organization):
        message_enqueue(
            message_type="renewal_operator_submitted",
            channel=Channel.EMAIL,
            recipient=operator.email,
            language=operator.user.preferred_language,
            organization=request.organization,
            idempotency_key=f"renewal:{request.pk}:submitted:operator:{operator.pk}",
            context={
                "operator_name": f"{operator.given_name} {operator.surname}",
                "holder_name": request.holder.full_name,
                "number": request.number,
                "expires_on": request.old_certificate.not_after,
                "request_url": _absolute(reverse("console:renewal_detail", kwargs={"request_id": request.pk})),
            },
        )


# --- The holder's wizard ------------------------------------------------------------------------------


def renewal_start(*, holder: Holder, certificate: Certificate, ip: str = "") -> RenewalRequest:
    """Open (or resume) the holder's draft for ``certificate``; refused in words when renewal is not possible."""
    if certificate.holder_id != holder.pk:
        raise ApplicationError("not_found", _("Certificate not found."))
    with transaction.atomic():
        certificate = Certificate.objects.select_for_update().select_related("organization").get(pk=certificate.pk)
        eligibility = renewal_eligibility(certificate=certificate)
        if eligibility.open_request is not None and eligibility.open_request.state == State.DRAFT:
            return eligibility.open_request
        if not eligibility.allowed:
            raise ApplicationError(f"renewal_{eligibility.verdict}", eligibility.message)
        try:
            with transaction.atomic():
                request = RenewalRequest.objects.create(
                    organization=certificate.organization,
                    holder=holder,
                    old_certificate=certificate,
                    data_on_record=holder_data(holder),
                )
        except IntegrityError as exc:  # another tab opened one meanwhile: the constraint decides
            raise ApplicationError(
                "renewal_under_way", _("A renewal of this certificate is already under way.")
            ) from exc
        _audit(AuditEventType.RENEWAL_STARTED, request, holder.user, ip)
    return request


def renewal_data_confirm(*, request: RenewalRequest, ip: str = "") -> RenewalRequest:
    """The holder confirms the data shown (after any change of e-mail, mobile or residence): the data
    are snapshotted and the renewal form and general conditions generated from them. Any consent given
    to an earlier form no longer counts."""
    with transaction.atomic():
        request = _lock(request)
        if request.state != State.DRAFT:
            raise ApplicationError("invalid_transition", _CLOSED_OR_SIGNED)
        _check_eligible(request)
        holder = Holder.objects.select_for_update().select_related("user").get(pk=request.holder_id)
        _check_contacts_own(holder)
        now = timezone.now()
        confirmed = holder_data(holder)
        language = holder.user.preferred_language
        with translation.override(language):
            documents = renewal_documents_render(
                number=request.number, holder_data=confirmed, organization_name=request.organization.name,
                certificate=request.old_certificate, language=language, generated_at=now,
            )
        request.data_confirmed = confirmed
        request.data_changes = data_changes(request.data_on_record, confirmed)
        request.data_confirmed_at = now
        request.form_pdf = documents.form_pdf
        request.form_sha256 = documents.form_sha256
        request.conditions_pdf = documents.conditions_pdf
        request.conditions_sha256 = documents.conditions_sha256
        request.form_language = documents.language
        request.form_generated_at = now
        request.consent_data_valid_at = None
        request.consent_conditions_at = None
        request.save(update_fields=[
            "data_confirmed", "data_changes", "data_confirmed_at", "form_pdf", "form_sha256", "conditions_pdf",
            "conditions_sha256", "form_language", "form_generated_at", "consent_data_valid_at",
            "consent_conditions_at", "updated_at",
        ])
        _audit(AuditEventType.RENEWAL_DATA_CONFIRMED, request, holder.user, ip, form_sha256=request.form_sha256,
               changed=[change["field"] for change in request.data_changes])
    return request


def renewal_consents_accept(
    *, request: RenewalRequest, form_sha256: str, data_still_valid: bool, conditions_accepted: bool, ip: str = ""
) -> RenewalRequest:
    """Both consents, for the form the holder has seen (named by its SHA-256)."""
    if not (data_still_valid and conditions_accepted):
        raise ApplicationError(
            "consent_required",
            _("To renew, confirm that your personal data are still valid and accept the general conditions."),
        )
    with transaction.atomic():
        request = _lock(request)
        if request.state != State.DRAFT:
            raise ApplicationError("invalid_transition", _CLOSED_OR_SIGNED)
        if request.data_confirmed_at is None or not request.form_sha256:
            raise ApplicationError("step_skipped", _("Review and confirm your data first."))
        _check_form_unchanged(request, form_sha256)
        now = timezone.now()
        request.consent_data_valid_at = now
        request.consent_conditions_at = now
        request.save(update_fields=["consent_data_valid_at", "consent_conditions_at", "updated_at"])
        _audit(AuditEventType.RENEWAL_CONSENTS_GIVEN, request, request.holder.user, ip, form_sha256=request.form_sha256)
    return request


def _check_form_unchanged(request: RenewalRequest, form_sha256: str) -> None:
    stored = hashlib.sha256(bytes(request.form_pdf or b"")).hexdigest()
    if not (
        isinstance(form_sha256, str)
        and hmac.compare_digest(form_sha256.lower().encode(), request.form_sha256.encode())
        and hmac.compare_digest(stored, request.form_sha256)
    ):
        raise ApplicationError(
            "form_changed",
            _("The renewal form has changed since you opened it. Read the new form, then confirm again."),
        )


def _signed_form_check(request: RenewalRequest, signed: bytes) -> None:
    """The signed form must be the generated form, signed by the certificate being renewed, and valid."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    report = pdf_validate(data=signed, name=f"{request.number}.pdf")
    signatures = list(PdfFileReader(BytesIO(signed)).embedded_regular_signatures)
    problems = []
    if len(report.signatures) != 1 or len(signatures) != 1:
        problems.append("signature count")
    else:
        entry, embedded = report.signatures[0], signatures[0]
        if not (entry.intact and entry.valid and entry.trusted) or entry.revoked or entry.on_hold:
            problems.append(f"not valid: {entry.summary}")
        if str(embedded.signer_cert.serial_number) != request.old_certificate.serial:
            problems.append("signer")
        # The signed revision is the generated form plus the signature: its first bytes are the form.
        assert request.form_pdf is not None  # checked unchanged before signing
        if not signed.startswith(bytes(request.form_pdf)):
            problems.append("content")
    if problems:
        logger.error("renewal %s: signed form refused (%s)", request.pk, ", ".join(problems))
        raise ApplicationError(
            "signed_form_invalid",
            _("The signed renewal form could not be verified, so the request was not sent. Please try again."),
        )


def renewal_submit(
    *,
    request: RenewalRequest,
    pin: str,
    otp_code: str,
    otp_device: OtpDevice | None = None,
    sms: bool = False,
    ip: str = "",
) -> RenewalRequest:
    """Sign the renewal form with the certificate being renewed (PIN + OTP) and send the request.

    Runs outside any transaction (the PIN check's own is durable): a wrong PIN or OTP is counted
    (and the fifth wrong PIN blocks the certificate) even though the request is not sent. Where the
    organization renews automatically, the request is approved and the new certificate issued in the
    same transaction as the submission.
    """
    request = RenewalRequest.objects.select_related("holder__user", "old_certificate", "organization").get(
        pk=request.pk
    )
    _check(request, "submit")
    if request.consent_data_valid_at is None or request.consent_conditions_at is None:
        raise ApplicationError("step_skipped", _("Give both consents before signing the renewal form."))
    _check_form_unchanged(request, request.form_sha256)
    _check_eligible(request)
    assert request.form_pdf is not None  # _check_form_unchanged: the stored form's digest matched
    form = bytes(request.form_pdf)
    certificate = request.old_certificate
    _activation, sad_token = signature_authorize(
        holder=request.holder, certificate=certificate, pin=pin, otp_code=otp_code, otp_device=otp_device, sms=sms,
        hashes=[hashlib.sha256(form).digest()], channel=SigningChannel.PANEL, ip=ip,
    )
    with translation.override(request.form_language or "it"):
        reason = str(_("Renewal request %(number)s") % {"number": request.number})
    signed = signature_sign_documents(
        sad_token=sad_token, documents=[form], names=[f"{request.number}.pdf"], certificate=certificate,
        level=Level.B_T, reason=reason, ip=ip,
    )[0]
    _signed_form_check(request, signed)
    with transaction.atomic():
        request = _lock(request)
        _check_form_unchanged(request, hashlib.sha256(form).hexdigest())
        now = timezone.now()
        request.signed_form_pdf = signed
        request.signed_form_sha256 = hashlib.sha256(signed).hexdigest()
        request.submitted_at = now
        _move(request, "submit", now, "signed_form_pdf", "signed_form_sha256", "submitted_at")
        _audit(AuditEventType.RENEWAL_SUBMITTED,
               request, request.holder.user, ip, signed_form_sha256=request.signed_form_sha256)
        if request.organization.renewal_requires_approval:
            _notify_holder(request, "renewal_submitted")
            _notify_operators(request)
        else:  # automatic renewal: the holder is told once, that the new certificate is ready
            _approve_and_issue(request, actor=None, ip=ip, now=now)
    return request


def renewal_cancel(*, request: RenewalRequest, ip: str = "") -> RenewalRequest:
    """The holder withdraws the request before a decision; expiry reminders resume."""
    with transaction.atomic():
        request = _lock(request)
        now = timezone.now()
        request.cancelled_at = now
        _move(request, "cancel", now, "cancelled_at")
        _audit(AuditEventType.RENEWAL_CANCELLED, request, request.holder.user, ip)
    return request


def renewal_activate(
    *,
    request: RenewalRequest,
    new_pin: str | None = None,
    current_pin: str | None = None,
    ip: str = "",
) -> RenewalRequest:
    """Activate the new certificate with a new signing PIN, or with the current one confirmed.

    The step-up OTP is the view's (``renewal_activate``). Confirming the current PIN opens the old
    certificate's key with it: a wrong one counts towards blocking that certificate. The activation
    supersedes the old certificate (revoked, reason superseded) in the same transaction.
    """
    if (new_pin is None) == (current_pin is None):
        raise ValueError("give a new PIN or the current one, not both")
    request = RenewalRequest.objects.select_related("holder__user", "old_certificate", "new_certificate").get(
        pk=request.pk
    )
    _check(request, "activate")
    pin = new_pin
    if current_pin is not None:
        old = request.old_certificate
        if old.state != CertificateState.ACTIVE:
            raise ApplicationError(
                "current_pin_unavailable",
                _("Your previous certificate is no longer active, so its PIN cannot be reused: choose a new PIN."),
                field="pin",
            )
        certificate_key_unlock(certificate=old, pin=current_pin, ip=ip)  # counted; raises on a wrong PIN
        pin = current_pin
    assert pin is not None
    with transaction.atomic():
        request = _lock(request)
        _check(request, "activate")
        assert request.new_certificate is not None  # "issue" set it along with the ISSUED state
        new_certificate = certificate_activate(
            certificate=request.new_certificate, pin=pin, actor=request.holder.user, ip=ip
        )
        now = timezone.now()
        request.activated_at = now
        _move(request, "activate", now, "activated_at")
        _audit(AuditEventType.RENEWAL_ACTIVATED, request, request.holder.user, ip, new_iut=new_certificate.iut,
               pin_choice="kept" if current_pin is not None else "new")
    return request


# --- The registration office --------------------------------------------------------------------------


def _approve_and_issue(request: RenewalRequest, *, actor: Any, ip: str, now: datetime) -> None:
    """Approve the locked, submitted ``request`` and issue the new certificate, in the caller's transaction."""
    holder = Holder.objects.select_for_update().get(pk=request.holder_id)
    old = Certificate.objects.select_for_update().get(pk=request.old_certificate_id)
    if old.state != CertificateState.ACTIVE or (old.not_after is not None and now >= old.not_after):
        raise ApplicationError(
            "old_certificate_not_active",
            _("The certificate to renew is no longer active (suspended, revoked or expired): it cannot be renewed."),
        )
    request.decided_at = now
    request.decided_by = actor if getattr(actor, "pk", None) else None
    request.automatic = actor is None
    _move(request, "approve", now, "decided_at", "decided_by", "automatic")
    _audit(AuditEventType.RENEWAL_APPROVED, request, actor, ip, automatic=request.automatic)
    new_certificate = certificate_issue(
        certificate=certificate_request(holder=holder, actor=actor, ip=ip, replaces=old), actor=actor, ip=ip
    )
    request.new_certificate = new_certificate
    request.issued_at = now
    _move(request, "issue", now, "new_certificate", "issued_at")
    _audit(AuditEventType.RENEWAL_ISSUED,
           request, actor, ip, new_iut=new_certificate.iut, new_serial=new_certificate.serial)
    deadline = timezone.localtime(new_certificate.activation_deadline)
    _notify_holder(
        request, "renewal_approved", automatic=request.automatic, new_iut=new_certificate.iut,
        deadline=formats.date_format(deadline, "d/m/Y"),
    )


def renewal_approve(*, request: RenewalRequest, actor: Any, ip: str = "") -> RenewalRequest:
    """The operator approves: the new certificate (new key pair, serial and IUT) is issued at once."""
    with transaction.atomic():
        request = _lock(request)
        _check_operator(request, actor)
        _check(request, "approve")
        _approve_and_issue(request, actor=actor, ip=ip, now=timezone.now())
    return request


def renewals_approve(*, requests: list[RenewalRequest], actor: Any, ip: str = "") -> tuple[int, list[str]]:
    """Approve several; each in its own transaction. Returns how many, and the refusals by request number."""
    approved, refused = 0, []
    for request in requests:
        try:
            renewal_approve(request=request, actor=actor, ip=ip)
        except ApplicationError as exc:
            refused.append(f"{request.number}: {exc.message}")
        else:
            approved += 1
    return approved, refused


def reason_clean(reason: object) -> str:
    if not isinstance(reason, str) or "\x00" in reason:
        raise ApplicationError("invalid_reason", _("The reason contains characters that are not allowed."),
                               field="reason")
    reason = reason.strip()
    if not reason:
        raise ApplicationError("reason_required", _("Say why the request is rejected: the holder will read it."),
                               field="reason")
    if len(reason) > REASON_MAX_LENGTH:
        raise ApplicationError(
            "reason_too_long", _("The reason is too long (at most %(max)s characters).") % {"max": REASON_MAX_LENGTH},
            field="reason",
        )
    return reason


def renewal_reject(*, request: RenewalRequest, actor: Any, reason: str, ip: str = "") -> RenewalRequest:
    """The operator rejects, saying why; the holder is told and expiry reminders resume."""
    reason = reason_clean(reason)
    with transaction.atomic():
        request = _lock(request)
        _check_operator(request, actor)
        now = timezone.now()
        request.decided_at = now
        request.decided_by = actor if getattr(actor, "pk", None) else None
        request.decision_reason = reason
        _move(request, "reject", now, "decided_at", "decided_by", "decision_reason")
        _audit(AuditEventType.RENEWAL_REJECTED, request, actor, ip, reason=reason[:500])
        _notify_holder(request, "renewal_rejected", reason=reason)
    return request


# --- Deadlines ---------------------------------------------------------------------------------------


def renewal_expire(*, request: RenewalRequest, cause: str, now: datetime | None = None) -> RenewalRequest:
    with transaction.atomic():
        request = _lock(request)
        now = now or timezone.now()
        notify = request.state != State.DRAFT
        request.expired_at = now
        request.expiry_cause = cause
        _move(request, "expire", now, "expired_at", "expiry_cause")
        new_certificate = request.new_certificate
        if new_certificate is not None and new_certificate.state == CertificateState.ISSUED:
            certificate_expire(certificate=new_certificate, now=now)
        _audit(AuditEventType.RENEWAL_EXPIRED, request, None, "", cause=cause)
        if notify:
            _notify_holder(request, "renewal_expired", cause_text=str(ExpiryCause(cause).label))
    return request


def renewal_requests_expire_due(*, now: datetime | None = None) -> int:
    """Close what can no longer complete (scheduled): undecided requests whose certificate expired or
    ended, and issued renewals not activated by their activation deadline."""
    now = now or timezone.now()
    expired = 0
    undecided = RenewalRequest.objects.filter(
        state__in=(State.DRAFT, State.SUBMITTED, State.APPROVED)
    ).select_related("old_certificate")
    for request in undecided.filter(old_certificate__not_after__lte=now).iterator():
        expired += _expire_quietly(request, ExpiryCause.OLD_CERTIFICATE_EXPIRED, now)
    ended = (CertificateState.REVOKED, CertificateState.BLOCKED, CertificateState.EXPIRED)
    for request in undecided.filter(old_certificate__state__in=ended).iterator():
        expired += _expire_quietly(request, ExpiryCause.OLD_CERTIFICATE_ENDED, now)
    not_activated = RenewalRequest.objects.filter(state=State.ISSUED).filter(
        new_certificate__state=CertificateState.EXPIRED
    ) | RenewalRequest.objects.filter(state=State.ISSUED, new_certificate__activation_deadline__lte=now)
    for request in not_activated.distinct().iterator():
        expired += _expire_quietly(request, ExpiryCause.NOT_ACTIVATED, now)
    if expired:
        logger.info("renewal requests expired: %s", expired)
    return expired


def _expire_quietly(request: RenewalRequest, cause: str, now: datetime) -> int:
    try:
        renewal_expire(request=request, cause=cause, now=now)
    except ApplicationError:  # closed meanwhile by the holder or an operator
        return 0
    return 1


def working_days_before(day: date, count: int) -> date:
    """The date ``count`` working days (Monday to Friday) before ``day``."""
    while count:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            count -= 1
    return day


DIGEST_AFTER_WORKING_DAYS = 2


def renewal_operator_digest_send(*, today: date | None = None) -> int:
    """Each morning, tell each organization's operators which requests have waited more than two working
    days (one e-mail per operator and day). Returns how many messages were queued."""
    today = today or timezone.localdate()
    cutoff_day = working_days_before(today, DIGEST_AFTER_WORKING_DAYS)
    cutoff = timezone.make_aware(datetime.combine(cutoff_day, datetime.min.time()))
    waiting = (
        RenewalRequest.objects.filter(state=State.SUBMITTED, submitted_at__lt=cutoff)
        .values_list("organization_id", flat=True)
        .distinct()
    )
    sent = 0
    for organization in Organization.objects.filter(pk__in=list(waiting)).order_by("pk"):
        overdue = RenewalRequest.objects.filter(organization=organization, state=State.SUBMITTED,
                                                submitted_at__lt=cutoff)
        count = overdue.count()
        oldest = overdue.order_by("submitted_at").values_list("submitted_at", flat=True).first()
        with transaction.atomic():
            for operator in _operators(organization):
                key = f"renewal-digest:{organization.pk}:{operator.pk}:{today.isoformat()}"
                if Message.objects.filter(idempotency_key=key).exists():  # already sent today
                    continue
                message_enqueue(
                    message_type="renewal_operator_digest",
                    channel=Channel.EMAIL,
                    recipient=operator.email,
                    language=operator.user.preferred_language,
                    organization=organization,
                    idempotency_key=key,
                    context={
                        "operator_name": f"{operator.given_name} {operator.surname}",
                        "organization_name": organization.name,
                        "count": count,
                        "oldest_submitted_at": oldest,
                        "queue_url": _absolute(reverse("console:renewals")),
                    },
                )
                sent += 1
    return sent


__all__ = [
    "OPEN_STATES",
    "TRANSITIONS",
    "holder_data",
    "renewal_activate",
    "renewal_approve",
    "renewal_cancel",
    "renewal_consents_accept",
    "renewal_data_confirm",
    "renewal_expire",
    "renewal_operator_digest_send",
    "renewal_reject",
    "renewal_requests_expire_due",
    "renewal_start",
    "renewal_submit",
    "renewals_approve",
]
