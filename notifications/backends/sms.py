"""SMS backends that never leave the machine: console, file (the embedded default), local memory."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from notifications.backends import Outgoing

logger = logging.getLogger(__name__)


class ConsoleSmsBackend:
    def send(self, message: Outgoing, *, status_callback: str | None) -> str:
        logger.info("SMS to %s: %s", message.recipient, message.text)
        return f"console-{uuid.uuid4().hex}"


class FileSmsBackend:
    """One JSON file per SMS under ``settings.SMS_FILE_PATH`` (read by the developer mailbox)."""

    def send(self, message: Outgoing, *, status_callback: str | None) -> str:
        folder = Path(settings.SMS_FILE_PATH)
        folder.mkdir(parents=True, exist_ok=True)
        provider_id = f"file-{uuid.uuid4().hex}"
        record = {"id": provider_id, "message": message.public_id, "to": message.recipient, "body": message.text,
                  "sent_at": timezone.now().isoformat()}
        path = folder / f"{timezone.now():%Y%m%d-%H%M%S}-{provider_id}.json"
        path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        return provider_id


class LocmemSmsBackend:
    """Keeps sent SMS in ``LocmemSmsBackend.outbox`` (tests), like Django's locmem e-mail backend."""

    outbox: list[dict[str, str]] = []

    def send(self, message: Outgoing, *, status_callback: str | None) -> str:
        provider_id = f"locmem-{uuid.uuid4().hex}"
        self.outbox.append({"id": provider_id, "to": message.recipient, "body": message.text})
        return provider_id
