"""Using and guarding holder keys: the signing PIN, its retry counter, PIN change, KEK rotation.

The cryptography is in ``certificates/vault.py`` (design and limits in its docstring); this module
adds the business rules around it: only an active certificate opens, every wrong PIN counts under
the certificate's row lock, and at ``organization.pin_max_retries`` the certificate is blocked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from audit.events import AuditEventType
from audit.models import Outcome
from audit.services import audit_record
from certificates.models import Certificate, CertificateAuthority, CertificateKey, CertificateState
from certificates.pin_policy import pin_validate
from certificates.services.transitions import (
    certificate_audit,
    certificate_block_locked,
    certificate_lock,
    holder_notify,
)
from certificates.vault import (
    KeyUnavailable,
    PrivateKey,
    SoftwareKeyVault,
    WrongPin,
    sealed_from_row,
    sealed_to_row,
    vault_get,
)
from core.errors import ApplicationError

logger = logging.getLogger(__name__)


def _pin_attempt(
    certificate: Certificate, *, pin: str, ip: str, operation: str, data_key_only: bool = False
) -> tuple[Any, ApplicationError | None]:
    """Open the key of the locked, active ``certificate`` with ``pin``; count a failure.

    Returns the key (or, with ``data_key_only``, the data key and the key version), or the error to
    raise *after* the transaction commits: raising inside it would roll back the failure count, and
    an attacker could then guess forever.
    """
    holder_user = certificate.holder.user
    key = CertificateKey.objects.get(certificate=certificate, destroyed_at__isnull=True)
    vault = vault_get(key.vault)
    private_key: Any
    try:
        sealed = sealed_from_row(key)
        if vault.needs_reseal_with_pin(sealed):
            # Migrated from the software vault with its PIN: now that the holder gives it, the key
            # moves into the device for good (same PIN), before it is used.
            sealed = vault.reseal_with_pin(sealed=sealed, binding=key.key_binding, pin=pin)
            key.save(update_fields=sealed_to_row(key, sealed))
            audit_record(
                event_type=AuditEventType.CA_KEYS_MIGRATED, actor=holder_user, organization=certificate.organization_id,
                subject=certificate, ip=ip, details={"iut": certificate.iut, "vault": vault.name, "kind": "holder"},
            )
        if data_key_only:
            data_key = vault.data_key_open_with_pin(sealed=sealed, binding=key.key_binding, pin=pin)
            private_key = (data_key, sealed.key_version)
        else:
            private_key = vault.open_with_pin(sealed=sealed, binding=key.key_binding, pin=pin)
    except WrongPin:
        pass
    else:
        if certificate.pin_failures:
            certificate.pin_failures = 0
            certificate.save(update_fields=["pin_failures"])
        return private_key, None
    certificate.pin_failures += 1
    limit = certificate.organization.pin_max_retries
    remaining = max(limit - certificate.pin_failures, 0)
    audit_record(
        event_type=AuditEventType.CERTIFICATE_PIN_FAILED,
        outcome=Outcome.FAILURE,
        actor=holder_user,
        organization=certificate.organization_id,
        subject=certificate,
        ip=ip,
        details={"iut": certificate.iut, "failures": certificate.pin_failures, "remaining": remaining, "op": operation},
    )
    if remaining == 0:
        certificate_block_locked(certificate, actor=None, ip=ip, now=timezone.now())
        return None, ApplicationError(
            "locked_pin",
            _(
                "Wrong PIN. The maximum number of attempts has been reached and the certificate is now blocked: "
                "it must be revoked and a new certificate issued."
            ),
        )
    certificate.save(update_fields=["pin_failures"])
    return None, ApplicationError(
        "invalid_pin",
        ngettext_lazy(
            "Wrong PIN. %(count)d attempt left before the certificate is blocked.",
            "Wrong PIN. %(count)d attempts left before the certificate is blocked.",
            "count",
        )
        % {"count": remaining},
        field="pin",
    )


def _usable(certificate: Certificate) -> None:
    if certificate.state == CertificateState.BLOCKED:
        raise ApplicationError(
            "locked_pin",
            _("This certificate is blocked after too many wrong PINs: it must be revoked and a new one issued."),
        )
    if certificate.state != CertificateState.ACTIVE:
        raise ApplicationError("certificate_not_active", _("This certificate is not active."))


def certificate_key_unlock(*, certificate: Certificate, pin: str, ip: str = "") -> PrivateKey:
    """The private key of an active certificate, opened with the holder's PIN (in memory only).

    A wrong PIN is counted in this function's own transaction, which is durable: called inside
    someone else's transaction it refuses to run (``RuntimeError``), because an enclosing rollback
    would un-count the failure and a guesser could then try forever.
    """
    with transaction.atomic(durable=True):
        # The row lock serializes attempts on one certificate: N parallel guesses cannot all be
        # checked against the same counter value.
        certificate = certificate_lock(certificate)
        _usable(certificate)
        try:
            private_key, error = _pin_attempt(certificate, pin=pin, ip=ip, operation="unlock")
        except (KeyUnavailable, CertificateKey.DoesNotExist) as exc:
            logger.error("key of certificate %s cannot be opened: %s", certificate.pk, exc)
            raise ApplicationError("key_unavailable", _("The signing key is not available.")) from exc
        if private_key is not None:
            audit_record(
                event_type=AuditEventType.CERTIFICATE_KEY_UNLOCKED,
                actor=certificate.holder.user,
                organization=certificate.organization_id,
                subject=certificate,
                ip=ip,
                details={"iut": certificate.iut},
            )
    if error is not None:
        raise error
    assert private_key is not None
    return cast(PrivateKey, private_key)


def certificate_data_key_unlock(*, certificate: Certificate, pin: str, ip: str = "") -> tuple[bytes, int]:
    """The data key of an active certificate's private key, opened with the holder's PIN, and the key
    version it belongs to. Same rules and counting as :func:`certificate_key_unlock` (a durable
    transaction of its own); used by the signature activation, which re-wraps it under a one-time key.
    """
    with transaction.atomic(durable=True):
        certificate = certificate_lock(certificate)
        _usable(certificate)
        try:
            opened, error = _pin_attempt(
                certificate, pin=pin, ip=ip, operation="activate_signature", data_key_only=True
            )
        except (KeyUnavailable, CertificateKey.DoesNotExist) as exc:
            logger.error("key of certificate %s cannot be opened: %s", certificate.pk, exc)
            raise ApplicationError("key_unavailable", _("The signing key is not available.")) from exc
        if opened is not None:
            audit_record(
                event_type=AuditEventType.CERTIFICATE_KEY_UNLOCKED,
                actor=certificate.holder.user,
                organization=certificate.organization_id,
                subject=certificate,
                ip=ip,
                details={"iut": certificate.iut, "op": "activate_signature"},
            )
    if error is not None:
        raise error
    assert opened is not None
    return cast(tuple[bytes, int], opened)


def certificate_pin_change(
    *, certificate: Certificate, current_pin: str, new_pin: str, actor: Any = None, ip: str = ""
) -> None:
    """Re-wrap the key under a new PIN (and a new data key): the old PIN stops working.

    A wrong current PIN counts towards blocking exactly like a wrong PIN when signing, otherwise this
    would be a PIN oracle without a retry counter (hence a durable transaction here too).
    """
    pin_validate(pin=new_pin, holder=certificate.holder)
    if new_pin == current_pin:
        raise ApplicationError("same_pin", _("The new PIN must be different from the current one."), field="new_pin")
    with transaction.atomic(durable=True):
        certificate = certificate_lock(certificate)
        _usable(certificate)
        try:
            private_key, error = _pin_attempt(certificate, pin=current_pin, ip=ip, operation="pin_change")
            if private_key is not None:
                del private_key
                key = CertificateKey.objects.select_for_update().get(certificate=certificate)
                vault = vault_get(key.vault)
                sealed = vault.pin_change(
                    sealed=sealed_from_row(key), binding=key.key_binding, current_pin=current_pin, new_pin=new_pin
                )
                key.save(update_fields=[*sealed_to_row(key, sealed), "updated_at"])
                now = timezone.now()
                certificate_audit(AuditEventType.CERTIFICATE_PIN_CHANGED,
                                  certificate, actor or certificate.holder.user, ip)
                holder_notify(certificate, "pin_changed", now)
        except (KeyUnavailable, CertificateKey.DoesNotExist) as exc:
            logger.error("key of certificate %s cannot be opened: %s", certificate.pk, exc)
            raise ApplicationError("key_unavailable", _("The signing key is not available.")) from exc
    if error is not None:
        raise error


def keys_rewrap_kek(*, batch_size: int = 200) -> int:
    """Re-wrap every key (holders' and the CA's) of the configured vault not under its current KEK
    (``CA_KEK_KEY_ID``; on the PKCS#11 vault ``CA_HSM_WRAPPING_KEY_ID``, the CA's own keys being token
    objects that nothing wraps) — no PIN needed, only the outer layer changes. Row by row under lock,
    so keys stay usable meanwhile. Returns how many."""
    vault = vault_get()
    current = vault.current_kek_id()
    done = 0
    # Holders' keys not yet erased, then the CA's own keys: the same sealed fields and binding.
    sources: tuple[tuple[str, Callable[[], QuerySet[Any]]], ...] = (
        ("certificatekey", lambda: CertificateKey.objects.filter(destroyed_at__isnull=True)),
        ("certificateauthority", lambda: CertificateAuthority.objects.all()),
    )
    for kind, rows_of in sources:
        while True:
            with transaction.atomic():
                rows = list(
                    rows_of().select_for_update().filter(vault=vault.name)
                    .exclude(kek_id__in=[current, *vault.unwrapped_kek_ids]).order_by("pk")[:batch_size]
                )
                for row in rows:
                    sealed = vault.kek_rewrap(sealed=sealed_from_row(row), binding=row.key_binding)
                    row.save(update_fields=sealed_to_row(row, sealed))
                if rows:
                    audit_record(
                        event_type=AuditEventType.CA_KEYS_REWRAPPED,
                        details={"count": len(rows), "kek_id": current, "kind": kind},
                    )
            done += len(rows)
            if len(rows) < batch_size:
                break
    return done


def keys_migrate_to_device(*, batch_size: int = 100) -> dict[str, int]:
    """Move every key of the software vault into the configured device vault; resumable, audited.

    The CA's keys are imported once as token objects (not extractable) and their software ciphertexts
    replaced by the token reference; holder keys are re-wrapped under the device's outer layer without
    their PINs changing (a key still awaiting its PIN is imported at once; a key with a PIN moves into
    the device at the holder's next use of it). Row by row under lock: interrupted, a new run goes on
    where it stopped. Returns how many of each kind moved.
    """
    target = vault_get()
    if target.name == SoftwareKeyVault.name:
        raise ApplicationError(
            "vault_not_device", _("Configure the device vault (CA_KEY_VAULT_BACKEND) before migrating to it.")
        )
    software = SoftwareKeyVault()
    moved = {"authorities": 0, "holder_keys": 0}
    sources: tuple[tuple[str, str, Callable[[], QuerySet[Any]]], ...] = (
        ("authorities", "certificateauthority", lambda: CertificateAuthority.objects.filter(vault=software.name)),
        ("holder_keys", "certificatekey",
         lambda: CertificateKey.objects.filter(vault=software.name, destroyed_at__isnull=True)),
    )
    for counter, kind, rows_of in sources:
        while True:
            with transaction.atomic():
                rows = list(rows_of().select_for_update().order_by("pk")[:batch_size])
                for row in rows:
                    sealed = sealed_from_row(row)
                    if kind == "certificateauthority":
                        private_key = software.open(sealed=sealed, binding=row.key_binding)
                        moved_sealed = target.seal(private_key=private_key, binding=row.key_binding)
                        del private_key
                    else:
                        moved_sealed = target.migrate_from_software(sealed=sealed, binding=row.key_binding)
                    row.save(update_fields=sealed_to_row(row, moved_sealed))
                if rows:
                    audit_record(
                        event_type=AuditEventType.CA_KEYS_MIGRATED,
                        details={"count": len(rows), "kind": kind, "vault": target.name},
                    )
            moved[counter] += len(rows)
            if len(rows) < batch_size:
                break
    return moved
