"""Reads of the audit trail for the operator console: each takes the organization whose trail is read
(the view resolves it from the acting operator, through accounts.selectors).

The trail is one chain for the whole platform; an organization's administrators and auditors read
only the rows written for their organization (``organization_id``), never the platform's own rows
nor another organization's, whatever they filter on.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.models import AuditEvent


def day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` in the project's time zone (Europe/Rome), as an aware datetime."""
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


def audit_events_for_organization(
    *,
    organization_id: int,
    actor: str = "",
    event_type: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[AuditEvent]:
    """The organization's events, newest first.

    ``actor``: part of the username of whoever acted, any case. ``event_type``: one type
    ("auth.login.failed"), or a family by its prefix ("auth." or "auth" both mean every "auth.…" type).
    ``date_from`` and ``date_to`` are days as people type them, in Europe/Rome, both included.
    """
    events = AuditEvent.objects.filter(organization_id=organization_id)
    actor = actor.strip()[:150]
    if actor:
        events = events.filter(actor_username__icontains=actor)
    event_type = event_type.strip()[:64]
    if event_type:
        family = event_type if event_type.endswith(".") else f"{event_type}."
        events = events.filter(Q(event_type=event_type.rstrip(".")) | Q(event_type__startswith=family))
    if date_from is not None:
        events = events.filter(created_at__gte=day_start(date_from))
    if date_to is not None and date_to < date.max:
        events = events.filter(created_at__lt=day_start(date_to + timedelta(days=1)))
    return events.order_by("-seq")


def audit_event_types_for_organization(*, organization_id: int) -> list[str]:
    """The event types that occur in the organization's trail, alphabetically (the filter's choices)."""
    return list(
        AuditEvent.objects.filter(organization_id=organization_id)
        .order_by("event_type")
        .values_list("event_type", flat=True)
        .distinct()
    )
