"""The Celery application. Periodic jobs are declared here, in code, and run by ``celery beat``."""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab
from celery.signals import (
    before_task_publish,
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("firma_remota")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Which queue (settings.CELERY_QUEUES_BY_URGENCY) each task goes to; anything not named here is
# "default". A task's lane follows who waits for it: a holder for a code (messages), an API client
# for a batch (signing), nobody in particular (default).
TASK_LANES = {
    "notifications.tasks.message_deliver": "messages",
    # Recovery sends the SMS code or the username e-mail to someone waiting on the page.
    "accounts.tasks.recovery_process": "messages",
    "signing.tasks.signing_job_run": "signing",
}


def task_route(name: str, *_args: object, **_kwargs: object) -> dict[str, str]:
    """Celery's router (CELERY_TASK_ROUTES): every task to its lane's queue, explicitly."""
    from django.conf import settings

    return {"queue": f"{settings.CELERY_QUEUE_PREFIX}{TASK_LANES.get(name, 'default')}"}


app.conf.beat_schedule = {
    # Messages whose task was lost, or whose worker died mid-send, are delivered anyway.
    "notifications-sweep": {"task": "notifications.tasks.messages_sweep", "schedule": 60.0},
    # Detect a tampered audit trail within the hour, not when someone happens to look.
    "audit-chain-verify": {"task": "audit.tasks.audit_chain_verify", "schedule": crontab(minute=17)},
    # The head of the chain, timestamped and published outside the database every hour: a tail cut
    # off together with the head is then found by the next verification.
    "audit-checkpoint-publish": {"task": "audit.tasks.audit_checkpoint_publish", "schedule": crontab(minute=13)},
    # Expired sessions are already refused; deleting them keeps the table small.
    "sessions-clear-expired": {"task": "accounts.tasks.sessions_clear_expired", "schedule": crontab(minute=5)},
    # The CRL is republished on every status change; this catches a failed publication within
    # minutes and renews it at half its life, long before relying parties see it expire.
    "ca-crl-refresh": {"task": "certificates.tasks.crl_refresh", "schedule": 300.0},
    # The short-lived OCSP responder certificate is replaced CA_OCSP_RESPONDER_ROTATE_DAYS before it
    # expires; daily leaves a month of retries with the defaults.
    "ca-ocsp-responder-rotate": {
        "task": "certificates.tasks.ocsp_responder_rotate", "schedule": crontab(hour=3, minute=17),
    },
    # Time-driven lifecycle: hourly is precise enough for day-granular policies.
    "certificates-expire-unactivated": {
        "task": "certificates.tasks.certificates_expire_unactivated", "schedule": crontab(minute=23),
    },
    "certificates-expire-past-validity": {
        "task": "certificates.tasks.certificates_expire_past_validity", "schedule": crontab(minute=25),
    },
    # Expiry reminders once a day, in the morning (CELERY_TIMEZONE, Europe/Rome): not at night,
    # and after the hourly expiry job has moved yesterday's expired certificates out of "active".
    "certificates-expiry-reminders": {
        "task": "certificates.tasks.expiry_reminders_send", "schedule": crontab(hour=8, minute=41),
    },
    # Signature activations nobody came back to lose their wrapped key within minutes of expiring.
    "signing-activations-purge": {"task": "signing.tasks.signature_activations_purge", "schedule": 300.0},
    # Signed documents of batch jobs are deleted when their results expire (SIGNING_JOB_RESULT_SECONDS).
    "signing-jobs-purge": {"task": "signing.tasks.signing_jobs_purge", "schedule": 300.0},
    # Renewal requests that can no longer complete close within the hour (after the certificate
    # expiry jobs above have run), and operators hear each morning of requests waiting too long.
    "renewal-requests-expire": {"task": "renewal.tasks.renewal_requests_expire_due", "schedule": crontab(minute=29)},
    "renewal-operator-digest": {
        "task": "renewal.tasks.renewal_operator_digest_send", "schedule": crontab(hour=8, minute=47),
    },
    "certificates-auto-revoke-suspended": {
        "task": "certificates.tasks.certificates_auto_revoke_suspended", "schedule": crontab(minute=27),
    },
}


@worker_process_init.connect
def _key_vault_open(**_kwargs: object) -> None:
    """Each worker process opens the key vault once, after the fork (PKCS#11 sessions do not survive
    one); a device that cannot be opened stops the worker with a message naming the setting."""
    from certificates.vault import vault_startup_check

    vault_startup_check()


@worker_ready.connect
def _signing_jobs_of_this_node_interrupted(sender: object = None, **_kwargs: object) -> None:
    """A worker that starts under a node name has no job running yet: a job still marked as running
    on this node was left by the same node's previous life (killed, the machine restarted). It is
    failed now, with nothing signed, rather than at the hourly sweep."""
    from signing.services.jobs import signing_jobs_interrupt_on_node

    hostname = getattr(sender, "hostname", "")
    if hostname:
        signing_jobs_interrupt_on_node(node=str(hostname))


# The request id (core/request_id.py) travels from the web request into the tasks it causes: in the
# message headers when published, taken up by the worker for the task's log lines and audit rows. A
# task nobody's request caused (beat, a retry queued by the worker) uses its own task id.
_request_id_tokens: dict[str, object] = {}


@before_task_publish.connect
def _request_id_publish(headers: dict[str, object] | None = None, **_kwargs: object) -> None:
    from core.request_id import TASK_HEADER, request_id_current

    current = request_id_current()
    if headers is not None and current and TASK_HEADER not in headers:
        headers[TASK_HEADER] = current


@task_prerun.connect
def _request_id_take_up(task_id: str = "", task: object = None, **_kwargs: object) -> None:
    from core.request_id import TASK_HEADER, request_id_set

    request = getattr(task, "request", None)
    carried = getattr(request, TASK_HEADER, None) or (getattr(request, "headers", None) or {}).get(TASK_HEADER)
    _request_id_tokens[task_id] = request_id_set(str(carried or task_id))


@task_postrun.connect
def _request_id_drop(task_id: str = "", **_kwargs: object) -> None:
    from core.request_id import request_id_reset

    token = _request_id_tokens.pop(task_id, None)
    if token is not None:
        request_id_reset(token)


@worker_process_shutdown.connect
def _metrics_process_dead(pid: int | None = None, **_kwargs: object) -> None:
    """In prometheus-client's multiprocess mode (docs/metrics.md) a worker process that ends keeps its
    counters in the shared directory but drops its live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
