"""Periodic jobs of the signing app (schedule in ``config/celery.py``). Thin: each calls one service."""

from __future__ import annotations

from billiard.exceptions import WorkerLostError
from celery import Task, shared_task
from celery.signals import task_failure

from signing.services import credential_grants_purge, signature_activations_purge, signing_job_run, signing_jobs_purge
from signing.services.jobs import signing_job_interrupt


@shared_task(name="signing.tasks.signature_activations_purge")
def signature_activations_purge_task() -> int:
    # The CSC consent flow's codes and tokens seal SADs of these activations: they expire together.
    return signature_activations_purge() + credential_grants_purge()


# Not retried, no acks_late: the SAD is single-use, so a second run could never sign; a message
# delivered twice finds the job no longer queued and does nothing (signing_job_run is idempotent).
# A key device that cannot be reached is the service's own case: it queues the job again, with
# nothing spent. A worker that dies mid-job leaves it failed, never half-signed: at once when only
# the pool process died (below), when the node starts again otherwise (config/celery.py), at the
# sweep if the node never comes back.
@shared_task(name="signing.tasks.signing_job_run", bind=True)
def signing_job_run_task(self: Task, job_id: int, sad_token: str) -> None:
    signing_job_run(job_id=job_id, sad_token=sad_token, node=self.request.hostname or "")


@task_failure.connect(sender=signing_job_run_task)
def _signing_job_worker_lost(exception: BaseException | None = None, args: tuple[object, ...] = (),
                             **_kwargs: object) -> None:
    # Sent in the worker's main process when the pool process running the task was killed.
    if isinstance(exception, WorkerLostError) and args and isinstance(args[0], int):
        signing_job_interrupt(job_id=args[0])


@shared_task(name="signing.tasks.signing_jobs_purge")
def signing_jobs_purge_task() -> int:
    return signing_jobs_purge()
