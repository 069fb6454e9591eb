"""Scale check of the operators' renewal approval queue, and the cost of one renewal form.

Not part of ``make test`` (the file is ``bench_*.py``); run it with ``make bench``. It prints figures
and asserts correctness, plus one generous ratio: the first page of a queue at 10,000 pending requests
must not cost more than ``BENCH_RENEWAL_MAX_RATIO`` (3) times the same page at 1,000, measured in the
same run. No absolute time is asserted: a slow machine is slow for both sizes.

What it does, in the test database (emptied by pytest-django afterwards), on whatever database the
environment configures (SQLite by default, PostgreSQL with ``DATABASE_URL``):

1. ``bulk_create`` of 50 organizations and, per request, a holder and an active certificate (fake DER
   and serial: only the columns the queue reads are realistic) and a renewal request in state
   ``submitted`` (``submitted_at`` spread over the last 10 days, a signed-form SHA-256: what the
   check constraints ask of a submitted request), and ``BENCH_RENEWAL_CLOSED`` (2) earlier attempts
   on the same certificate, closed (rejected, cancelled, expired) — what the table mostly holds in
   production, and what the partial index leaves out. One organization — the one measured — has 10 %
   of the requests, so that its first page is a full page at both sizes and its own queue grows with
   the total (100 → 1,000 of 1,000 → 10,000);
2. at 1,000 then 10,000 pending requests in all (``BENCH_RENEWAL_SIZES``):
   - the selector the console uses, ``renewal_queue_for_operator(user=operator)``: its first
     ``BENCH_RENEWAL_PAGE`` (50) rows plus ``.count()`` (median of ``BENCH_RENEWAL_REPEAT`` (15)
     runs, after a warm-up);
   - the console page ``/operatore/rinnovi/`` through the Django test client, logged in as that
     organization's operator — when the view answers 200 (while it answers 404 the page is reported
     as not measured, and the selector figures stand alone);
   - the plans of the two queries the selector runs (page, count): on PostgreSQL ``EXPLAIN (ANALYZE,
     BUFFERS)`` after ``VACUUM ANALYZE``, and at the largest size both must use ``renewal_queue_idx``;
     on SQLite ``EXPLAIN QUERY PLAN``, printed for information;
3. prints both sizes and the 10,000 / 1,000 ratios;
4. renders the renewal documents (``renewal_documents_render``: the general conditions, then the form
   naming them) ``BENCH_RENEWAL_FORMS`` (10) times with WeasyPrint, and prints the median.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass
from datetime import timedelta
from os import environ

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Holder, OperatorRole, Organization, User, UserKind
from accounts.services.people import operator_create
from certificates.models import Certificate, CertificateState
from renewal.documents import renewal_documents_render
from renewal.models import RenewalRequest, RenewalState
from renewal.selectors import renewal_queue_for_operator
from renewal.services import holder_data
from tests.conftest import login

pytestmark = [pytest.mark.django_db(transaction=True)]

SIZES = [int(n) for n in environ.get("BENCH_RENEWAL_SIZES", "1000,10000").split(",")]
PAGE = int(environ.get("BENCH_RENEWAL_PAGE", "50"))
REPEAT = int(environ.get("BENCH_RENEWAL_REPEAT", "15"))
DOCUMENTS = int(environ.get("BENCH_RENEWAL_FORMS", "10"))
MAX_RATIO = float(environ.get("BENCH_RENEWAL_MAX_RATIO", "3"))
CLOSED_PER_PENDING = int(environ.get("BENCH_RENEWAL_CLOSED", "2"))
ORGANIZATIONS = 50
MEASURED_SHARE = 0.10  # of all requests, in the organization whose operator is measured
INDEX = "renewal_queue_idx"
OPERATOR_PASSWORD = "Bench-Sportello-Rinnovi-2026!"


@dataclass
class Row:
    total: int
    in_queue: int
    selector_ms: float
    page_ms: float | None
    page_status: int
    plan: str


def _organizations() -> list[Organization]:
    return Organization.objects.bulk_create(
        [Organization(slug=f"bench-renewal-{n:02d}", name=f"Ente Bench {n:02d}") for n in range(ORGANIZATIONS)]
    )


def _add_requests(*, first: int, count: int, organization: Organization, rng: random.Random) -> None:
    """``count`` submitted requests of ``organization``, numbered from ``first``: one holder and one
    active certificate each (the queue joins both)."""
    if count <= 0:
        return
    now = timezone.now()
    numbers = range(first, first + count)
    users = User.objects.bulk_create(
        [User(username=f"bench.renewal.{n}", kind=UserKind.HOLDER, password="!") for n in numbers]
    )
    holders = Holder.objects.bulk_create(
        [Holder(user=user, organization=organization, codice_fiscale=f"BNCRNW{n:010d}", given_name="Bench",
                surname=f"Titolare{n}", email=f"bench.renewal.{n}@bench.example.org", mobile=f"+39347{n:07d}",
                role_organization=organization.name)
         for n, user in zip(numbers, users, strict=True)]
    )
    certificates = Certificate.objects.bulk_create(
        [Certificate(organization=organization, holder=holder, state=CertificateState.ACTIVE, iut=f"BENCHRNW{n}",
                     serial=str(10**12 + n), key_algorithm="rsa-2048", subject_given_name="Bench",
                     subject_surname=f"Titolare{n}", subject_common_name=f"Bench Titolare{n}",
                     subject_organization=organization.name, subject_serial_number=f"TINIT-BNCRNW{n:010d}",
                     der=b"\x30\x82", not_before=now - timedelta(days=1060), not_after=now + timedelta(days=35),
                     issued_at=now - timedelta(days=1060), activated_at=now - timedelta(days=1059))
         for n, holder in zip(numbers, holders, strict=True)]
    )
    submitted = [now - timedelta(seconds=rng.randrange(10 * 86400)) for _ in numbers]
    RenewalRequest.objects.bulk_create(
        [RenewalRequest(organization=organization, holder=certificate.holder, old_certificate=certificate,
                        state=RenewalState.SUBMITTED, form_language="it", form_sha256="a" * 64,
                        conditions_sha256="b" * 64, signed_form_sha256=f"{n:064x}",
                        created_at=at - timedelta(minutes=10), data_confirmed_at=at, consent_data_valid_at=at,
                        consent_conditions_at=at, submitted_at=at)
         for n, certificate, at in zip(numbers, certificates, submitted, strict=True)]
    )
    # Earlier attempts on the same certificates, closed: what a table of requests mostly holds.
    closed = []
    for n, certificate in zip(numbers, certificates, strict=True):
        for k in range(CLOSED_PER_PENDING):
            at = now - timedelta(days=11 + k, seconds=rng.randrange(86400))
            state = (RenewalState.REJECTED, RenewalState.CANCELLED, RenewalState.EXPIRED)[(n + k) % 3]
            closed.append(RenewalRequest(
                organization=organization, holder=certificate.holder, old_certificate=certificate, state=state,
                created_at=at - timedelta(minutes=10),
                submitted_at=at if state == RenewalState.REJECTED else None,
                signed_form_sha256=f"{n:063x}{k}" if state == RenewalState.REJECTED else "",
                decided_at=at + timedelta(hours=1) if state == RenewalState.REJECTED else None,
                decision_reason="Dati non aggiornati" if state == RenewalState.REJECTED else "",
                cancelled_at=at if state == RenewalState.CANCELLED else None,
                expired_at=at if state == RenewalState.EXPIRED else None,
                expiry_cause="not_activated" if state == RenewalState.EXPIRED else "",
            ))
    RenewalRequest.objects.bulk_create(closed)


def _grow(organizations: list[Organization], *, to: int, done: int, next_number: int, rng: random.Random) -> int:
    """Requests up to ``to`` in all: ``MEASURED_SHARE`` in the first organization, the rest spread evenly."""
    measured = round(to * MEASURED_SHARE) - round(done * MEASURED_SHARE)
    _add_requests(first=next_number, count=measured, organization=organizations[0], rng=rng)
    next_number += measured
    others = (to - done) - measured
    per_org, extra = divmod(others, ORGANIZATIONS - 1)
    for index, organization in enumerate(organizations[1:]):
        count = per_org + (1 if index < extra else 0)
        _add_requests(first=next_number, count=count, organization=organization, rng=rng)
        next_number += count
    return next_number


def _vacuum() -> None:
    """What autovacuum does in production after a bulk load: statistics and the visibility map."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for model in (RenewalRequest, Certificate, Holder, User):
                cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")
        else:
            cursor.execute("ANALYZE")


