"""What the SMS provider reports after sending (Twilio status callback): delivered, undelivered, failed."""

from __future__ import annotations

import enum

from django.db import transaction
from django.utils import timezone

from audit.models import Outcome
from audit.services import audit_record
from notifications.models import Channel, DeliveryStatus, Message

# Twilio's MessageStatus values that end a message's life, and what we record for them.
FINAL_STATUSES = {
    "delivered": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.FAILED,
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
                event_type=f"notification.{delivery_status.value}",
                outcome=Outcome.FAILURE,
                organization=message.organization,
                subject=message,
                details={"channel": message.channel, "type": message.message_type,
                         "provider_status": provider_status, "provider_error": error_code},
            )
    return ReportOutcome.RECORDED
