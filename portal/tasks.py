"""The audit trail's periodic jobs (schedule in ``config/celery.py``). Thin: each calls one service.

They need the checkpoints (``portal/checkpoints.py``: the TSA and the platform admins' e-mail sit
above the audit app), so they live here; their names stay ``audit.tasks.…``, which the beat schedule
and any message already queued use.
"""

from __future__ import annotations

from celery import shared_task

from portal.checkpoints import audit_checkpoint_publish, audit_trail_check


@shared_task(name="audit.tasks.audit_chain_verify")
def audit_chain_verify_task() -> bool:
    return audit_trail_check()


@shared_task(name="audit.tasks.audit_checkpoint_publish")
def audit_checkpoint_publish_task() -> int:
    return audit_checkpoint_publish().seq
