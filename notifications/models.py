"""The outbox: one row per e-mail or SMS, written in the transaction of the change that caused it."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")


class MessageStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    SENDING = "sending", _("sending")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed, will retry")
    DEAD = "dead", _("not delivered")


class DeliveryStatus(models.TextChoices):
    """What the provider later reports (Twilio status callback); blank until it does."""

    UNKNOWN = "", _("not reported")
    DELIVERED = "delivered", _("delivered")
    UNDELIVERED = "undelivered", _("undelivered")
    FAILED = "failed", _("failed")


class Message(models.Model):
    """An e-mail or SMS and its delivery state.

    The state machine: queued → sending → sent; sending → failed (transient error, a retry is
    scheduled) → sending …; sending → dead (permanent error or retry budget spent). Only the
    delivery task moves a row out of queued/failed, under a row lock.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    idempotency_key = models.CharField(max_length=200, unique=True)
    organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.PROTECT, related_name="messages"
    )
    holder = models.ForeignKey(
        "accounts.Holder", null=True, blank=True, on_delete=models.PROTECT, related_name="messages"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    recipient = models.CharField(max_length=254)
    message_type = models.CharField(max_length=64)
    language = models.CharField(max_length=8)
    subject = models.CharField(max_length=255, blank=True)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    # The real text of a message that carries a secret, encrypted; wiped once sent or dead.
    body_sealed = models.TextField(blank=True, editable=False)
    status = models.CharField(max_length=8, choices=MessageStatus.choices, default=MessageStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    provider_message_id = models.CharField(max_length=100, blank=True, db_index=True)
    delivery_status = models.CharField(max_length=12, choices=DeliveryStatus.choices, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "updated_at"], name="message_status_updated"),
            models.Index(fields=["holder", "-created_at"], name="message_holder_recent"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="sent") | models.Q(sent_at__isnull=False), name="message_sent_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.message_type} → {self.recipient} ({self.status})"
