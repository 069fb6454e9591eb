"""Periodic jobs of the signing app (schedule in ``config/celery.py``). Thin: each calls one service."""

from __future__ import annotations

from celery import shared_task

from signing.services import credential_grants_purge, signature_activations_purge, signing_job_run, signing_jobs_purge


@shared_task(name="signing.tasks.signature_activations_purge")
def signature_activations_purge_task() -> int:
    # The CSC consent flow's codes and tokens seal SADs of these activations: they expire together.
    return signature_activations_purge() + credential_grants_purge()


# Not retried, no acks_late: the SAD is single-use, so a second run could never sign; a message
# delivered twice finds the job no longer queued and does nothing (signing_job_run is idempotent).
# A key device that cannot be reached is the service's own case: it queues the job again, with
# nothing spent.
@shared_task(name="signing.tasks.signing_job_run")
def signing_job_run_task(job_id: int, sad_token: str) -> None:
    signing_job_run(job_id=job_id, sad_token=sad_token)


@shared_task(name="signing.tasks.signing_jobs_purge")
def signing_jobs_purge_task() -> int:
    return signing_jobs_purge()
