"""Security and signing counters, read off the audit trail as it is written.

Every event worth counting — a signature, a refused authorization, a wrong OTP code, a failed login —
already writes one audit row, with the facts in its details. So the counters are kept in one place,
here, from the rows themselves (``audit_record`` calls :func:`audit_event_count` once the row is
committed), rather than by a second call next to each ``audit_record``: a path that audits is counted,
and a rolled-back attempt is counted no more than it is audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audit.events import AuditEventType
from core.metrics import (
    LOGIN_FAILURES,
    LOGIN_LOCKOUTS,
    OTP_DEVICE_LOCKS,
    OTP_FAILURES,
    SIGNATURE_REFUSALS,
    SIGNATURES,
    bounded_label,
)

# The values the recording code writes (signing: pades levels, "hash" for raw hashes, "mixed" for a
# call with several levels; the Channel choices; accounts' Portal). Anything else is "other".
SIGNATURE_LEVELS = ("B-B", "B-T", "B-LT", "B-LTA", "hash", "mixed")
SIGNATURE_CHANNELS = ("panel", "csc", "api")
LOGIN_PORTALS = ("panel", "console", "admin")

# Every series a dashboard plots from the start exists from the start, at zero: a counter that
# appears only at its first increment hides that increment from rate().
for _level in SIGNATURE_LEVELS:
    for _channel in SIGNATURE_CHANNELS:
        SIGNATURES.labels(level=_level, channel=_channel)
for _portal in LOGIN_PORTALS:
    LOGIN_FAILURES.labels(portal=_portal, reason="invalid")
    LOGIN_FAILURES.labels(portal=_portal, reason="locked")
    LOGIN_LOCKOUTS.labels(portal=_portal)


# The event types audit_event_count counts: audit_record schedules no count for any other.
COUNTED_EVENTS = frozenset({
    AuditEventType.SIGNATURE_CREATED, AuditEventType.SIGNATURE_REFUSED, AuditEventType.OTP_VERIFY_FAILED,
    AuditEventType.OTP_SMS_CODE_FAILED, AuditEventType.OTP_DEVICE_LOCKED, AuditEventType.AUTH_LOGIN_FAILED,
    AuditEventType.AUTH_LOGIN_LOCKED_OUT, AuditEventType.AUTH_LOGIN_REFUSED_LOCKED,
})


def _count(details: Mapping[str, Any]) -> int:
    count = details.get("count", 1)
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 1


def audit_event_count(event_type: str, details: Mapping[str, Any]) -> None:
    """Count one committed audit event, if it is one of those counted."""
    portal = bounded_label(details.get("portal"), LOGIN_PORTALS)
    if event_type == AuditEventType.SIGNATURE_CREATED:
        SIGNATURES.labels(
            level=bounded_label(details.get("level"), SIGNATURE_LEVELS),
            channel=bounded_label(details.get("channel"), SIGNATURE_CHANNELS),
        ).inc(_count(details))
    elif event_type == AuditEventType.SIGNATURE_REFUSED:
        SIGNATURE_REFUSALS.labels(
            step=bounded_label(details.get("step")), reason=bounded_label(details.get("error"))
        ).inc()
    elif event_type == AuditEventType.OTP_VERIFY_FAILED:
        OTP_FAILURES.labels(factor="device", purpose=bounded_label(details.get("purpose"))).inc()
    elif event_type == AuditEventType.OTP_SMS_CODE_FAILED:
        OTP_FAILURES.labels(factor="sms", purpose=bounded_label(details.get("purpose"))).inc()
    elif event_type == AuditEventType.OTP_DEVICE_LOCKED:
        OTP_DEVICE_LOCKS.inc()
    elif event_type == AuditEventType.AUTH_LOGIN_FAILED:
        LOGIN_FAILURES.labels(portal=portal, reason="invalid").inc()
    elif event_type == AuditEventType.AUTH_LOGIN_LOCKED_OUT:
        # The attempt that locks the username is itself a wrong password.
        LOGIN_FAILURES.labels(portal=portal, reason="invalid").inc()
        LOGIN_LOCKOUTS.labels(portal=portal).inc()
    elif event_type == AuditEventType.AUTH_LOGIN_REFUSED_LOCKED:
        LOGIN_FAILURES.labels(portal=portal, reason="locked").inc()
