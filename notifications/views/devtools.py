"""The developer mailbox of the embedded default (mounted only when ``settings.DEVELOPER_MAILBOX`` is on)."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from notifications.display import message_status_for_operator
from notifications.selectors import message_list_for_developer_mailbox

MAILBOX_MESSAGES = 50
MAILBOX_FILES = 10
MAILBOX_FILE_MAX_CHARS = 20_000


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
