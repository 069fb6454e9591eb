"""Periodic jobs of the CA (schedule in ``config/celery.py``). Thin: each calls one service."""

from __future__ import annotations

from celery import shared_task

from certificates.services import (
    certificates_auto_revoke_suspended,
    certificates_expire_past_validity,
    certificates_expire_unactivated,
    crl_refresh,
    expiry_reminders_send,
    ocsp_responder_rotate,
)


@shared_task(name="certificates.tasks.certificates_expire_unactivated")
def certificates_expire_unactivated_task() -> int:
    return certificates_expire_unactivated()


@shared_task(name="certificates.tasks.certificates_expire_past_validity")
def certificates_expire_past_validity_task() -> int:
    return certificates_expire_past_validity()


@shared_task(name="certificates.tasks.certificates_auto_revoke_suspended")
def certificates_auto_revoke_suspended_task() -> int:
    return certificates_auto_revoke_suspended()


@shared_task(name="certificates.tasks.crl_refresh")
def crl_refresh_task() -> int:
    return len(crl_refresh())


# Idempotent (outbox keys + the row's expiry_reminded_days): a lost or repeated run is harmless, and the
# next day's run still sends what a failed one did not.
@shared_task(name="certificates.tasks.expiry_reminders_send")
def expiry_reminders_send_task() -> int:
    return expiry_reminders_send()


# Daily, well inside CA_OCSP_RESPONDER_ROTATE_DAYS: a missed run is caught up by the next one.
@shared_task(name="certificates.tasks.ocsp_responder_rotate")
def ocsp_responder_rotate_task() -> str:
    responder = ocsp_responder_rotate()
    return responder.serial if responder is not None else ""
