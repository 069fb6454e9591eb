"""Load check of the outbox: many messages through two real Celery worker processes.

Not part of ``make test`` (the file is ``bench_*.py``); run it with ``make bench``. It prints figures
and asserts only correctness: every message sent, none lost, none delivered twice, a second enqueue
of the same keys adds nothing. Time is measured, never asserted.

What it does, on whatever database and broker the environment configures (SQLite file + filesystem
broker by default, PostgreSQL + Redis with ``DATABASE_URL``/``CELERY_BROKER_URL``):

1. references, before any worker runs: a plain ORM insert of the same number of rows (same batches,
   same transactions) and a direct in-process call of ``message_deliver_task`` on a sample of them;
2. two ``celery worker --pool solo`` processes on a queue of their own (the app's default queue for
   the run), then ``message_enqueue`` of N SMS in batches, one transaction per batch, so that
   ``transaction.on_commit`` dispatches them; the workers deliver while the enqueue goes on;
3. waits until every row is ``sent``, then checks the rows against the files the SMS file backend
   wrote (one JSON file per delivered SMS, each with its provider id and recipient);
4. enqueues the same N keys again: no new row, no new file.

When delivery stalls (no new sent row for 5 s) the benchmark runs ``messages_sweep_task`` itself, as beat
would, with ``NOTIFICATIONS_STALE_SECONDS`` shortened to ``BENCH_SWEEP_STALE`` (10 s), and reports
how many messages needed it: those are tasks that failed, not messages delivered in the normal path.

Knobs (environment): ``BENCH_MESSAGES`` (10000), ``BENCH_BATCH`` (100 messages per transaction),
``BENCH_SAMPLE`` (500, the in-process delivery reference), ``BENCH_TIMEOUT`` (900 seconds to wait
for delivery).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Count, Max, Min
from django.test import override_settings
from django.utils import timezone

from accounts.models import Organization
from notifications.catalog import SECURITY_EVENTS
from notifications.models import Channel, Message, MessageStatus
from notifications.rendering import message_render
from notifications.services import message_enqueue
from notifications.tasks import message_deliver_task, messages_sweep_task
from tests.integration.conftest import Worker, _database_url, eventually

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

MESSAGES = int(os.environ.get("BENCH_MESSAGES", "10000"))
BATCH = int(os.environ.get("BENCH_BATCH", "100"))
SAMPLE = min(int(os.environ.get("BENCH_SAMPLE", "500")), MESSAGES)
TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "900"))
STALL = 5.0  # seconds without a new sent row before the benchmark runs the sweeper itself
SWEEP_STALE = int(os.environ.get("BENCH_SWEEP_STALE", "10"))  # its NOTIFICATIONS_STALE_SECONDS (300 in production)
WORKERS = 2
FILE_SMS_BACKEND = "notifications.backends.sms.FileSmsBackend"
TASK_RAISED = re.compile(r"message_deliver_task\[[^\]]+\] raised unexpected: (\w+\('[^']*'\)|\w+)")
TASK_RESULT = re.compile(r"message_deliver_task\[[^\]]+\] succeeded in [0-9.e-]+s: '(\w+)'")


def _recipient(n: int) -> str:
    return f"+39320{n:07d}"  # one recipient per message: a file names the message it delivered


def _context() -> dict[str, object]:
    return {
        "holder_name": "Mario Rossi",
        "event_text": SECURITY_EVENTS["password_changed"],
        "occurred_at": timezone.localtime(),
    }


def _batches(count: int) -> list[range]:
    return [range(start, min(start + BATCH, count)) for start in range(0, count, BATCH)]


def _enqueue_all(organization: Organization, prefix: str, count: int) -> tuple[float, int]:
    """``message_enqueue`` of ``count`` SMS, ``BATCH`` per transaction; returns (seconds, retried batches).

    On SQLite a batch can fail with "database is locked" when a worker writes at the same time; the
    transaction rolled back (nothing written, nothing dispatched), so the batch is simply run again,
    as a caller of ``message_enqueue`` would have to. The retries are counted and reported.
    """
    context = _context()
    retried = 0
    started = time.perf_counter()
    for batch in _batches(count):
        for attempt in range(1, 51):
            try:
                with transaction.atomic():
                    for n in batch:
                        message_enqueue(
                            message_type="security_notice",
                            channel=Channel.SMS,
                            recipient=_recipient(n),
                            context=context,
                            idempotency_key=f"{prefix}:{n}",
                            language="it" if n % 2 else "en",
                            organization=organization,
                        )
                break
            except OperationalError as exc:
                if "locked" not in str(exc) or attempt == 50:
                    raise
                retried += 1
                time.sleep(0.02)
    return time.perf_counter() - started, retried


def _insert_plain(organization: Organization, prefix: str, count: int) -> float:
    """The reference: the same rows written by the bare ORM, same batches, no render, no dispatch."""
    body = message_render(message_type="security_notice", channel=Channel.SMS, language="it",
                          context={**_context(), "organization_name": organization.name}).text
    started = time.perf_counter()
    for batch in _batches(count):
        with transaction.atomic():
            for n in batch:
                Message.objects.create(
                    idempotency_key=f"{prefix}:{n}", organization=organization, channel=Channel.SMS,
                    recipient=_recipient(n), message_type="security_notice", language="it", body_text=body,
                )
    return time.perf_counter() - started


def _new_files(folder: Path, before: set[str]) -> list[Path]:
    return [path for path in folder.glob("*.json") if path.name not in before] if folder.exists() else []


def _percentile(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1] if len(values) > 1 else values[0]


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:9.1f} msg/s  ({count} in {seconds:.2f} s)" if seconds > 0 else "n/a"


def test_outbox_load(tmp_path: Path) -> None:
    organization = Organization.objects.create(
        slug="bench", name="Università Bench", support_email="help@bench.example.org",
        support_url="https://bench.example.org",
    )
    run = uuid.uuid4().hex[:8]
    prefix = f"bench:{run}"
    broker = urlsplit(settings.CELERY_BROKER_URL).scheme
    print(f"\n=== outbox load check: {MESSAGES} SMS, batches of {BATCH}, {WORKERS} workers (--pool solo), "
          f"database {connection.vendor}, broker {broker} ===")

    # 1. References, measured before any worker competes for the database.
    insert_seconds = _insert_plain(organization, f"ref:{run}", MESSAGES)
    sample = list(Message.objects.filter(idempotency_key__startswith=f"ref:{run}:").order_by("pk")
                  .values_list("pk", flat=True)[:SAMPLE])
    with override_settings(SMS_BACKEND=FILE_SMS_BACKEND, SMS_FILE_PATH=str(tmp_path / "reference-sms")):
        started = time.perf_counter()
        outcomes = Counter(message_deliver_task(pk) for pk in sample)
        inprocess_seconds = time.perf_counter() - started
    assert outcomes == {"sent": len(sample)}, outcomes
    Message.objects.filter(idempotency_key__startswith=f"ref:{run}:").delete()

    # 2. Two real workers on a queue of their own, the app's default queue for the run.
    sms_folder = Path(settings.SMS_FILE_PATH)  # the workers read the same settings from the same environment
    files_before = {path.name for path in sms_folder.glob("*.json")} if sms_folder.exists() else set()
    queue = f"bench-{run}-"
    env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "config.settings_test",
           "SMS_BACKEND": FILE_SMS_BACKEND, "CELERY_QUEUE_PREFIX": queue}
    queues = override_settings(CELERY_QUEUE_PREFIX=queue)
    queues.enable()
    workers = [Worker(queue, tmp_path / f"worker-{i}.log", env) for i in range(WORKERS)]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            assert eventually(lambda w=worker: " ready." in w.log(), timeout=60), worker.log()[-3000:]

        wall_started = time.perf_counter()
        enqueue_seconds, enqueue_retries = _enqueue_all(organization, prefix, MESSAGES)
        print(f"enqueued {MESSAGES} in {enqueue_seconds:.1f} s; waiting for delivery…")

        rows = Message.objects.filter(idempotency_key__startswith=f"{prefix}:")
        deadline = time.monotonic() + TIMEOUT
        next_report = last_progress = time.monotonic()
        sent = last_sent = 0
        sweeps: list[int] = []
        first_stall: tuple[int, float] | None = None  # (sent, seconds) when the normal path ran dry
        while time.monotonic() < deadline:
            sent = rows.filter(status=MessageStatus.SENT).count()
            if sent >= MESSAGES:
                break
            now = time.monotonic()
            if sent > last_sent:
                last_sent, last_progress = sent, now
            elif now - last_progress >= STALL:
                if not sweeps:
                    first_stall = (sent, time.perf_counter() - wall_started - STALL)
                # Nothing moves: what beat's sweeper would do after NOTIFICATIONS_STALE_SECONDS, sooner.
                with override_settings(NOTIFICATIONS_STALE_SECONDS=SWEEP_STALE):
                    sweeps.append(messages_sweep_task())
                print(f"  … stalled at {sent}/{MESSAGES}: the sweeper re-dispatched {sweeps[-1]}")
                last_progress = now
            if now >= next_report:
                print(f"  … {sent}/{MESSAGES} sent after {time.perf_counter() - wall_started:.0f} s")
                next_report += 10
            time.sleep(0.5)
        wall_seconds = time.perf_counter() - wall_started
        first_stall = first_stall or (sent, wall_seconds)
        statuses = dict(rows.values_list("status").annotate(n=Count("pk")).order_by())
        if sent < MESSAGES:
            for worker in workers:
                print(worker.log()[-3000:])
        assert sent == MESSAGES, f"not all sent within {TIMEOUT:.0f} s: {statuses}"

        # 3. Correctness: every row sent once, every file one row, nothing extra.
        span = rows.aggregate(first=Min("created_at"), last=Max("sent_at"))
        e2e_seconds = (span["last"] - span["first"]).total_seconds()
        facts = list(rows.values_list("idempotency_key", "recipient", "provider_message_id", "attempts",
                                      "created_at", "sent_at"))
        keys = {fact[0] for fact in facts}
        files = _new_files(sms_folder, files_before)
        delivered = [json.loads(path.read_text(encoding="utf-8")) for path in files]
        file_ids = [record["id"] for record in delivered]
        file_recipients = [record["to"] for record in delivered]
        latencies = [(fact[5] - fact[4]).total_seconds() for fact in facts]
        attempts = Counter(fact[3] for fact in facts)

        assert statuses == {MessageStatus.SENT: MESSAGES}, statuses
        assert len(facts) == MESSAGES and len(keys) == MESSAGES
        assert keys == {f"{prefix}:{n}" for n in range(MESSAGES)}
        assert len(delivered) == MESSAGES, f"{len(delivered)} files for {MESSAGES} messages"
        assert len(set(file_ids)) == MESSAGES, "a provider id appears in two files"
        assert set(file_ids) == {fact[2] for fact in facts}, "files and rows disagree on provider ids"
        assert sorted(file_recipients) == sorted(_recipient(n) for n in range(MESSAGES)), "a recipient got two SMS"

        # 4. The same keys again: the existing rows are returned, nothing new is written or sent.
        rows_before = Message.objects.count()
        again_seconds, again_retries = _enqueue_all(organization, prefix, MESSAGES)
        new_rows = Message.objects.count() - rows_before
        time.sleep(2)  # time for a stray dispatch, had there been one, to reach a worker
        new_files = len(_new_files(sms_folder, files_before)) - MESSAGES
        assert new_rows == 0 and new_files == 0, (new_rows, new_files)
    finally:
        for worker in workers:
            worker.stop()
        queues.disable()

    logs = "".join(worker.log() for worker in workers)
    results = Counter(TASK_RESULT.findall(logs))
    raised = Counter(TASK_RAISED.findall(logs))

    insert_rate, enqueue_rate = MESSAGES / insert_seconds, MESSAGES / enqueue_seconds
    inprocess_rate, e2e_rate = len(sample) / inprocess_seconds, MESSAGES / e2e_seconds
    print(f"""
