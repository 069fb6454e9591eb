"""A real Celery worker process, on the configured broker (filesystem by default, Redis in CI), runs the jobs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from accounts.tasks import sessions_clear_expired_task
from audit.models import AuditEvent
from audit.services import audit_record
from portal.tasks import audit_chain_verify_task
from tests.integration.conftest import eventually

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

def test_worker_deletes_expired_sessions_and_keeps_live_ones(worker):
    expired, live = SessionStore(), SessionStore()
    expired.create()
    live.create()
    Session.objects.filter(session_key=expired.session_key).update(expire_date=timezone.now() - timedelta(hours=1))

    sessions_clear_expired_task.delay()

    assert eventually(lambda: not Session.objects.filter(session_key=expired.session_key).exists())
    assert Session.objects.filter(session_key=live.session_key).exists()


def test_worker_verifies_the_audit_chain_and_records_the_result(worker):
    for n in range(3):
        audit_record(event_type="test.event", details={"n": n})

    audit_chain_verify_task.delay()

    assert eventually(lambda: AuditEvent.objects.filter(event_type="audit.chain_verified").exists())
    verified = AuditEvent.objects.get(event_type="audit.chain_verified")
    assert verified.outcome == "success" and verified.details["checked"] == 3


def test_periodic_jobs_are_declared_in_code_and_exist():
    from config.celery import app

    app.loader.import_default_modules()  # what a worker does at start: autodiscover every tasks.py
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {
        "audit.tasks.audit_chain_verify",
        "accounts.tasks.sessions_clear_expired",
        "notifications.tasks.messages_sweep",
    } <= scheduled
    assert scheduled <= set(app.tasks)
