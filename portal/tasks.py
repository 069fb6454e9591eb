from __future__ import annotations

import logging

from celery import shared_task

from audit.events import AuditEventType
from audit.services import ChainReport, audit_record
from portal.checkpoints import audit_chain_verify_with_checkpoint, audit_checkpoint_publish, checkpoint_latest

logger = logging.getLogger(__name__)

# The audit trail's periodic jobs. They need the checkpoints (portal/checkpoints.py), so they live
# here; their names stay "audit.tasks.…": the beat schedule (config/celery.py) and any message
# already queued call them by name.


@shared_task(name="audit.tasks.audit_chain_verify")
def audit_chain_verify() -> bool:
    try:
        checkpoint = checkpoint_latest()
    except ValueError as exc:  # an unreadable checkpoint is itself a finding, never a crashed job
        report = ChainReport(False, 0, None, str(exc))
    else:
        report = audit_chain_verify_with_checkpoint(checkpoint=checkpoint)
    if not report.ok:
        logger.critical("audit chain broken at #%s: %s", report.broken_at, report.reason)
    audit_record(
        event_type=AuditEventType.AUDIT_CHAIN_VERIFIED,
        outcome="success" if report.ok else "failure",
        details={
            "checked": report.checked, "broken_at": report.broken_at, "reason": report.reason,
            "checkpoint_seq": report.checkpoint_seq,
        },
    )
    return report.ok


@shared_task(name="audit.tasks.audit_checkpoint_publish")
def audit_checkpoint() -> int:
    return audit_checkpoint_publish().seq
