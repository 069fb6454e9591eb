"""The Celery application. Periodic jobs are declared here, in code, and run by ``celery beat``."""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab
from celery.signals import worker_process_init, worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("firma_remota")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

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


@worker_process_shutdown.connect
def _metrics_process_dead(pid: int | None = None, **_kwargs: object) -> None:
    """In prometheus-client's multiprocess mode (docs/metrics.md) a worker process that ends keeps its
    counters in the shared directory but drops its live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())
