from __future__ import annotations

from celery import shared_task
from django.contrib.sessions.models import Session
from django.utils import timezone


@shared_task(name="accounts.tasks.sessions_clear_expired")
def sessions_clear_expired() -> int:
    """Delete expired server-side sessions; returns how many."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted


@shared_task(name="accounts.tasks.recovery_process")
def recovery_process(recovery_id: int) -> None:
    """Send what a matching recovery request is owed (SMS code or username); nothing otherwise."""
    from accounts.services.recovery import recovery_process as process

    process(recovery_id=recovery_id)
