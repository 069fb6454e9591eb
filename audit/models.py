"""The audit trail: append-only rows, each chained to the previous one by an HMAC."""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

GENESIS_HASH = "0" * 64


class AppendOnlyError(Exception):
    """Raised on any attempt to change or remove an audit row through the ORM."""


class AuditQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit events are append-only")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("audit events are append-only")


class Outcome(models.TextChoices):
    SUCCESS = "success", _("success")
    FAILURE = "failure", _("failure")
    DENIED = "denied", _("denied")


class AuditEvent(models.Model):
    """One security-relevant event. Never holds a secret (no passwords, codes, PINs or keys)."""

    seq = models.PositiveBigIntegerField(unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    event_type = models.CharField(max_length=64, db_index=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    # Plain ids and a copy of the username rather than foreign keys: an audit row must outlive,
    # and never cascade with, what it talks about.
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_username = models.CharField(max_length=150, blank=True)
    organization_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    subject_type = models.CharField(max_length=64, blank=True)
    subject_id = models.CharField(max_length=64, blank=True)
    ip = models.CharField(max_length=45, blank=True)
    details = models.JSONField(default=dict, blank=True)
    # The web request (or the task it caused) that recorded the event: the same id as in the logs.
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    row_hash = models.CharField(max_length=64, unique=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"#{self.seq} {self.event_type} {self.outcome}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit events are append-only")


class AuditChainHead(models.Model):
    """The single row that holds the end of the chain; locking it serializes writers.

    On PostgreSQL it can only move forward, one appended event at a time, and can be neither deleted
    nor truncated (migration 0003); the constraint keeps it a single row everywhere.
    """

    last_seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="audit_chain_head_single_row")]

    def __str__(self) -> str:
        return f"head at #{self.last_seq}"