def _ms(call) -> float:  # noqa: ANN001
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _median_ms(call) -> float:  # noqa: ANN001
    call()  # warm-up: connection, caches, templates
    return statistics.median(_ms(call) for _ in range(REPEAT))


def _queue_first_page(user: User) -> tuple[list[RenewalRequest], int]:
    queue = renewal_queue_for_operator(user=user)
    return list(queue[:PAGE]), queue.count()


def _explain(user: User) -> str:
    """The plans of the queries the selector's first page and count really run."""
    with CaptureQueriesContext(connection) as captured:
        _queue_first_page(user)
    plans = []
    for label, query in zip(("first page", "count"), captured.captured_queries, strict=True):
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + query["sql"])
                lines = [row[0] for row in cursor.fetchall()]
            else:
                cursor.execute("EXPLAIN QUERY PLAN " + query["sql"])
                lines = [str(row[-1]) for row in cursor.fetchall()]
        plans.append(f"{label}: {query['sql'][:160]}…\n" + "\n".join("    " + line for line in lines))
    return "\n".join(plans)


def _page(client: Client, url: str) -> int:
    return client.get(url).status_code


def _measure(operator: User, client: Client, total: int) -> Row:
    rows, in_queue = _queue_first_page(operator)
    assert in_queue == round(total * MEASURED_SHARE), in_queue
    assert len(rows) == min(PAGE, in_queue)
    assert all(r.state == RenewalState.SUBMITTED and r.organization_id == rows[0].organization_id for r in rows)
    assert [r.submitted_at for r in rows] == sorted(r.submitted_at for r in rows)  # oldest first
    oldest = RenewalRequest.objects.filter(
        organization_id=rows[0].organization_id, state=RenewalState.SUBMITTED
    ).order_by("submitted_at", "pk")
    assert rows[0].pk == oldest.values_list("pk", flat=True).first()
    selector_ms = _median_ms(lambda: _queue_first_page(operator))
    plan = _explain(operator)
    url = reverse("console:renewals")
    status = _page(client, url)
    page_ms = None
    if status == 200:
        content = client.get(url).content.decode()
        assert rows[0].number in content, "the oldest request is not on the first page"
        page_ms = _median_ms(lambda: _page(client, url) == 200 or pytest.fail("the queue page stopped answering"))
    return Row(total, in_queue, selector_ms, page_ms, status, plan)


