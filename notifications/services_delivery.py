"""Delivery of the outbox: at-least-once towards the provider, exactly-once in our books.

:func:`message_deliver` claims the row (queued/failed → sending) in a short transaction, sends
outside any transaction, then records the outcome. A redelivered task for a message that is already
sending or sent does nothing. If the worker dies mid-send, the row stays "sending";
:func:`messages_sweep` hands it back to the queue once ``NOTIFICATIONS_STALE_SECONDS`` have passed.
:func:`message_delivery_report` records what the SMS provider reports afterwards (Twilio status
callback): delivered, undelivered, failed.
"""

from __future__ import annotations

import enum
import json
import logging
import random
import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from audit.events import AuditEventType
from audit.models import Outcome
from audit.services import audit_record
from core.metrics import MESSAGES_SENT, bounded_label
from core.tasks import task_enqueue
from notifications.backends import (
    DeliveryError,
    Outgoing,
    PermanentDeliveryError,
    TransientDeliveryError,
    email_send,
    sms_backend,
)
from notifications.models import Channel, DeliveryStatus, Message, MessageStatus
from notifications.sealing import UnsealError, unseal

logger = logging.getLogger(__name__)

DELIVER_TASK = "notifications.tasks.message_deliver"

# Twilio's MessageStatus values that end a message's life, and what we record for them.
FINAL_STATUSES = {
    "delivered": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.FAILED,
}


# What the trail records for a report that the message did not reach its recipient.
_FAILURE_EVENT = {
    DeliveryStatus.UNDELIVERED: AuditEventType.NOTIFICATION_UNDELIVERED,
    DeliveryStatus.FAILED: AuditEventType.NOTIFICATION_FAILED,
}


class ReportOutcome(enum.Enum):
    UNKNOWN_MESSAGE = "unknown_message"
    IGNORED = "ignored"  # an intermediate status (queued, sending, sent…)
    UNCHANGED = "unchanged"  # the same report again
    RECORDED = "recorded"


def message_delivery_report(*, provider_message_id: str, provider_status: str, error_code: str = "") -> ReportOutcome:
    """Record the provider's delivery report on the SMS it sent as ``provider_message_id``.

    Only final statuses change the row; a repeated report changes nothing and audits nothing.
    Failed and undelivered reports keep the provider's error code in ``last_error`` and are audited.
    """
    if not provider_message_id:
        return ReportOutcome.UNKNOWN_MESSAGE
    with transaction.atomic():
        message = (
            Message.objects.select_for_update()
            .filter(channel=Channel.SMS, provider_message_id=provider_message_id)
            .order_by("pk")
            .first()
        )
        if message is None:
            return ReportOutcome.UNKNOWN_MESSAGE
        delivery_status = FINAL_STATUSES.get(provider_status)
        if delivery_status is None:
            return ReportOutcome.IGNORED
        if message.delivery_status == delivery_status:
            return ReportOutcome.UNCHANGED
        fields: dict[str, object] = {"delivery_status": delivery_status, "updated_at": timezone.now()}
        if delivery_status != DeliveryStatus.DELIVERED:
            reason = f"provider reported {provider_status}"
            if error_code:
                reason += f" (Twilio error {error_code})"
            fields["last_error"] = reason[:500]
        Message.objects.filter(pk=message.pk).update(**fields)
        if delivery_status != DeliveryStatus.DELIVERED:
            audit_record(
                event_type=_FAILURE_EVENT[delivery_status],
                outcome=Outcome.FAILURE,
                organization=message.organization,
                subject=message,
                details={"channel": message.channel, "type": message.message_type,
                         "provider_status": provider_status, "provider_error": error_code},
            )
    return ReportOutcome.RECORDED


def retry_delay_seconds(attempt: int) -> float:
    """Exponential back-off with full jitter: base·2^(n-1), randomized, capped."""
    base = settings.NOTIFICATIONS_RETRY_BASE_SECONDS
    ceiling = min(settings.NOTIFICATIONS_RETRY_MAX_SECONDS, base * 2 ** max(attempt - 1, 0))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret


def _claim(message_id: int) -> Message | None:
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(pk=message_id).first()
        if message is None or message.status not in (MessageStatus.QUEUED, MessageStatus.FAILED):
            return None
        early = message.next_attempt_at is not None and message.next_attempt_at > timezone.now()
        if message.status == MessageStatus.FAILED and early:
            return None  # an early duplicate of a scheduled retry
        message.status = MessageStatus.SENDING
        message.attempts += 1
        message.updated_at = timezone.now()
        message.save(update_fields=["status", "attempts", "updated_at"])
        return message


