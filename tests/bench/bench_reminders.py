"""Scale check of the daily expiry-reminder job: its cost follows the certificates due, not
how many exist.

Not part of ``make test`` (the file is ``bench_*.py``); run it with ``make bench``. PostgreSQL only
(the plan and the index are what is measured); on another database it is skipped, saying so. It
prints figures and asserts only correctness (exactly the due certificates reminded, nothing on a
second run, the reminder index in the plan). Time is measured, never asserted.

What it does, in the test database, which pytest-django empties afterwards (and the benchmark
TRUNCATEs its certificates itself):

1. ``INSERT … SELECT generate_series`` of background certificates, ``not_after`` spread uniformly over
   the next 3 years, 90 % active, 5 % suspended, 5 % revoked, on a pool of holders; fake DER and
   serials (only the columns the job reads are realistic). The active ones already inside a reminder
   threshold carry the reminder an earlier day's run would have sent (``expiry_reminded_days``), as in
   a system that runs every day — so ~5 % of all rows sit in the 60-day window, yet none is owed one;
2. ``BENCH_DUE`` (1,000) more certificates that cross a threshold today (60, 30 or 7 days left);
3. ``VACUUM ANALYZE`` (what autovacuum does in production), then:
   - ``EXPLAIN (ANALYZE, BUFFERS)`` of the selection of each band (the index must appear);
   - the selection alone (median of 5);
   - reference, same run: the naive selection, every active certificate in the window;
   - reference, same run: ``message_enqueue`` of as many reminders, without any selection — the floor;
   - the job itself, ``expiry_reminders_send()``: must queue exactly ``BENCH_DUE`` messages;
   - the job again: must queue nothing (its time is the cost of a day with nothing due).
4. Grows the table to the next size (``BENCH_SIZES``, default 100,000 then 1,000,000) and repeats
   with ``BENCH_DUE`` new due certificates; prints a table and the 1M / 100k ratios.

Knobs (environment): ``BENCH_SIZES`` ("100000,1000000"), ``BENCH_DUE`` (1000), ``BENCH_HOLDERS`` (200).
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Holder, Organization, User, UserKind
from certificates.models import Certificate, CertificateState
from certificates.services.reminders import (
    MESSAGE_TYPE,
    _day_start,
    expiry_reminders_send,
    reminder_bands,
    reminders_due,
    renewal_url,
)
from config.celery import app
from notifications.models import Channel, Message
from notifications.services import message_enqueue

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "100000,1000000").split(",")]
DUE = int(os.environ.get("BENCH_DUE", "1000"))
HOLDERS = int(os.environ.get("BENCH_HOLDERS", "200"))
THRESHOLDS = (60, 30, 7)  # the default policy; the organization keeps it
SPAN_DAYS = 3 * 365
INDEX = "certificate_reminder_due_idx"
TABLE = Certificate._meta.db_table


@dataclass
class Row:
    total: int
    in_window: int
    select_ms: float
    naive_ms: float
    reference_s: float
    job_s: float
    rerun_ms: float
    plan: str


def _holders(organization: Organization) -> list[int]:
    """The holders the rows share (bulk: identity data does not matter here, only e-mail and language)."""
    users = User.objects.bulk_create(
        [User(username=f"bench.{n}", kind=UserKind.HOLDER, password="!", preferred_language="it" if n % 4 else "en")
         for n in range(HOLDERS)]
    )
    holders = Holder.objects.bulk_create(
        [Holder(user=user, organization=organization, codice_fiscale=f"BNCHLD00A01F{n:04d}", given_name="Bench",
                surname=f"Holder{n}", email=f"bench{n}@bench.example.org", mobile=f"+39347{n:07d}")
         for n, user in enumerate(users)]
    )
    return [holder.pk for holder in holders]


def _insert(*, first: int, count: int, organization_id: int, holder_ids: list[int], due: bool) -> None:
    """``count`` certificate rows numbered from ``first``; background rows or rows due today."""
    today = timezone.localdate()
    start = _day_start(today)
    bounds = {f"d{d}": _day_start(today + timedelta(days=d + 1)) for d in THRESHOLDS}
    if due:
        # Crossing a threshold today: 60, 30 or 7 days left, reminded for the previous one (or never).
        not_after = (
            "%(start)s + ((ARRAY[60, 30, 7])[1 + i %% 3] || ' days')::interval + interval '10 hours'"
        )
        reminded = "(ARRAY[NULL, 60, 30])[1 + i %% 3]::smallint"
        state = "'active'"
    else:
        # Uniform over 3 years from now (hash of i: reproducible, no correlation with the id order).
        not_after = f"%(start)s + ((hashint4(i) & 2147483647)::bigint %% {SPAN_DAYS * 86400}) * interval '1 second'"
        reminded = "NULL::smallint"
        state = "CASE WHEN i %% 20 = 0 THEN 'suspended' WHEN i %% 20 = 1 THEN 'revoked' ELSE 'active' END"
    sql = f"""
        INSERT INTO {TABLE} (
            organization_id, holder_id, state, iut, serial, key_algorithm, subject_given_name, subject_surname,
            subject_common_name, subject_organization, subject_serial_number, der, not_before, not_after,
            requested_at, issued_at, activated_at, status_changed_at, pin_failures, revocation_reason,
            revocation_time, suspended_at, revoked_at, expiry_reminded_days
        )
        SELECT %(org)s, (%(holders)s::bigint[])[1 + i %% %(nholders)s], s.state, 'BENCH' || i, i::text,
               'rsa-2048', 'Bench', 'Holder', 'Bench Holder', 'Università Bench', 'TINIT-RSSMRA80A01F257G',
               '\\x3082'::bytea, s.not_after - interval '1095 days', s.not_after, %(now)s, %(now)s, %(now)s,
               %(now)s, 0,
               CASE s.state WHEN 'suspended' THEN 'certificate_hold' WHEN 'revoked' THEN 'unspecified' ELSE '' END,
               CASE WHEN s.state <> 'active' THEN %(now)s::timestamptz END,
               CASE WHEN s.state = 'suspended' THEN %(now)s::timestamptz END,
               CASE WHEN s.state = 'revoked' THEN %(now)s::timestamptz END,
               s.reminded
        FROM generate_series(%(first)s, %(last)s) AS i,
             LATERAL (SELECT {state} AS state, {not_after} AS not_after, {reminded} AS reminded) AS s
    """
    params = {
        "org": organization_id, "holders": holder_ids, "nholders": len(holder_ids), "now": timezone.now(),
        "start": start, "first": first, "last": first + count - 1,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if not due:
            # Steady state: what earlier days' runs already sent (the smallest threshold reached).
            cursor.execute(
                f"""UPDATE {TABLE} SET expiry_reminded_days = CASE
                        WHEN not_after < %(d7)s THEN 7 WHEN not_after < %(d30)s THEN 30 ELSE 60 END
                    WHERE id >= (SELECT min(id) FROM {TABLE} WHERE iut = 'BENCH' || %(first)s)
                      AND state = 'active' AND not_after < %(d60)s AND expiry_reminded_days IS NULL""",
                {**bounds, "first": first},
            )


def _vacuum() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {TABLE}")


def _ms(call) -> float:  # noqa: ANN001
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _select_due() -> int:
    now = timezone.now()
    return sum(
        len(list(reminders_due(band).order_by().values_list("pk", flat=True)))
        for band in reminder_bands(today=timezone.localdate(now), now=now)
    )


def _select_naive() -> int:
    """What a job without the reminder column would have to read: every active certificate in the window."""
    now = timezone.now()
    end = _day_start(timezone.localdate(now) + timedelta(days=max(THRESHOLDS) + 1))
    return len(list(Certificate.objects.filter(state=CertificateState.ACTIVE, not_after__gte=now, not_after__lt=end)
                    .values_list("pk", flat=True)))


def _explain() -> str:
    now = timezone.now()
    plans = []
    for band in reminder_bands(today=timezone.localdate(now), now=now):
        sql, params = reminders_due(band).order_by().values_list("pk", flat=True).query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
            plans.append(f"band {band.days} days:\n" + "\n".join("    " + r[0] for r in cursor.fetchall()))
    return "\n".join(plans)


def _reference_enqueue(organization: Organization, holders: list[Holder], run: str) -> float:
    """The floor: queue DUE reminders directly, same batches of 200 per transaction, no selection."""
    expires = timezone.now() + timedelta(days=30)
    started = time.perf_counter()
    for batch_start in range(0, DUE, 200):
        with transaction.atomic():
            for n in range(batch_start, min(batch_start + 200, DUE)):
                holder = holders[n % len(holders)]
                message_enqueue(
                    message_type=MESSAGE_TYPE, channel=Channel.EMAIL, recipient=holder.email,
                    language=holder.user.preferred_language, holder=holder, organization=organization,
                    idempotency_key=f"bench-reference:{run}:{n}",
                    context={"holder_name": holder.full_name, "iut": f"REF{n}", "expires_on": expires,
                             "days_left": 30, "threshold_days": 30, "renewable": True, "renewal_url": renewal_url()},
                )
    seconds = time.perf_counter() - started
    Message.objects.filter(idempotency_key__startswith=f"bench-reference:{run}:").delete()
    return seconds


def _measure(organization: Organization, holders: list[Holder], total: int) -> Row:
    plan = _explain()
    assert INDEX in plan, plan
    expected = _select_due()
    assert expected == DUE, f"{expected} certificates selected, {DUE} due"
    select_ms = statistics.median(_ms(_select_due) for _ in range(5))
    in_window = _select_naive()
    naive_ms = statistics.median(_ms(_select_naive) for _ in range(5))
    reference_s = _reference_enqueue(organization, holders, str(total))
    before = Message.objects.filter(message_type=MESSAGE_TYPE).count()
    started = time.perf_counter()
    sent = expiry_reminders_send()
    job_s = time.perf_counter() - started
    assert sent == DUE and Message.objects.filter(message_type=MESSAGE_TYPE).count() - before == DUE
    rerun_ms = _ms(lambda: expiry_reminders_send() == 0 or pytest.fail("a second run queued reminders"))
    assert Message.objects.filter(message_type=MESSAGE_TYPE).count() - before == DUE
    return Row(total, in_window, select_ms, naive_ms, reference_s, job_s, rerun_ms, plan)


def test_expiry_reminders_scale_with_the_certificates_due() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("bench_reminders measures PostgreSQL plans: set DATABASE_URL=postgres://… to run it")
    organization = Organization.objects.create(
        slug="bench", name="Università Bench", support_email="help@bench.example.org",
        support_url="https://bench.example.org",
    )
    holder_ids = _holders(organization)
    holders = list(Holder.objects.select_related("user").filter(pk__in=holder_ids[:50]))
    print(f"\n=== expiry reminders: sizes {SIZES}, {DUE} due per run, {HOLDERS} holders, PostgreSQL "
          f"{connection.pg_version // 10000} ===")
    rows: list[Row] = []
    inserted = 0
    # Messages are dispatched on commit: to a queue of this run's own, that no worker listens to and
    # that is deleted at the end, so nobody else's worker delivers benchmark messages.
    queue = f"bench-reminders-{uuid.uuid4().hex[:8]}"
    previous_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    try:
        for size in SIZES:
            background = size - inserted - DUE * len(rows)  # earlier due rows count towards the total
            started = time.perf_counter()
            _insert(first=inserted + 1, count=background, organization_id=organization.pk, holder_ids=holder_ids,
                    due=False)
            inserted += background
            _insert(first=inserted + 1, count=DUE, organization_id=organization.pk, holder_ids=holder_ids, due=True)
            inserted += DUE
            _vacuum()
            total = Certificate.objects.count()
            print(f"  … {total} certificates inserted and vacuumed in {time.perf_counter() - started:.1f} s")
            rows.append(_measure(organization, holders, total))
    finally:
        app.conf.task_default_queue = previous_queue
        with app.connection_for_write() as broker:
            purged = broker.default_channel.queue_purge(queue)
            broker.default_channel.queue_delete(queue)
        print(f"  … {purged} benchmark delivery tasks dropped with queue {queue}")
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {TABLE}, {Message._meta.db_table} CASCADE")

    print("\n--- figures (PostgreSQL; times are medians where repeated) ---")
    print(f"{'certificates':>12} {'in window':>10} {'due':>6} {'select due':>11} {'naive select':>13} "
          f"{'ref enqueue':>12} {'daily job':>10} {'job/ref':>8} {'rerun':>9}")
    for r in rows:
        print(f"{r.total:>12,} {r.in_window:>10,} {DUE:>6} {r.select_ms:>9.1f}ms {r.naive_ms:>11.1f}ms "
              f"{r.reference_s:>10.2f}s {r.job_s:>9.2f}s {r.job_s / r.reference_s:>7.2f}× {r.rerun_ms:>7.1f}ms")
    if len(rows) >= 2:
        small, large = rows[0], rows[-1]
        print(f"\nratio {large.total:,} / {small.total:,} rows ({large.total / small.total:.0f}× the certificates):")
        print(f"  daily job            {large.job_s / small.job_s:6.2f}×")
        print(f"  selection of the due {large.select_ms / small.select_ms:6.2f}×")
        print(f"  run with nothing due {large.rerun_ms / small.rerun_ms:6.2f}×")
        print(f"  naive window select  {large.naive_ms / small.naive_ms:6.2f}×  (reference: what the index avoids)")
    print(f"\n--- EXPLAIN (ANALYZE, BUFFERS) of the selection at {rows[-1].total:,} certificates ---")
    print(rows[-1].plan)
