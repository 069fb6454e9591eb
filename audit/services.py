"""The one way to write the audit trail, and the check that it was not tampered with."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import models, transaction
from django.utils import timezone

from audit.events import AuditEventType
from audit.metrics import COUNTED_EVENTS, audit_event_count
from audit.models import GENESIS_HASH, AuditChainHead, AuditEvent, Outcome
from core.request_id import request_id_current

# Keys that must never reach an audit row, whoever passes them in details.
_FORBIDDEN_DETAIL_KEYS = {"password", "pin", "otp", "code", "secret", "token", "key", "user_code"}


def _canonical(event: AuditEvent) -> bytes:
    payload = {
        "seq": event.seq,
        "created_at": event.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "event_type": event.event_type,
        "outcome": event.outcome,
        "actor_id": event.actor_id,
        "actor_username": event.actor_username,
        "organization_id": event.organization_id,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "ip": event.ip,
        "details": event.details,
        "prev_hash": event.prev_hash,
    }
    if event.request_id:  # added later: rows without one keep the hash they were chained with
        payload["request_id"] = event.request_id
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _row_hash(event: AuditEvent) -> str:
    key = settings.AUDIT_CHAIN_KEY.encode()
    return hmac.new(key, _canonical(event), hashlib.sha256).hexdigest()


def audit_record(
    *,
    event_type: AuditEventType,
    outcome: str = Outcome.SUCCESS,
    actor: Any = None,
    organization: Any = None,
    subject: models.Model | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event (its type from the catalogue, ``audit/events.py``). Call it inside the
    transaction of the change it records.

    The chain head is locked for the rest of the caller's transaction: audit writes are serialized,
    which is what keeps the chain linear under concurrency.
    """
    details = dict(details or {})
    leaked = _FORBIDDEN_DETAIL_KEYS.intersection(k.lower() for k in details)
    if leaked:
        raise ValueError(f"audit details must not carry secrets: {sorted(leaked)}")
    with transaction.atomic():
        head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
        if head is None:
            AuditChainHead.objects.get_or_create(pk=1)
            head = AuditChainHead.objects.select_for_update().get(pk=1)
        event = AuditEvent(
            seq=head.last_seq + 1,
            created_at=timezone.now(),
            event_type=event_type,
            outcome=str(outcome),
            actor_id=getattr(actor, "pk", None),
            actor_username=getattr(actor, "username", "") or "",
            organization_id=getattr(organization, "pk", organization),
            subject_type=subject._meta.label_lower if subject is not None else "",
            subject_id=str(subject.pk) if subject is not None else "",
            ip=ip or "",
            details=details,
            request_id=request_id_current(),
            prev_hash=head.last_hash,
        )
        event.row_hash = _row_hash(event)
        event.save(force_insert=True)
        head.last_seq = event.seq
        head.last_hash = event.row_hash
        head.save(update_fields=["last_seq", "last_hash"])
        # Counted when the row is committed, never for an attempt rolled back; a counting error is
        # logged by Django and never undoes or fails what was audited.
        if event_type in COUNTED_EVENTS:
            transaction.on_commit(partial(audit_event_count, str(event_type), details), robust=True)
    return event


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    broken_at: int | None = None
    reason: str = ""
    checkpoint_seq: int | None = None  # the checkpoint compared with, if any


def audit_chain_verify() -> ChainReport:
    """Walk the chain from the genesis: any edited, deleted, inserted or reordered row breaks it.

    A tail removed together with the head is found only against a published checkpoint
    (:func:`portal.checkpoints.audit_chain_verify_with_checkpoint`).
    """
    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=2000):
        if event.seq != expected_seq:
            return ChainReport(False, checked, expected_seq, f"row #{expected_seq} is missing")
        if event.prev_hash != prev_hash:
            return ChainReport(False, checked, event.seq, "link to the previous row is broken")
        if not hmac.compare_digest(event.row_hash, _row_hash(event)):
            return ChainReport(False, checked, event.seq, "row content does not match its hash")
        prev_hash = event.row_hash
        expected_seq += 1
        checked += 1
    head = AuditChainHead.objects.filter(pk=1).first()
    last_seq, last_hash = (head.last_seq, head.last_hash) if head else (0, GENESIS_HASH)
    if last_seq != checked or last_hash != prev_hash:
        return ChainReport(False, checked, checked + 1, "rows after the last one checked were removed")
    return ChainReport(True, checked)


# How long the console trusts a verification of the whole chain: walking it costs one HMAC per row of
# the platform, so it runs at most once per this many seconds, whoever opens the page.
CHAIN_STATUS_CACHE_SECONDS = 5 * 60
_CHAIN_STATUS_CACHE_KEY = "audit:chain-status"


@dataclass(frozen=True)
class ChainStatus:
    """A verification of the whole chain (:func:`audit_chain_verify`, no checkpoint) and when it ran."""

    ok: bool
    broken_at: int | None
    reason: str
    checked_at: datetime


def audit_chain_status() -> ChainStatus:
    """The chain's verification, from the cache if it ran in the last few minutes."""
    cached = cache.get(_CHAIN_STATUS_CACHE_KEY)
    if isinstance(cached, dict):
        try:
            return ChainStatus(**cached)
        except TypeError:  # written by another version of this code: verify again
            pass
    report = audit_chain_verify()
    status = ChainStatus(ok=report.ok, broken_at=report.broken_at, reason=report.reason, checked_at=timezone.now())
    # A plain dict in the cache: it outlives a deployment that changes the class.
    cache.set(_CHAIN_STATUS_CACHE_KEY, asdict(status), CHAIN_STATUS_CACHE_SECONDS)
    return status
