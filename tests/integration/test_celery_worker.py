"""A real Celery worker process, on the configured broker (filesystem by default, Redis in CI), runs the jobs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone

from accounts.tasks import sessions_clear_expired
from audit.models import AuditEvent
from audit.services import audit_record
from audit.tasks import audit_chain_verify

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    """The URL of the *test* database, so that the worker sees what the test committed."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[str]:
    """Start ``celery worker`` on a queue of its own; yields the queue name."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "config.settings_test"}
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--loglevel", "INFO",
         "-Q", queue, "--without-mingle", "--without-gossip", "--without-heartbeat", "-n", f"{queue}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        yield queue
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        print((tmp_path / "worker.log").read_text()[-3000:])  # shown by pytest when the test fails


def eventually(check: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.25)
    return False


def test_worker_deletes_expired_sessions_and_keeps_live_ones(worker):
    expired, live = SessionStore(), SessionStore()
    expired.create()
    live.create()
    Session.objects.filter(session_key=expired.session_key).update(expire_date=timezone.now() - timedelta(hours=1))

    sessions_clear_expired.apply_async(queue=worker)

    assert eventually(lambda: not Session.objects.filter(session_key=expired.session_key).exists())
    assert Session.objects.filter(session_key=live.session_key).exists()


def test_worker_verifies_the_audit_chain_and_records_the_result(worker):
    for n in range(3):
        audit_record(event_type="test.event", details={"n": n})

    audit_chain_verify.apply_async(queue=worker)

    assert eventually(lambda: AuditEvent.objects.filter(event_type="audit.chain_verified").exists())
    verified = AuditEvent.objects.get(event_type="audit.chain_verified")
    assert verified.outcome == "success" and verified.details["checked"] == 3


def test_periodic_jobs_are_declared_in_code():
    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()} if hasattr(
        settings, "CELERY_BEAT_SCHEDULE"
    ) else set()
    from config.celery import app

    schedule |= {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert {"audit.tasks.audit_chain_verify", "accounts.tasks.sessions_clear_expired"} <= schedule
    assert set(app.tasks) >= schedule
