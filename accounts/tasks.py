"""Background jobs of the accounts app (schedule in ``config/celery.py``). Thin: each calls one service."""

from __future__ import annotations

from celery import shared_task

from accounts.services.authentication import sessions_clear_expired
from accounts.services.recovery import recovery_process


@shared_task(name="accounts.tasks.sessions_clear_expired")
def sessions_clear_expired_task() -> int:
    return sessions_clear_expired()


@shared_task(name="accounts.tasks.recovery_process")
def recovery_process_task(recovery_id: int) -> None:
    recovery_process(recovery_id=recovery_id)
