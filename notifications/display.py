"""How a message is shown to people: its title, the masked mobile number, its status in words, the
holder's rows (the panel) and the operator's status (the console)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext as _

from notifications.catalog import MESSAGE_TYPES
from notifications.models import Channel, DeliveryStatus, Message, MessageStatus


def message_title(message: Message) -> str:
    if message.subject:
        return message.subject
    spec = MESSAGE_TYPES.get(message.message_type)
    return str(spec.label) if spec is not None else message.message_type.replace("_", " ").capitalize()


def mobile_masked(number: str) -> str:
    """``+393471000001`` → ``+39 347 ••• •001``: enough to recognise one's own number, not to read it.

    The hidden part has the same width whatever the number's length, so the mask does not tell it either.
    """
    digits = "".join(ch for ch in number if ch.isdigit())
    if number.strip().startswith("+"):
        prefix_length = 2 if digits.startswith("39") else min(3, max(len(digits) - 7, 1))
        prefix, national = f"+{digits[:prefix_length]} ", digits[prefix_length:]
    else:
        prefix, national = "", digits
    if len(national) < 7:
        return f"{prefix}••• •{national[-2:]}"
    return f"{prefix}{national[:3]} ••• •{national[-3:]}"


def recipient_display(message: Message) -> str:
    return mobile_masked(message.recipient) if message.channel == Channel.SMS else message.recipient


@dataclass(frozen=True)
class StatusShown:
    """A status in words (never in colour only) and the badge it wears."""

    label: str
    tone: str  # status-badge--<tone> in static/css/app.css


def message_status_for_holder(message: Message) -> StatusShown:
    if message.status in (MessageStatus.QUEUED, MessageStatus.SENDING):
        return StatusShown(_("Sending"), "info")
    if message.status == MessageStatus.FAILED:
        return StatusShown(_("Retrying"), "warning")
    if message.status == MessageStatus.DEAD:
        return StatusShown(_("Not delivered"), "danger")
    # Sent: the provider may have reported since (SMS status callback).
    if message.delivery_status == DeliveryStatus.DELIVERED:
        return StatusShown(_("Delivered"), "success")
    if message.delivery_status in (DeliveryStatus.UNDELIVERED, DeliveryStatus.FAILED):
        return StatusShown(_("Not delivered"), "danger")
    return StatusShown(_("Sent"), "success")


def message_status_for_operator(message: Message) -> StatusShown:
    if message.status == MessageStatus.DEAD:
        return StatusShown(_("Not delivered"), "danger")
    if message.status == MessageStatus.FAILED:
        return StatusShown(_("Retry scheduled"), "warning")
    return message_status_for_holder(message)


@dataclass(frozen=True)
class MessageRow:
    """One line of the holder's "Notifiche" table: no body, ever (it may have carried a code)."""

    created_at: datetime
    channel: str
    title: str
    recipient: str
    status: StatusShown


def message_rows_for_holder(messages: list[Message]) -> list[MessageRow]:
    return [
        MessageRow(
            created_at=message.created_at,
            channel=message.get_channel_display(),
            title=message_title(message),
            recipient=recipient_display(message),
            status=message_status_for_holder(message),
        )
        for message in messages
    ]
