"""Reads of the audit trail for the operator console (tenant isolation as in accounts.selectors).

The trail is one chain for the whole platform; an organization's administrators and auditors read
only the rows written for their organization (``organization_id``), never the platform's own rows
nor another organization's, whatever they filter on.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.selectors import RequestUser, operator_for_user
from audit.models import AuditEvent


def day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` in the project's time zone (Europe/Rome), as an aware datetime."""
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


def audit_events_for_operator(
    *,
    user: RequestUser,
    actor: str = "",
    event_type: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[AuditEvent]:
    """The operator's organization's events, newest first.

    ``actor``: part of the username of whoever acted, any case. ``event_type``: one type
    ("auth.login.failed"), or a family by its prefix ("auth." or "auth" both mean every "auth.…" type).
    ``date_from`` and ``date_to`` are days as people type them, in Europe/Rome, both included.
    """
    operator = operator_for_user(user=user)
    events = AuditEvent.objects.filter(organization_id=operator.organization_id)
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


def audit_event_types_for_operator(*, user: RequestUser) -> list[str]:
    """The event types that occur in the operator's organization's trail, alphabetically (the filter's choices)."""
    operator = operator_for_user(user=user)
    return list(
        AuditEvent.objects.filter(organization_id=operator.organization_id)
        .order_by("event_type")
        .values_list("event_type", flat=True)
        .distinct()
    )
