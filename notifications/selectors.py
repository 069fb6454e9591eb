"""Reads of the outbox. Each takes whose messages are read — the holder, or the organization — as
the view resolved it from the acting person (accounts.selectors): holders see their own messages,
operators their organization's. "Missing" and "another organization's" are the same 404, as for
every other tenant read.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import Count, Min, QuerySet
from django.shortcuts import get_object_or_404

from notifications.models import Message, MessageStatus

if TYPE_CHECKING:
    from accounts.models import Holder, Organization

# What the operator console lists: messages that need a person's attention.
UNDELIVERED_STATUSES = (MessageStatus.FAILED, MessageStatus.DEAD)


def message_list_for_holder(*, holder: Holder) -> QuerySet[Message]:
    """The messages sent to ``holder``, newest first (never anyone else's)."""
    return Message.objects.filter(holder=holder).order_by("-created_at", "-pk")


def message_list_failed_for_organization(*, organization: Organization) -> QuerySet[Message]:
    """Failed (retrying) and dead messages of the organization, newest first."""
    return (
        Message.objects.filter(organization=organization, status__in=UNDELIVERED_STATUSES)
        .select_related("holder")
        .order_by("-created_at", "-pk")
    )


def message_get_for_organization(*, organization: Organization, message_id: int) -> Message:
    """One message of the organization; 404 for a missing id and a foreign one alike."""
    return get_object_or_404(
        Message.objects.select_related("holder", "organization"), pk=message_id, organization=organization
    )


def message_list_for_developer_mailbox(*, limit: int = 50) -> QuerySet[Message]:
    """The latest messages of every organization, for the DEBUG-only developer mailbox.

    Deliberately not scoped to a user: the mailbox is a local tool of the embedded default
    (``settings.DEVELOPER_MAILBOX``), never mounted in production, and its view checks the setting too.
    """
    return Message.objects.select_related("organization", "holder").order_by("-created_at", "-pk")[:limit]


# --- Platform-wide figures for monitoring (core/metrics.py): counts only, nobody's messages ---------

# Sent messages only accumulate: they are left out, so the count stays an index range however long
# the outbox grows.
OUTSTANDING_STATUSES = (MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.FAILED, MessageStatus.DEAD)


def message_counts_outstanding() -> dict[str, int]:
    """How many messages of the whole platform are in each status but "sent" (absent: none)."""
    rows = (
        Message.objects.filter(status__in=OUTSTANDING_STATUSES)
        .order_by()
        .values_list("status")
        .annotate(total=Count("pk"))
    )
    return {str(status): int(total) for status, total in rows}


def message_oldest_queued_at() -> datetime | None:
    """When the oldest message still waiting for its first delivery attempt was queued."""
    oldest: datetime | None = Message.objects.filter(status=MessageStatus.QUEUED).aggregate(
        oldest=Min("created_at")
    )["oldest"]
    return oldest
