"""The one way to send anything: ``message_enqueue`` writes the outbox row; workers deliver it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.events import AuditEventType
from audit.services import audit_record
from core.tasks import task_enqueue_on_commit
from notifications.catalog import SECURITY_EVENTS
from notifications.models import Channel, Message, MessageStatus
from notifications.rendering import RenderingError, message_render
from notifications.sealing import MASK, seal

if TYPE_CHECKING:
    from accounts.models import Holder, Organization


def message_dispatch_on_commit(message_id: int) -> None:
    """Hand the message to a worker once (and only if) the surrounding transaction commits; if the
    broker is down, the sweeper picks the row up."""
    task_enqueue_on_commit("notifications.tasks.message_deliver", message_id)


def message_enqueue(
    *,
    message_type: str,
    channel: str,
    recipient: str,
    context: dict[str, Any],
    idempotency_key: str,
    language: str = settings.LANGUAGE_CODE,
    organization: Organization | None = None,
    holder: Holder | None = None,
    secrets: dict[str, str] | None = None,
) -> Message:
    """Queue one message; call it inside the transaction of the change that causes it.

    ``secrets`` (an OTP code…) are rendered only into the sealed copy that the worker sends; the
    stored, displayable body shows them masked.

    The same ``idempotency_key`` never makes a second row: the existing message is returned.
    A message that cannot be rendered (missing variable, unknown template) is still recorded,
    as dead with the reason, so the failure is visible and nothing is sent.
    """
    if not idempotency_key or len(idempotency_key) > 200:
        raise ValueError("idempotency_key must be 1 to 200 characters")
    existing = Message.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    organization = organization or (holder.organization if holder is not None else None)
    if organization is not None:
        context = {
            "organization_name": organization.name,
            "support_email": organization.support_email,
            "support_url": organization.support_url,
            **context,
        }
    message = Message(
        idempotency_key=idempotency_key,
        organization=organization,
        holder=holder,
        channel=channel,
        recipient=recipient.strip()[:254],
        message_type=message_type,
        language=language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE,
    )
    try:
        masked = {**context, **dict.fromkeys(secrets or {}, MASK)}
        rendered = message_render(message_type=message_type, channel=channel, language=message.language,
                                  context=masked)
        if secrets:
            real = message_render(message_type=message_type, channel=channel, language=message.language,
                                  context={**context, **secrets})
            message.body_sealed = seal(json.dumps({"text": real.text, "html": real.html}))
    except RenderingError as exc:
        message.status = MessageStatus.DEAD
        message.last_error = str(exc)[:500]
        message.body_text = ""
    else:
        message.subject, message.body_text, message.body_html = rendered.subject[:255], rendered.text, rendered.html
    if not message.recipient:
        message.status = MessageStatus.DEAD
        message.last_error = "no recipient"
    try:
        with transaction.atomic():
            message.save()
    except IntegrityError:  # the same key queued concurrently: that row is the message
        return Message.objects.get(idempotency_key=message.idempotency_key)
    if message.status == MessageStatus.QUEUED:
        message_dispatch_on_commit(message.pk)
    else:
        audit_record(
            event_type=AuditEventType.NOTIFICATION_NOT_QUEUED,
            outcome="failure",
            organization=organization,
            subject=message,
            details={"type": message_type, "error": message.last_error},
        )
    return message


def security_notice_send(
    *,
    holder: Holder,
    event: str,
    reference: str,
    previous_email: str | None = None,
    previous_mobile: str | None = None,
    occurred_at: datetime | None = None,
) -> list[Message]:
    """Tell the holder that something security-relevant changed (ASVS 2.5.5, 6.3.7).

    Sent by e-mail to the current address and, when a contact changed, to the previous e-mail
    or mobile too: whoever took over the account cannot hide the change from the real owner.
    ``reference`` identifies the change (an audit row, a certificate…) so a retry of the same
    change never notifies twice.
    """
    if event not in SECURITY_EVENTS:
        raise ValueError(f"unknown security event {event!r}")
    when = timezone.localtime(occurred_at or timezone.now())
    context = {"holder_name": holder.full_name, "event_text": SECURITY_EVENTS[event], "occurred_at": when}
    language = holder.user.preferred_language
    targets: list[tuple[str, str]] = [(Channel.EMAIL, holder.email)]
    if previous_email and previous_email.lower() != holder.email.lower():
        targets.append((Channel.EMAIL, previous_email))
    if previous_mobile and previous_mobile != holder.mobile:
        targets.append((Channel.SMS, previous_mobile))
    return [
        message_enqueue(
            message_type="security_notice",
            channel=channel,
            recipient=recipient,
            context=context,
            language=language,
            holder=holder,
            idempotency_key=f"security:{event}:{holder.pk}:{reference}:{channel}:{recipient.lower()}",
        )
        for channel, recipient in targets
    ]


def message_retry(*, actor: Any, message: Message, ip: str = "") -> bool:
    """An operator sends a dead message again (after the contact was fixed, for instance)."""
    with transaction.atomic():
        updated = Message.objects.filter(pk=message.pk, status=MessageStatus.DEAD).update(
            status=MessageStatus.QUEUED, attempts=0, updated_at=timezone.now(), next_attempt_at=None
        )
        if updated:
            audit_record(
                event_type=AuditEventType.OPERATOR_MESSAGE_RETRIED,
                actor=actor,
                organization=message.organization,
                subject=message,
                ip=ip,
            )
            message_dispatch_on_commit(message.pk)
    return bool(updated)
