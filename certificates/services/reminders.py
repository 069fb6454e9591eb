"""Expiry reminders: one e-mail per certificate and threshold, through the outbox.

The daily job looks, for each organization's reminder days (default 60, 30, 7), at the active
certificates whose expiry falls in the *band* of each threshold — more than the next smaller threshold
and at most this one, in days from today (Europe/Rome dates) — and that were not yet reminded for it
or a smaller one. So:

- a job that missed days still reminds a certificate that crossed a threshold meanwhile;
- a certificate found at 6 days that was never reminded gets the 7-day reminder only, never the 60;
- a second run finds nothing: the certificate row records the smallest threshold reminded
  (``expiry_reminded_days``) and the outbox key ``expiry-reminder:<certificate>:<days>`` is unique.

The selection is a ``not_after`` range on active certificates through the partial index
``certificate_reminder_due_idx`` (``not_after``, ``expiry_reminded_days``, include ``id``), so its
cost follows the certificates due, not how many exist; the ones already reminded are skipped inside
the index.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import Organization, default_reminder_days
from certificates.models import Certificate, CertificateState
from notifications.models import Channel, Message
from notifications.services import message_enqueue

logger = logging.getLogger(__name__)

MESSAGE_TYPE = "certificate_expiry_reminder"
# Ids read per round trip, and certificates locked and reminded per transaction: a failure costs at
# most one batch, which the next run (or a retry) picks up again.
BATCH_SIZE = 200
# The renewal page of the panel (its view comes with the renewal issue; the link is stable).
RENEWAL_PATH = "/rinnovo/"


@dataclass(frozen=True)
class Band:
    """Certificates whose expiry is in ``[starts, ends)`` are owed the ``days`` reminder."""

    days: int
    today: date
    starts: datetime
    ends: datetime
    organization_ids: tuple[int, ...]


def reminder_key(certificate_id: int, days: int) -> str:
    return f"expiry-reminder:{certificate_id}:{days}"


def renewal_url() -> str:
    return f"{settings.SITE_URL.rstrip('/')}{RENEWAL_PATH}"


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _thresholds(organization: Organization) -> tuple[int, ...]:
    days = {int(d) for d in (organization.reminder_days or default_reminder_days()) if int(d) >= 0}
    return tuple(sorted(days))


def reminder_bands(*, today: date, now: datetime) -> list[Band]:
    """The ``not_after`` ranges to look at today, one per distinct threshold of each distinct policy.

    Organizations sharing a policy share the queries, so the number of queries follows the number of
    distinct policies (usually one or two), not the number of organizations.
    """
    policies: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for organization in Organization.objects.only("pk", "reminder_days").order_by("pk"):
        thresholds = _thresholds(organization)
        if thresholds:
            policies[thresholds].append(organization.pk)
    # Not before now: a certificate past not_after is not reminded, whatever the expiry job has done yet.
    earliest = max(_day_start(today), now) if today == timezone.localdate(now) else _day_start(today)
    bands = []
    for thresholds, organization_ids in policies.items():
        for index, days in enumerate(thresholds):
            # days_left = (local date of not_after) − today; this band: previous < days_left <= days.
            starts = _day_start(today + timedelta(days=thresholds[index - 1] + 1)) if index else earliest
            ends = _day_start(today + timedelta(days=days + 1))
            if starts < ends:
                bands.append(
                    Band(days=days, today=today, starts=starts, ends=ends, organization_ids=tuple(organization_ids))
                )
    return bands


def reminders_due(band: Band) -> QuerySet[Certificate]:
    """Active certificates in the band not yet reminded for this threshold or a smaller one."""
    return Certificate.objects.filter(
        Q(expiry_reminded_days__isnull=True) | Q(expiry_reminded_days__gt=band.days),
        state=CertificateState.ACTIVE,
        not_after__gte=band.starts,
        not_after__lt=band.ends,
        organization_id__in=band.organization_ids,
    )


def _batches(ids: Iterator[int]) -> Iterator[list[int]]:
    batch: list[int] = []
    for pk in ids:
        batch.append(pk)
        if len(batch) == BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch


def _remind(certificate: Certificate, band: Band) -> bool:
    """Queue the reminder and record it on the row (caller holds the row lock). True if a message was queued."""
    days = band.days
    key = reminder_key(certificate.pk, days)
    already = Message.objects.filter(idempotency_key=key).exists()
    if not already:
        holder = certificate.holder
        organization = certificate.organization
        days_left = (timezone.localdate(certificate.not_after) - band.today).days
        message_enqueue(
            message_type=MESSAGE_TYPE,
            channel=Channel.EMAIL,
            recipient=holder.email,
            language=holder.user.preferred_language,
            holder=holder,
            organization=organization,
            idempotency_key=key,
            context={
                "holder_name": holder.full_name,
                "iut": certificate.iut,
                "expires_on": certificate.not_after,
                "days_left": max(days_left, 0),
                "threshold_days": days,
                "renewable": organization.renewable,
                "renewal_url": renewal_url() if organization.renewable else "",
            },
        )
    Certificate.objects.filter(pk=certificate.pk).update(expiry_reminded_days=days)
    return not already


# A renewal request in these states (renewal.models.UNDER_WAY_STATES: the holder has signed the form)
# silences the reminders of its certificate; they resume, at the band the certificate is in by then,
# when the request is rejected, cancelled or expires. Named here, not imported: the renewal app is
# built on this one.
RENEWAL_UNDER_WAY = ("submitted", "approved", "issued")


def _remind_batch(ids: list[int], band: Band) -> int:
    sent = 0
    renewing = set(
        Certificate.objects.filter(pk__in=ids, renewal_requests__state__in=RENEWAL_UNDER_WAY)
        .values_list("pk", flat=True)
    )
    ids = [pk for pk in ids if pk not in renewing]
    if not ids:
        return 0
    with transaction.atomic():
        # Re-checked under the lock: suspended, revoked or reminded since the ids were read → skipped.
        locked = (
            reminders_due(band)
            .filter(pk__in=ids)
            .select_related("holder__user", "organization")
            .select_for_update(of=("self",))
            .order_by("pk")
        )
        for certificate in locked:
            sent += _remind(certificate, band)
    return sent


def expiry_reminders_send(*, today: date | None = None) -> int:
    """Queue today's expiry reminders (beat, daily); returns how many messages were queued.

    ``today`` (a local date) is for tests and for replaying a missed day; re-running is harmless.
    """
    now = timezone.now()
    today = today or timezone.localdate(now)
    sent = 0
    for band in reminder_bands(today=today, now=now):
        ids = reminders_due(band).order_by().values_list("pk", flat=True).iterator(chunk_size=BATCH_SIZE)
        for batch in _batches(ids):
            sent += _remind_batch(batch, band)
    if sent:
        logger.info("expiry reminders queued: %s", sent)
    return sent
