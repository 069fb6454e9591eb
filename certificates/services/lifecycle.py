"""The certificate lifecycle: every state change is one atomic, audited service.

::

    requested ─issue→ issued ─activate→ active ─suspend→ suspended ─reactivate→ active
                        │                 │                 └─(auto, N days)→ revoked
                        │                 ├─revoke─────────────────────────→ revoked (final)
                        └─deadline→ expired├─PIN retries exhausted→ blocked (final; can only be revoked)
                                           └─not_after passed→ expired

A blocked certificate is published as revoked (cessationOfOperation, at the block time) the moment
it is blocked: its key is erased, so no relying party may accept it from then on.

Which state each operation may start from, and the steps every transition shares (lock, save,
erase the key, audit, tell the holder, block), are in ``transitions.py``; the PIN rule is in
``certificates/pin_policy.py``. Lock order, everywhere: holder row, then certificate row, then key
row — so two services that need several of them cannot deadlock. A refused transition raises before
anything is written.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Holder
from audit.events import AuditEventType
from certificates.models import (
    LIVE_STATES,
    AuthorityRole,
    Certificate,
    CertificateKey,
    RevocationReason,
)
from certificates.pin_policy import pin_validate
from certificates.profile import HolderSubject, holder_certificate_build, random_serial
from certificates.selectors import (
    AuthorityMissing,
    authority_current,
    authority_x509,
    certificates_counted_against_capacity,
)
from certificates.services.authority import authority_private_key
from certificates.services.revocation import crl_publish_on_commit
from certificates.services.transitions import (
    ALLOWED_FROM,
    State,
    certificate_audit,
    certificate_block_locked,
    certificate_lock,
    holder_lock,
    holder_notify,
    key_destroy,
    state_save,
    transition_check,
)
from certificates.vault import sealed_from_row, sealed_to_row, vault_get
from core.errors import ApplicationError

# Reasons a caller may give (certificate_hold is suspension, not revocation).
REVOCATION_REASONS = (
    RevocationReason.UNSPECIFIED,
    RevocationReason.KEY_COMPROMISE,
    RevocationReason.AFFILIATION_CHANGED,
    RevocationReason.SUPERSEDED,
    RevocationReason.CESSATION_OF_OPERATION,
)


def _check_capacity(
    holder: Holder, *, states: tuple[str, ...], exclude: Certificate | None = None, renewing: Certificate | None = None
) -> None:
    """The organization's "certificates per holder" policy; the caller holds the holder row lock, so two
    concurrent issuances for one holder are serialized and cannot both pass."""
    taken = certificates_counted_against_capacity(holder=holder, states=states, exclude=exclude, renewing=renewing)
    if taken.count() >= holder.organization.max_active_certificates:
        raise ApplicationError(
            "certificate_limit",
            _(
                "This holder already has as many certificates as the organization allows. Revoke the "
                "current certificate (or let it expire) before a new one is issued."
            ),
        )


def _new_iut() -> str:
    # 80 random bits, base32: short enough to read on the phone, never reused (unique column).
    for _attempt in range(5):
        iut = base64.b32encode(secrets.token_bytes(10)).decode()
        if not Certificate.objects.filter(iut=iut).exists():
            return iut
    raise RuntimeError("could not draw an unused IUT")


def _add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    for day in (moment.day, 30, 29, 28):  # 31 January + 1 month = 28/29 February
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise ValueError("unreachable")


def validity_end(*, issued_at: datetime, months: int) -> datetime:
    """The not_after of a certificate issued at ``issued_at`` for ``months`` months: the same time of
    day in the holders' calendar (``TIME_ZONE``, Europe/Rome), that many calendar months later.

    Counted in UTC, a certificate issued just after midnight in Rome — still the previous day in UTC —
    would end a day early for its holder across a month end (1 May + 1 month = 31 May) or a change of
    summer time (15 July + 6 months = 14 January).
    """
    return _add_months(timezone.localtime(issued_at), months)


# --- The operations ---------------------------------------------------------------------------------


def role_subject(holder: Holder) -> dict[str, str]:
    """The role data a holder certificate asserts: ``organization`` (O) and ``title``, or neither.

    Only what the operator verified goes into the name. The role data on the holder are entered by
    the registration office's operator in section B of the request form at issuance, after
    identifying the person face to face against their documents, and holders cannot edit them (a
    change of role needs a new certificate): that entry is the verification. A role title left
    without an organization is a role at the registration office's own organization (the form says
    so: "leave empty for <organization>"). A holder with no role data gets no O and no title: the
    certificate then speaks for the person only, never for an organization nobody checked.
    """
    if not (holder.role_organization.strip() or holder.role_title.strip()):
        return {"organization": "", "title": ""}
    return {
        "organization": holder.role_organization.strip() or holder.organization.name,
        "title": holder.role_title.strip(),
    }


def certificate_request(
    *, holder: Holder, actor: Any = None, ip: str = "", replaces: Certificate | None = None
) -> Certificate:
    """Record that ``holder`` (identified face to face) gets a certificate; snapshot the subject.

    ``replaces``: the holder's live certificate this one renews (the renewal app's approval). The
    new certificate has its own key pair, serial and IUT; the subject is taken from the holder's
    data as it is now (the role data cannot have changed: changing them needs a new certificate)."""
    with transaction.atomic():
        holder = holder_lock(holder.pk)
        organization = holder.organization
        if not organization.is_active:
            raise ApplicationError("organization_inactive", _("This organization is not active."))
        if replaces is not None and (replaces.holder_id != holder.pk or replaces.state not in LIVE_STATES):
            raise ApplicationError("not_renewable", _("Only a live certificate of this holder can be renewed."))
        _check_capacity(holder, states=(State.REQUESTED, *LIVE_STATES), renewing=replaces)
        subject = HolderSubject(
            given_name=holder.given_name,
            surname=holder.surname,
            codice_fiscale=holder.codice_fiscale.upper(),
            **role_subject(holder),
        )
        certificate = Certificate.objects.create(
            organization=organization,
            holder=holder,
            iut=_new_iut(),
            key_algorithm=organization.key_algorithm,
            subject_given_name=subject.given_name,
            subject_surname=subject.surname,
            subject_common_name=subject.common_name,
            subject_organization=subject.organization,
            subject_title=subject.title,
            subject_serial_number=subject.serial_number,
            replaces=replaces,
            requested_by=actor if getattr(actor, "pk", None) else None,
        )
        certificate_audit(AuditEventType.CERTIFICATE_REQUESTED,
                          certificate, actor, ip, key_algorithm=certificate.key_algorithm,
            **({"renews_iut": replaces.iut} if replaces is not None else {}),
        )
    return certificate


def certificate_issue(
    *, certificate: Certificate, actor: Any = None, ip: str = "", issued_at: datetime | None = None
) -> Certificate:
    """Generate the key pair (server-side, sealed under the KEK until the holder sets a PIN) and sign
    the certificate. The activation deadline starts at issuance.

    ``issued_at`` (default: now) backdates the issuance, for the demo world and for tests that need a
    certificate of a given age: the validity signed into the certificate (and so its expiry, the
    renewal window and the reminders), the issuance time and the activation deadline all count from
    it. Nothing else is backdated: the audit trail records when the call was made."""
    with transaction.atomic():
        holder_lock(certificate.holder_id)
        certificate = certificate_lock(certificate)
        transition_check(certificate, "issue")
        holder = certificate.holder
        _check_capacity(holder, states=LIVE_STATES, exclude=certificate)
        try:
            issuing = authority_current(AuthorityRole.ISSUING)
        except AuthorityMissing as exc:
            raise ApplicationError("ca_not_ready", _("The certification authority is not available.")) from exc
        organization = holder.organization
        now = issued_at or timezone.now()
        vault = vault_get()
        private_key, sealed = vault.generate(algorithm=certificate.key_algorithm, binding=certificate.key_binding)
        serial = random_serial()
        x509_cert = holder_certificate_build(
            subject=HolderSubject(
                given_name=certificate.subject_given_name,
                surname=certificate.subject_surname,
                codice_fiscale=certificate.subject_serial_number.removeprefix("TINIT-"),
                organization=certificate.subject_organization,
                title=certificate.subject_title,
                dn_qualifier=certificate.iut,
            ),
            public_key=private_key.public_key(),
            serial=serial,
            # A few minutes back: relying parties with a slow clock must not see "not yet valid".
            not_before=now - timedelta(minutes=5),
            not_after=validity_end(issued_at=now, months=organization.certificate_validity_months),
            issuer_cert=authority_x509(issuing),
            issuer_key=authority_private_key(issuing),
        )
        del private_key
        certificate.issuer = issuing
        certificate.serial = str(serial)
        certificate.der = x509_cert.public_bytes(Encoding.DER)
        certificate.not_before = x509_cert.not_valid_before_utc
        certificate.not_after = x509_cert.not_valid_after_utc
        certificate.issued_at = now
        certificate.activation_deadline = now + timedelta(days=organization.activation_deadline_days)
        certificate.issued_by = actor if getattr(actor, "pk", None) else None
        certificate.state = State.ISSUED
        state_save(
            certificate, now, "issuer", "serial", "der", "not_before", "not_after", "issued_at",
            "activation_deadline", "issued_by",
        )
        spki = x509_cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        key = CertificateKey(certificate=certificate, public_key_sha256=hashlib.sha256(spki).hexdigest())
        sealed_to_row(key, sealed)
        key.save(force_insert=True)
        certificate_audit(AuditEventType.CERTIFICATE_ISSUED,
                          certificate, actor, ip, key_algorithm=certificate.key_algorithm)
    return certificate


def certificate_activate(
    *, certificate: Certificate, pin: str, actor: Any = None, ip: str = "", activated_at: datetime | None = None
) -> Certificate:
    """The holder chooses the signing PIN: the data key is re-wrapped by KEK **and** PIN, the KEK-only
    wrapping is gone, and from now on the key opens only with the PIN.

    A renewal (``certificate.replaces``) supersedes the certificate it renews in the same transaction:
    revoked with reason superseded at this moment, its key erased. Signatures it made before keep
    validating at their timestamp; none can be made with it after.

    ``activated_at``: the counterpart of ``certificate_issue(issued_at=…)``, for the demo world and
    tests of aged certificates — the activation is dated then, and the deadline checked then."""
    with transaction.atomic():
        holder = holder_lock(certificate.holder_id)
        certificate = certificate_lock(certificate)
        transition_check(certificate, "activate")
        renewed = certificate_lock(certificate.replaces) if certificate.replaces is not None else None
        now = activated_at or timezone.now()
        if certificate.activation_deadline is not None and now >= certificate.activation_deadline:
            raise ApplicationError(
                "activation_deadline_passed",
                _("The activation deadline of this certificate has passed: a new certificate is needed."),
            )
        pin_validate(pin=pin, holder=holder)
        _check_capacity(holder, states=LIVE_STATES, exclude=certificate)
        key = CertificateKey.objects.select_for_update().get(certificate=certificate)
        vault = vault_get(key.vault)
        sealed = vault.pin_set(sealed=sealed_from_row(key), binding=key.key_binding, pin=pin)
        key.save(update_fields=[*sealed_to_row(key, sealed), "updated_at"])
        certificate.state = State.ACTIVE
        certificate.activated_at = now
        certificate.pin_failures = 0
        state_save(certificate, now, "activated_at", "pin_failures")
        certificate_audit(AuditEventType.CERTIFICATE_ACTIVATED,
                          certificate, actor, ip, **({"renews_iut": renewed.iut} if renewed else {}))
        if renewed is not None and renewed.state in ALLOWED_FROM["supersede"]:
            _supersede_locked(renewed, by=certificate, actor=actor, ip=ip, now=now)
            holder_notify(certificate, "certificate_renewed", now)
        else:
            holder_notify(certificate, "certificate_activated", now)
    return certificate


def _revocation_time(certificate: Certificate, previous: str, now: datetime) -> datetime:
    """The revocation time the CRL and OCSP publish when ``certificate`` (locked, in state ``previous``)
    is revoked at ``now``.

    A certificate already listed keeps the time it has been listed since: a blocked one its block, a
    suspended one the start of its hold. A later time would tell validators it was good in between —
    and a signature timestamped during the suspension would then validate, once the hold entry is
    replaced by the revocation. The moment of the decision stays in ``revoked_at`` and the audit trail.
    """
    if previous in (State.BLOCKED, State.SUSPENDED) and certificate.revocation_time is not None:
        return certificate.revocation_time
    return now


def _supersede_locked(certificate: Certificate, *, by: Certificate, actor: Any, ip: str, now: datetime) -> None:
    """Revoke the locked ``certificate`` as superseded by its renewal ``by`` (RFC 5280 ``superseded``:
    nothing is wrong with the key, so signatures made before stay valid)."""
    previous = certificate.state
    certificate.state = State.REVOKED
    certificate.revoked_at = now
    certificate.revocation_reason = RevocationReason.SUPERSEDED
    certificate.revocation_time = _revocation_time(certificate, previous, now)
    state_save(certificate, now, "revoked_at", "revocation_reason", "revocation_time")
    key_destroy(certificate, now)
    certificate_audit(AuditEventType.CERTIFICATE_REVOKED,
                      certificate, actor, ip, reason=RevocationReason.SUPERSEDED, previous_state=previous,
           superseded_by=by.iut)
    crl_publish_on_commit()


def certificate_suspend(*, certificate: Certificate, actor: Any = None, note: str = "", ip: str = "") -> Certificate:
    """Suspend (certificateHold on the CRL and in OCSP). ``note`` is the holder's or operator's reason."""
    with transaction.atomic():
        certificate = certificate_lock(certificate)
        transition_check(certificate, "suspend")
        now = timezone.now()
        certificate.state = State.SUSPENDED
        certificate.suspended_at = now
        certificate.revocation_reason = RevocationReason.CERTIFICATE_HOLD
        certificate.revocation_time = now
        state_save(certificate, now, "suspended_at", "revocation_reason", "revocation_time")
        certificate_audit(AuditEventType.CERTIFICATE_SUSPENDED, certificate, actor, ip, note=note[:500])
        holder_notify(certificate, "certificate_suspended", now)
        crl_publish_on_commit()
    return certificate


def certificate_reactivate(*, certificate: Certificate, actor: Any = None, ip: str = "") -> Certificate:
    """Lift a suspension: the CRL entry and the OCSP hold disappear."""
    with transaction.atomic():
        holder = holder_lock(certificate.holder_id)
        certificate = certificate_lock(certificate)
        transition_check(certificate, "reactivate")
        _check_capacity(holder, states=LIVE_STATES, exclude=certificate)
        now = timezone.now()
        certificate.state = State.ACTIVE
        certificate.revocation_reason = ""
        certificate.revocation_time = None
        state_save(certificate, now, "revocation_reason", "revocation_time")
        certificate_audit(AuditEventType.CERTIFICATE_REACTIVATED, certificate, actor, ip)
        holder_notify(certificate, "certificate_reactivated", now)
        crl_publish_on_commit()
    return certificate


def certificate_revoke(
    *,
    certificate: Certificate,
    reason: str,
    actor: Any = None,
    ip: str = "",
    suspended_before: datetime | None = None,
) -> Certificate:
    """Revoke for good (RFC 5280 reason); the private key is destroyed.

    ``suspended_before`` is for the scheduler: revoke only a certificate still suspended since before
    that moment (checked under the lock, so a reactivation in between wins).
    """
    if reason not in REVOCATION_REASONS:
        raise ApplicationError("invalid_reason", _("Choose a revocation reason from the list."), field="reason")
    with transaction.atomic():
        certificate = certificate_lock(certificate)
        transition_check(certificate, "revoke")
        if suspended_before is not None and not (
            certificate.state == State.SUSPENDED
            and certificate.suspended_at is not None
            and certificate.suspended_at <= suspended_before
        ):
            raise ApplicationError("not_due", _("This certificate is not due for automatic revocation."))
        now = timezone.now()
        previous = certificate.state
        certificate.state = State.REVOKED
        certificate.revoked_at = now
        certificate.revocation_reason = reason
        certificate.revocation_time = _revocation_time(certificate, previous, now)
        state_save(certificate, now, "revoked_at", "revocation_reason", "revocation_time")
        key_destroy(certificate, now)
        certificate_audit(AuditEventType.CERTIFICATE_REVOKED,
                          certificate, actor, ip, reason=reason, previous_state=previous)
        holder_notify(certificate, "certificate_revoked", now)
        crl_publish_on_commit()
    return certificate


def certificate_block(*, certificate: Certificate, actor: Any = None, ip: str = "") -> Certificate:
    """Block for good (PIN retries exhausted): the key is destroyed, the certificate is listed as revoked
    (cessationOfOperation) on the CRL and by OCSP, and it can only be revoked formally."""
    with transaction.atomic():
        certificate = certificate_lock(certificate)
        transition_check(certificate, "block")
        certificate_block_locked(certificate, actor=actor, ip=ip, now=timezone.now())
    return certificate


def certificate_expire(
    *, certificate: Certificate, actor: Any = None, ip: str = "", now: datetime | None = None
) -> Certificate:
    """Expire an unactivated certificate past its activation deadline, or any certificate past not_after.

    An unactivated certificate that expires before its not_after is also listed as revoked
    (cessationOfOperation): its key is destroyed, and no relying party should accept it meanwhile.
    """
    with transaction.atomic():
        certificate = certificate_lock(certificate)
        transition_check(certificate, "expire")
        now = now or timezone.now()
        past_validity = certificate.not_after is not None and now >= certificate.not_after
        past_deadline = (
            certificate.state == State.ISSUED
            and certificate.activation_deadline is not None
            and now >= certificate.activation_deadline
        )
        if not (past_validity or past_deadline):
            raise ApplicationError("not_expired", _("This certificate has not expired yet."))
        previous = certificate.state
        certificate.state = State.EXPIRED
        certificate.expired_at = now
        fields = ["expired_at"]
        if not past_validity and previous == State.ISSUED:
            certificate.revocation_reason = RevocationReason.CESSATION_OF_OPERATION
            certificate.revocation_time = now
            fields += ["revocation_reason", "revocation_time"]
        state_save(certificate, now, *fields)
        key_destroy(certificate, now)
        certificate_audit(AuditEventType.CERTIFICATE_EXPIRED, certificate, actor, ip, previous_state=previous,
            cause="validity_end" if past_validity else "activation_deadline",
        )
        if "revocation_reason" in fields:
            crl_publish_on_commit()
    return certificate