def _send(message: Message) -> str:
    text, html = message.body_text, message.body_html
    if message.body_sealed:
        try:
            real = json.loads(unseal(message.body_sealed))
        except UnsealError as exc:
            raise PermanentDeliveryError(str(exc)) from exc
        text, html = real["text"], real["html"]
    outgoing = Outgoing(
        public_id=str(message.public_id),
        recipient=message.recipient,
        subject=message.subject,
        text=text,
        html=html,
    )
    if message.channel == Channel.EMAIL:
        return email_send(outgoing)
    callback = None
    if settings.SMS_STATUS_CALLBACK:
        callback = settings.SITE_URL.rstrip("/") + reverse("notifications:twilio_status")
    return sms_backend().send(outgoing, status_callback=callback)


def _record(message: Message, **fields: object) -> None:
    """Write the outcome. After a successful send this must not be lost (or the sweeper would send
    again), so a busy database is waited for a few times before giving up."""
    for attempt in range(5):
        fields["updated_at"] = timezone.now()
        try:
            Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(**fields)
            return
        except DatabaseError:
            if attempt == 4:
                raise
            logger.warning("could not record the outcome of message %s yet; retrying", message.pk)
            time.sleep(0.5 * (attempt + 1))


class DeliveryPostponed(Exception):
    """The message could not even be claimed (database busy or briefly unreachable): nothing was
    sent, so the caller may simply try again a little later."""


def message_deliver(*, message_id: int) -> str:
    """One delivery attempt of the outbox row ``message_id``: claim it, send it, record the outcome.

    Returns ``"sent"``, ``"retry"`` (scheduled again with back-off), ``"dead"`` (given up, or refused
    for good by the provider) or ``"skipped"`` (already sending, sent, dead, or an early duplicate).
    """
    try:
        message = _claim(message_id)
    except DatabaseError as exc:
        raise DeliveryPostponed(str(exc)) from exc
    if message is None:
        return "skipped"
    try:
        provider_id = _send(message)
    except PermanentDeliveryError as exc:
        _record(message, status=MessageStatus.DEAD, last_error=exc.message, next_attempt_at=None, body_sealed="")
        return "dead"
    except TransientDeliveryError as exc:
        return _retry_later(message, exc)
    except DeliveryError as exc:  # pragma: no cover - every backend raises a subclass
        return _retry_later(message, exc)
    except Exception as exc:  # a bug in a backend must not leave the row "sending" forever
        logger.exception("unexpected error delivering message %s", message.pk)
        return _retry_later(message, TransientDeliveryError(f"{type(exc).__name__}: {exc}"))
    _record(message, status=MessageStatus.SENT, provider_message_id=provider_id[:100], sent_at=timezone.now(),
            last_error="", next_attempt_at=None, body_sealed="")
    MESSAGES_SENT.labels(channel=bounded_label(message.channel, Channel.values)).inc()
    return "sent"


def _retry_later(message: Message, exc: DeliveryError) -> str:
    if message.attempts >= settings.NOTIFICATIONS_MAX_ATTEMPTS:
        _record(message, status=MessageStatus.DEAD, last_error=f"gave up after {message.attempts} attempts: "
                f"{exc.message}"[:500], next_attempt_at=None, body_sealed="")
        return "dead"
    delay = retry_delay_seconds(message.attempts)
    _record(message, status=MessageStatus.FAILED, last_error=exc.message,
            next_attempt_at=timezone.now() + timedelta(seconds=delay))
    task_enqueue(DELIVER_TASK, message.pk, countdown=delay)
    return "retry"


def messages_sweep() -> int:
    """Re-dispatch what a lost task or a dead worker left behind; returns how many."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.NOTIFICATIONS_STALE_SECONDS)
    with transaction.atomic():
        # A worker died while sending: give the row back to the queue.
        lost = list(
            Message.objects.select_for_update(skip_locked=True).order_by("updated_at")
            .filter(status=MessageStatus.SENDING, updated_at__lt=stale)
            .values_list("pk", flat=True)[:1000]
        )
        Message.objects.filter(pk__in=lost).update(
            status=MessageStatus.QUEUED, updated_at=now, last_error="worker lost while sending; re-queued"
        )
    waiting = list(
        Message.objects.filter(
            Q(status=MessageStatus.QUEUED, updated_at__lt=stale)
            | Q(status=MessageStatus.FAILED, next_attempt_at__lt=stale)
        )
        .order_by("updated_at")  # the longest-waiting first
        .values_list("pk", flat=True)[:1000]
    )
    # Stamp them, so a long broker backlog does not get a duplicate task every minute.
    Message.objects.filter(pk__in=waiting, status=MessageStatus.QUEUED).update(updated_at=now)
    due = [*lost, *waiting]
    for message_id in due:
        task_enqueue(DELIVER_TASK, message_id)
    return len(due)