def _documents_ms() -> tuple[float, int, int]:
    certificate = Certificate.objects.select_related("holder__user").first()
    holder = certificate.holder

    def render() -> tuple[int, int]:
        documents = renewal_documents_render(
            number="RIN-2026-000001", holder_data=holder_data(holder), organization_name=holder.role_organization,
            certificate=certificate, language="it",
        )
        return len(documents.form_pdf), len(documents.conditions_pdf)

    form_bytes, conditions_bytes = render()  # warm-up: WeasyPrint import, fonts
    times = [_ms(render) for _ in range(DOCUMENTS)]
    return statistics.median(times), form_bytes, conditions_bytes


def test_the_renewal_queue_page_does_not_grow_with_the_requests_pending() -> None:
    rng = random.Random(20261207)  # noqa: S311 - reproducible spread of submission times
    organizations = _organizations()
    operator = operator_create(
        organization=organizations[0], username="bench.renewal.operatore", given_name="Bench",
        surname="Operatore", email="bench.renewal.operatore@bench.example.org", role=OperatorRole.OPERATOR,
        password=OPERATOR_PASSWORD,
    )
    client = Client()
    assert login(client, operator.user.username, OPERATOR_PASSWORD, portal="console").status_code == 302
    database = f"{connection.vendor} {connection.pg_version // 10000}" if connection.vendor == "postgresql" else (
        connection.vendor
    )
    print(f"\n=== renewal approval queue: sizes {SIZES}, {ORGANIZATIONS} organizations, the measured one with "
          f"{MEASURED_SHARE:.0%} of the requests, page of {PAGE}, {database} ===")
    rows: list[Row] = []
    done, next_number = 0, 1
    for size in SIZES:
        started = time.perf_counter()
        next_number = _grow(organizations, to=size, done=done, next_number=next_number, rng=rng)
        done = size
        _vacuum()
        assert RenewalRequest.objects.filter(state=RenewalState.SUBMITTED).count() == size
        print(f"  … {size:,} submitted requests (and {size * CLOSED_PER_PENDING:,} closed ones) in place in "
              f"{time.perf_counter() - started:.1f} s")
        rows.append(_measure(operator.user, client, size))

    print(f"\n--- figures (medians of {REPEAT} runs after a warm-up) ---")
    print(f"{'pending':>9} {'in its queue':>13} {'selector: page + count':>23} {'console page':>14}")
    for r in rows:
        page = f"{r.page_ms:>12.1f}ms" if r.page_ms is not None else f"{'HTTP ' + str(r.page_status):>14}"
        print(f"{r.total:>9,} {r.in_queue:>13,} {r.selector_ms:>21.2f}ms {page}")
    small, large = rows[0], rows[-1]
    selector_ratio = large.selector_ms / small.selector_ms
    print(f"\nratio {large.total:,} / {small.total:,} pending ({large.total / small.total:.0f}× the requests):")
    print(f"  selector (first page + count) {selector_ratio:6.2f}×")
    page_ratio = None
    if small.page_ms is not None and large.page_ms is not None:
        page_ratio = large.page_ms / small.page_ms
        print(f"  console page                  {page_ratio:6.2f}×")
    else:
        print(f"  console page                  not measured: /operatore/rinnovi/ answered HTTP {large.page_status}")
    for r in rows:
        print(f"\n--- query plans at {r.total:,} pending ({connection.vendor}) ---")
        print(r.plan)

    median_ms, form_bytes, conditions_bytes = _documents_ms()
    print(f"\n--- renewal documents (WeasyPrint): median of {DOCUMENTS} ---")
    print(f"  renewal_documents_render (conditions + form): {median_ms:.0f} ms "
          f"(form {form_bytes:,} bytes, conditions {conditions_bytes:,} bytes)")

    if connection.vendor == "postgresql":  # at the size where it matters, both queries go through it
        assert large.plan.count(INDEX) >= 2, large.plan
    assert selector_ratio <= MAX_RATIO, f"the queue's first page costs {selector_ratio:.2f}× at {large.total:,}"
    if page_ratio is not None:
        assert page_ratio <= MAX_RATIO, f"the console page costs {page_ratio:.2f}× at {large.total:,}"
