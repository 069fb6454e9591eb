"""Periodic jobs of the signing app (schedule in ``config/celery.py``). Thin: each calls one service."""

from __future__ import annotations

from celery import shared_task

from certificates.vault import VaultUnavailable
from signing.services import credential_grants_purge, signature_activations_purge, signing_job_run, signing_jobs_purge


@shared_task(name="signing.tasks.signature_activations_purge")
def signature_activations_purge_task() -> int:
    # The CSC consent flow's codes and tokens seal SADs of these activations: they expire together.
    return signature_activations_purge() + credential_grants_purge()


# No acks_late: the SAD is single-use, so a second run could never sign; a message delivered twice
# finds the job no longer queued and does nothing (signing_job_run is idempotent). Retried only when
# the key device could not be reached: then nothing was spent and the job is queued again; the
# retries (15 s, 30 s, 60 s…) outlast the SAD's five minutes, after which the job fails as expired.
@shared_task(
    name="signing.tasks.signing_job_run",
    autoretry_for=(VaultUnavailable,), retry_backoff=15, retry_backoff_max=60, retry_jitter=False, max_retries=8,
)
def signing_job_run_task(job_id: int, sad_token: str) -> None:
    signing_job_run(job_id=job_id, sad_token=sad_token)


@shared_task(name="signing.tasks.signing_jobs_purge")
def signing_jobs_purge_task() -> int:
    return signing_jobs_purge()