--- figures ({connection.vendor} + {broker}) ---
enqueue (message_enqueue, workers running)   {_rate(MESSAGES, enqueue_seconds)}
reference: plain ORM insert, no workers      {_rate(MESSAGES, insert_seconds)}
  → enqueue / plain insert                   {enqueue_rate / insert_rate:9.2f}×  (a message costs \
{insert_rate / enqueue_rate:.1f} plain inserts)
delivery end to end (first created → last sent) {_rate(MESSAGES, e2e_seconds)}
  wall clock, enqueue start → all sent seen  {_rate(MESSAGES, wall_seconds)}
  normal path only, before the first stall   {_rate(*first_stall)}
reference: message_deliver_task in-process        {_rate(len(sample), inprocess_seconds)}
  → {WORKERS} workers / 1 in-process call loop      {e2e_rate / inprocess_rate:9.2f}×
latency sent_at − created_at                 p50 {_percentile(latencies, 50):.2f} s   \
p95 {_percentile(latencies, 95):.2f} s   max {max(latencies):.2f} s
re-enqueue of the same {MESSAGES} keys          {_rate(MESSAGES, again_seconds)}

--- correctness ---
rows sent                                    {statuses.get(MessageStatus.SENT, 0)} / {MESSAGES}
distinct idempotency keys                    {len(keys)}
SMS files written / distinct provider ids    {len(delivered)} / {len(set(file_ids))} (= the rows' ids)
distinct recipients in the files             {len(set(file_recipients))}
new rows / new files after re-enqueue        {new_rows} / {new_files}
attempts per message                         {dict(sorted(attempts.items()))}
task results in the worker logs              {dict(results)}
sweeper runs / re-dispatches (stalls)        {len(sweeps)} / {sum(sweeps)}  (stale after {SWEEP_STALE} s here, \
{settings.NOTIFICATIONS_STALE_SECONDS} s + beat's 60 s period in production)
tasks that raised (exception: count)         {dict(raised)}
enqueue batches retried ("database is locked") {enqueue_retries} (first pass), {again_retries} (re-enqueue) \
of {len(_batches(MESSAGES))}
""")
