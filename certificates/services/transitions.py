"""The certificate state machine as data, and the steps every transition shares.

``ALLOWED_FROM`` says which states each operation may start from; :func:`transition_check` refuses
the others with a sentence for the person who tried. The steps — lock, save the new state, erase the
key, audit, tell the holder, block — are shared by the lifecycle services (``lifecycle.py``) and by
key custody (``custody.py``: the last wrong PIN blocks the certificate), so neither imports the
other.

Lock order, everywhere: holder row, then certificate row, then key row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.translation import gettext_lazy as _

from accounts.models import Holder
from audit.events import AuditEventType
from audit.services import audit_record
from certificates.models import Certificate, CertificateKey, CertificateState, RevocationReason
from certificates.services.revocation import crl_publish_on_commit
from core.errors import ApplicationError
from notifications.services import security_notice_send

State = CertificateState

# Which states each operation may start from.
ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    "issue": (State.REQUESTED,),
    "activate": (State.ISSUED,),
    "suspend": (State.ACTIVE,),
    "reactivate": (State.SUSPENDED,),
    "revoke": (State.ISSUED, State.ACTIVE, State.SUSPENDED, State.BLOCKED),
    "block": (State.ACTIVE,),
    "expire": (State.ISSUED, State.ACTIVE, State.SUSPENDED, State.BLOCKED),
    # By the activation of its renewal (a blocked certificate stays blocked: it is already listed).
    "supersede": (State.ISSUED, State.ACTIVE, State.SUSPENDED),
}

_REFUSED = {
    "issue": _("This certificate has already been issued."),
    "activate": _("Only an issued certificate that is awaiting activation can be activated."),
    "suspend": _("Only an active certificate can be suspended."),
    "reactivate": _("Only a suspended certificate can be reactivated."),
    "revoke": _("This certificate is already revoked or expired: it cannot be revoked."),
    "block": _("Only an active certificate can be blocked."),
    "expire": _("This certificate is already in a final state."),
    "supersede": _("This certificate is already in a final state."),
}
# Where a more precise sentence helps the person who tried.
_REFUSED_FROM: dict[tuple[str, str], Any] = {
    ("reactivate", State.REVOKED): _("A revoked certificate cannot be reactivated: revocation is final."),
    ("reactivate", State.BLOCKED): _(
        "A blocked certificate cannot be reactivated: it can only be revoked, and a new certificate issued."
    ),
    ("activate", State.ACTIVE): _("This certificate is already active."),
    ("suspend", State.SUSPENDED): _("This certificate is already suspended."),
}


def transition_check(certificate: Certificate, operation: str) -> None:
    if certificate.state not in ALLOWED_FROM[operation]:
        message = _REFUSED_FROM.get((operation, certificate.state), _REFUSED[operation])
        raise ApplicationError("invalid_transition", message)


def certificate_lock(certificate: Certificate) -> Certificate:
    return Certificate.objects.select_for_update().get(pk=certificate.pk)


def holder_lock(holder_id: int) -> Holder:
    return Holder.objects.select_for_update().select_related("organization", "user").get(pk=holder_id)


def state_save(certificate: Certificate, now: datetime, *fields: str) -> None:
    certificate.status_changed_at = now
    certificate.save(update_fields=["state", "status_changed_at", *fields])


def key_destroy(certificate: Certificate, now: datetime) -> None:
    """Crypto-shredding: a certificate in a final state must never sign again, whoever holds the KEK.
    (PostgreSQL keeps dead tuples until VACUUM; the wrapped data key is erased with the ciphertext.)"""
    CertificateKey.objects.filter(certificate=certificate, destroyed_at__isnull=True).update(
        key_ciphertext=b"", key_nonce=b"", wrapped_data_key=b"", pin_salt=b"", pin_kdf={}, destroyed_at=now,
        updated_at=now,
    )


def certificate_audit(event: AuditEventType, certificate: Certificate, actor: Any, ip: str, **details: Any) -> None:
    audit_record(
        event_type=event,
        actor=actor,
        organization=certificate.organization_id,
        subject=certificate,
        ip=ip,
        details={"iut": certificate.iut, "serial": certificate.serial or "", "state": certificate.state, **details},
    )


def holder_notify(certificate: Certificate, event: str, now: datetime) -> None:
    security_notice_send(
        holder=certificate.holder, event=event, reference=f"{certificate.iut}:{now.isoformat()}", occurred_at=now
    )


def certificate_block_locked(certificate: Certificate, *, actor: Any, ip: str, now: datetime) -> None:
    """Block the locked ``certificate`` and publish it as revoked at ``now``.

    The reason is cessationOfOperation, not keyCompromise: the key was erased because nobody can
    prove who holds the PIN any more, but nothing shows the key itself leaked. Validators treat
    keyCompromise as casting doubt on signatures made *before* the revocation time too; with
    cessationOfOperation, signatures made (and timestamped) before the block stay valid, and none
    can be made after it.
    """
    certificate.state = State.BLOCKED
    certificate.blocked_at = now
    certificate.revocation_reason = RevocationReason.CESSATION_OF_OPERATION
    certificate.revocation_time = now
    state_save(certificate, now, "blocked_at", "pin_failures", "revocation_reason", "revocation_time")
    key_destroy(certificate, now)
    certificate_audit(AuditEventType.CERTIFICATE_BLOCKED, certificate, actor, ip, pin_failures=certificate.pin_failures,
           reason=RevocationReason.CESSATION_OF_OPERATION)
    holder_notify(certificate, "certificate_blocked", now)
    crl_publish_on_commit()
