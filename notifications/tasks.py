"""Delivery and the sweeper. At-least-once towards the provider, exactly-once in our books.

``message_deliver`` claims the row (queued/failed → sending) in a short transaction, sends outside
any transaction, then records the outcome. A redelivered task for a message that is already
sending or sent does nothing. If the worker dies mid-send, the row stays "sending"; the sweeper
hands it back to the queue once ``NOTIFICATIONS_STALE_SECONDS`` have passed.
"""

from __future__ import annotations

import json
import logging
import random
import time
from datetime import timedelta

from celery import Task, shared_task
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from notifications.backends import (
    DeliveryError,
    Outgoing,
    PermanentDeliveryError,
    TransientDeliveryError,
    email_send,
    sms_backend,
)
from notifications.models import Channel, Message, MessageStatus
from notifications.sealing import UnsealError, unseal

logger = logging.getLogger(__name__)


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


@shared_task(name="notifications.tasks.message_deliver", bind=True, acks_late=True, max_retries=None)
def message_deliver(self: Task, message_id: int) -> str:
    try:
        message = _claim(message_id)
    except DatabaseError as exc:  # database busy or briefly unreachable: nothing was sent yet
        raise self.retry(exc=exc, countdown=retry_delay_seconds(1) / 10) from exc
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
    return "sent"


def _retry_later(message: Message, exc: DeliveryError) -> str:
    if message.attempts >= settings.NOTIFICATIONS_MAX_ATTEMPTS:
        _record(message, status=MessageStatus.DEAD, last_error=f"gave up after {message.attempts} attempts: "
                f"{exc.message}"[:500], next_attempt_at=None, body_sealed="")
        return "dead"
    delay = retry_delay_seconds(message.attempts)
    _record(message, status=MessageStatus.FAILED, last_error=exc.message,
            next_attempt_at=timezone.now() + timedelta(seconds=delay))
    message_deliver.apply_async((message.pk,), countdown=delay)
    return "retry"


@shared_task(name="notifications.tasks.messages_sweep")
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
        message_deliver.delay(message_id)
    return len(due)
