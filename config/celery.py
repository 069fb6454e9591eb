"""The Celery application. Periodic jobs are declared here, in code, and run by ``celery beat``."""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("firma_remota")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # Messages whose task was lost, or whose worker died mid-send, are delivered anyway.
    "notifications-sweep": {"task": "notifications.tasks.messages_sweep", "schedule": 60.0},
    # Detect a tampered audit trail within the hour, not when someone happens to look.
    "audit-chain-verify": {"task": "audit.tasks.audit_chain_verify", "schedule": crontab(minute=17)},
    # Expired sessions are already refused; deleting them keeps the table small.
    "sessions-clear-expired": {"task": "accounts.tasks.sessions_clear_expired", "schedule": crontab(minute=5)},
}
