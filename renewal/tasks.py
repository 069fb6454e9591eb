"""Scheduled renewal jobs (schedule in ``config/celery.py``). Thin: each calls one service."""

from __future__ import annotations

from celery import shared_task

from renewal.services import renewal_operator_digest_send, renewal_requests_expire_due


# Idempotent: a request already closed is skipped, so a repeated or overlapping run changes nothing.
@shared_task(name="renewal.tasks.renewal_requests_expire_due")
def renewal_requests_expire_due_task() -> int:
    return renewal_requests_expire_due()


# One message per operator and day (outbox idempotency key): a repeated run sends nothing new.
@shared_task(name="renewal.tasks.renewal_operator_digest_send")
def renewal_operator_digest_send_task() -> int:
    return renewal_operator_digest_send()
