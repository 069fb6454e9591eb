"""Reads of the outbox. Each takes the acting user: holders see their own messages, operators their organization's.

"Missing" and "another organization's" are the same 404, as for every other tenant read
(``accounts/selectors.py``).
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from accounts.selectors import RequestUser, holder_for_user, operator_for_user
from notifications.models import Message, MessageStatus

# What the operator console lists: messages that need a person's attention.
UNDELIVERED_STATUSES = (MessageStatus.FAILED, MessageStatus.DEAD)


def message_list_for_holder(*, user: RequestUser) -> QuerySet[Message]:
    """The messages sent to the holder of ``user``, newest first (never anyone else's)."""
    holder = holder_for_user(user=user)
    return Message.objects.filter(holder=holder).order_by("-created_at", "-pk")


def message_list_failed_for_operator(*, user: RequestUser) -> QuerySet[Message]:
    """Failed (retrying) and dead messages of the operator's organization, newest first."""
    operator = operator_for_user(user=user)
    return (
        Message.objects.filter(organization=operator.organization, status__in=UNDELIVERED_STATUSES)
        .select_related("holder")
        .order_by("-created_at", "-pk")
    )


def message_get_for_operator(*, user: RequestUser, message_id: int) -> Message:
    """One message of the operator's organization; 404 for a missing id and a foreign one alike."""
    operator = operator_for_user(user=user)
    return get_object_or_404(
        Message.objects.select_related("holder", "organization"), pk=message_id, organization=operator.organization
    )


def message_list_for_developer_mailbox(*, limit: int = 50) -> QuerySet[Message]:
    """The latest messages of every organization, for the DEBUG-only developer mailbox.

    Deliberately not scoped to a user: the mailbox is a local tool of the embedded default
    (``settings.DEVELOPER_MAILBOX``), never mounted in production, and its view checks the setting too.
    """
    return Message.objects.select_related("organization", "holder").order_by("-created_at", "-pk")[:limit]
