"""Where messages leave the machine. Backends raise one of two errors, and the task decides.

- :class:`TransientDeliveryError`: try again later (SMTP down, HTTP 5xx or 429, timeouts);
- :class:`PermanentDeliveryError`: trying again cannot help (invalid number, address refused).

The SMS backend is chosen by ``settings.SMS_BACKEND`` (a dotted path), like Django's e-mail
backends; e-mail goes through Django's ``EMAIL_BACKEND``.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils.module_loading import import_string


class DeliveryError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message[:500]


class TransientDeliveryError(DeliveryError):
    pass


class PermanentDeliveryError(DeliveryError):
    pass


@dataclass(frozen=True)
class Outgoing:
    """What a backend needs to send one message."""

    public_id: str
    recipient: str
    subject: str
    text: str
    html: str


class SmsBackend(Protocol):
    def send(self, message: Outgoing, *, status_callback: str | None) -> str:
        """Send; return the provider's message id. Raise a :class:`DeliveryError` subclass."""
        ...


def sms_backend() -> SmsBackend:
    return import_string(settings.SMS_BACKEND)()


def email_send(message: Outgoing) -> str:
    """Send through Django's e-mail backend; returns our Message-ID (stable across retries)."""
    message_id = f"<{message.public_id}@{settings.EMAIL_MESSAGE_ID_DOMAIN}>"
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.text,
        to=[message.recipient],
        headers={"Message-ID": message_id, "Auto-Submitted": "auto-generated"},
    )
    if message.html:
        email.attach_alternative(message.html, "text/html")
    try:
        email.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentDeliveryError(f"recipient refused: {exc.recipients}") from exc
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        raise TransientDeliveryError(f"{type(exc).__name__}: {exc}") from exc
    return message_id
