"""How a message is shown to people (panel, console), and the developer mailbox of the embedded default."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from notifications.catalog import MESSAGE_TYPES
from notifications.models import Channel, DeliveryStatus, Message, MessageStatus
from notifications.selectors import message_list_for_developer_mailbox

MAILBOX_MESSAGES = 50
MAILBOX_FILES = 10
MAILBOX_FILE_MAX_CHARS = 20_000


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


# --------------------------------------------------------------------------- developer mailbox


def _latest_files(folder: str, pattern: str) -> list[Path]:
    path = Path(folder)
    if not folder or not path.is_dir():
        return []
    files = [entry for entry in path.glob(pattern) if entry.is_file()]
    return sorted(files, key=lambda entry: entry.stat().st_mtime, reverse=True)[:MAILBOX_FILES]


def _read(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"({exc})"
    return text if len(text) <= MAILBOX_FILE_MAX_CHARS else text[:MAILBOX_FILE_MAX_CHARS] + "\n…"


def _sms_files() -> list[dict[str, str]]:
    """The SMS written by FileSmsBackend (one JSON file each): what the phone would have received."""
    sms = []
    for path in _latest_files(getattr(settings, "SMS_FILE_PATH", ""), "*.json"):
        try:
            record = json.loads(_read(path))
        except ValueError:
            record = {}
        if not isinstance(record, dict):
            record = {}
        sms.append({
            "name": path.name,
            "to": str(record.get("to", "")),
            "body": str(record.get("body", "")),
            "sent_at": str(record.get("sent_at", "")),
        })
    return sms


def _email_files() -> list[dict[str, str]]:
    """The e-mails written by Django's file backend (raw MIME, one or more per file)."""
    if not settings.EMAIL_BACKEND.endswith("filebased.EmailBackend"):
        return []
    folder = str(getattr(settings, "EMAIL_FILE_PATH", "") or "")
    return [{"name": path.name, "content": _read(path)} for path in _latest_files(folder, "*.log")]


def mailbox_view(request: HttpRequest) -> HttpResponse:
    """What was sent, bodies included, so someone trying ``make run`` can read the e-mail or the SMS code.

    No login required: it is a local developer tool of the embedded default (DEBUG), like Mailpit's
    web UI. It is mounted only when ``settings.DEVELOPER_MAILBOX`` is true (``config/urls.py``) and
    refuses here as well, so a mistaken include can never expose codes and links in production.
    """
    if not settings.DEVELOPER_MAILBOX:
        raise Http404
    messages = list(message_list_for_developer_mailbox(limit=MAILBOX_MESSAGES))
    return render(
        request,
        "notifications/mailbox.html",
        {
            "messages_sent": [(message, message_status_for_operator(message)) for message in messages],
            "sms_files": _sms_files(),
            "email_files": _email_files(),
            "sms_folder": getattr(settings, "SMS_FILE_PATH", ""),
            "email_folder": getattr(settings, "EMAIL_FILE_PATH", ""),
        },
    )
