"""Asynchronous jobs of the exam-records batch API: a large batch signed by a Celery worker.

Where the SAD goes
------------------
A job is signed with the SAD the client obtained with PIN + OTP, and that SAD token is
``base64url(activation id ‖ K)``: together with the activation row (which holds the data key wrapped
under K) it opens the holder's key. So the token is **never written to the database** — not in clear,
not encrypted. It travels from the API view to the worker inside the Celery message only
(``signing_job_run_task``'s ``sad_token`` argument, with ``kwargsrepr`` masking it in Celery's logs
and events), and the worker spends it at once.

Why not "encrypt the SAD with a fresh key that goes back to the client in the job URL": the worker,
not the client, needs the SAD, and it must have it before the client comes back; the key would have
to travel in the message anyway, which is this design with one more moving part. What this design
keeps is the split the activation already relies on: the broker holds K (in the token), the database
holds the DEK wrapped under K; neither opens anything alone. Both together still open only what the
holder authorized — the SHA-256 of these very documents, once, before the SAD expires
(``SIGNING_SAD_LIFETIME_SECONDS``, ≤ 5 minutes). A job that no worker picks up in time fails with
``sad_expired``; nothing is signed.

One SAD, one job: the job is stored in the same transaction that reserves the activation for it,
under the activation's row lock (``signature_activation_reserve``). A second submission with the same
SAD is refused at once with ``sad_expired``, as a SAD already used, and nothing of it is stored; a
synchronous signing call or a CSC extension with it is refused the same way. Only the job's worker,
which passes the job, may spend it; a job that fails closes its activation and keeps the
reservation, so the SAD cannot be handed to another job afterwards.

The worker checks the activation and opens the key when it starts (the key is then in its memory
for the duration of the signing only), signs each document on its own and writes its progress every
``SIGNING_JOB_CHUNK`` documents; then, in one transaction, it counts the signatures down, closes the
activation and stores the results (``signature_sign_job_documents``). A document that cannot be
signed — the intake at submission refuses what it knows to be beyond the signer, so this is the
exception — is an error in its place, named in the job's answer, and the others are signed and
returned; a job none of whose documents could be signed fails. A message delivered twice finds the
job no longer queued and does nothing, so the task is not retried: a retry could never succeed with
a spent SAD. The one exception is a key device that cannot be reached: then nothing was spent, and
the job is queued again, to run ``DEVICE_RETRY_SECONDS`` later.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import ApiClient
from audit.events import AuditEventType
from audit.services import audit_record
from certificates.models import Certificate
from certificates.vault import VaultUnavailable
from core.errors import ApplicationError
from core.tasks import task_enqueue
from signing.models import SignatureActivation, SigningJob, SigningJobDocument, SigningJobState
from signing.pdf_input import PdfDocument
from signing.services.activation import signature_activation_close_for_job, signature_activation_reserve
from signing.services.signatures import signature_sign_job_documents

logger = logging.getLogger(__name__)

RUNNABLE = (SigningJobState.QUEUED,)


# Seconds before a job that met the key device gone runs again.
DEVICE_RETRY_SECONDS = 30


def _enqueue(job_id: int, sad_token: str, *, countdown: float | None = None) -> None:
    # The SAD travels in the message only, never in the logs.
    task_enqueue("signing.tasks.signing_job_run", job_id, sad_token=sad_token, countdown=countdown,
                 kwargsrepr="{'sad_token': '<redacted>'}")


def signing_job_create(
    *, client: ApiClient, certificate: Certificate, documents: list[PdfDocument], level: str, sad_token: str,
    reason: str = "", location: str = "", ip: str = "",
) -> SigningJob:
    """Store the batch and queue it for a worker; the SAD goes to the worker in the message only.

    Under the activation's row lock, the SAD is checked (the same checks signing makes, nothing
    spent) and reserved for this job: a wrong, expired, foreign or already used SAD — one already
    given to another job included — or a document that was not authorized is refused now, and
    nothing is stored. The job's creation is audited (client, holder, documents, level).
    """
    if not documents:
        raise ApplicationError("empty_batch", _("Choose at least one PDF file."), field="documents")

    def create(activation: SignatureActivation) -> SigningJob:
        job = SigningJob.objects.create(
            organization_id=certificate.organization_id, client=client, holder_id=certificate.holder_id,
            certificate=certificate, level=level, reason=reason[:200], location=location[:200],
            total=len(documents), ip=ip or "",
        )
        SigningJobDocument.objects.bulk_create(
            [
                SigningJobDocument(job=job, position=index, name=doc.name[:255], sha256=doc.sha256, data=doc.data)
                for index, doc in enumerate(documents)
            ],
            batch_size=100,
        )
        audit_record(
            event_type=AuditEventType.SIGNATURE_JOB_CREATED,
            actor=activation.holder.user,
            organization=certificate.organization_id,
            subject=certificate,
            ip=ip,
            details={
                "job": str(job.public_id), "client": str(client.client_id), "holder": activation.holder.user.username,
                "iut": certificate.iut, "activation": str(activation.public_id), "documents": len(documents),
                "level": level,
            },
        )
        job_id = job.pk
        transaction.on_commit(lambda: _enqueue(job_id, sad_token))
        return job

    return signature_activation_reserve(
        sad_token=sad_token, certificate=certificate, documents=[d.data for d in documents], client=client,
        create_job=create, ip=ip,
    )


def _finish(job: SigningJob, *, state: str, error: ApplicationError | None = None) -> None:
    now = timezone.now()
    job.state = state
    job.finished_at = now
    job.expires_at = now + timedelta(seconds=settings.SIGNING_JOB_RESULT_SECONDS)
    fields = ["state", "finished_at", "expires_at", "done"]
    if error is not None:
        job.error_code = error.code[:40]
        job.error_message = str(error.message)[:500]
        fields += ["error_code", "error_message"]
    job.save(update_fields=fields)


def signing_job_run(*, job_id: int, sad_token: str, node: str = "") -> SigningJob | None:
    """Sign a queued job's documents with the SAD (the worker's side). Idempotent on redelivery.

    ``node`` is the Celery node running it (``signing_jobs_interrupt_on_node``)."""
    with transaction.atomic():
        job = (
            SigningJob.objects.select_for_update(of=("self",))
            .select_related("client__application", "client__organization", "certificate")
            .filter(pk=job_id)
            .first()
        )
        if job is None or job.state not in RUNNABLE:
            return job
        job.state = SigningJobState.RUNNING
        job.started_at = timezone.now()
        job.runner = node[:200]
        job.save(update_fields=["state", "started_at", "runner"])
    documents = list(job.documents.order_by("position").only("pk", "position", "name", "data"))

    def progress(done: int) -> None:
        SigningJob.objects.filter(pk=job.pk).update(done=done)

    def store(results: list[bytes | ApplicationError]) -> None:
        """In the transaction that counts the signatures down: each document's result, the job's end."""
        for document, result in zip(documents, results, strict=True):
            document.data = b""
            if isinstance(result, bytes):
                document.signed = result
            else:
                document.error_code = result.code[:40]
                document.error_message = str(result.message)[:500]
        SigningJobDocument.objects.bulk_update(
            documents, ["signed", "data", "error_code", "error_message"], batch_size=50)
        job.done = len(results)
        failures = [result for result in results if isinstance(result, ApplicationError)]
        if len(failures) == len(results):
            _finish(job, state=SigningJobState.FAILED, error=failures[0])
        else:
            _finish(job, state=SigningJobState.DONE)

    try:
        if job.client.is_revoked:
            raise ApplicationError("forbidden", _("The API client was revoked before the job ran."))
        signature_sign_job_documents(
            sad_token=sad_token, job=job, documents=[bytes(d.data) for d in documents],
            names=[d.name for d in documents], level=job.level, reason=job.reason, location=job.location,
            client=job.client, ip=job.ip, chunk_size=settings.SIGNING_JOB_CHUNK, on_progress=progress, store=store,
        )
    except VaultUnavailable:
        # The key device is out: nothing was signed and the activation is unspent (signing rolled
        # back, or never counted down). The job goes back to the queue and runs again a little later;
        # a SAD that expires meanwhile fails it the usual way (an expired activation is refused
        # before any key is opened), so the waiting ends by itself.
        SigningJob.objects.filter(pk=job.pk, state=SigningJobState.RUNNING).update(
            state=SigningJobState.QUEUED, started_at=None, done=0
        )
        logger.warning("signing job %s waits %s s for the key device", job.public_id, DEVICE_RETRY_SECONDS)
        _enqueue(job.pk, sad_token, countdown=DEVICE_RETRY_SECONDS)
        job.refresh_from_db()
        return job
    except ApplicationError as error:
        with transaction.atomic():
            signature_activation_close_for_job(job=job)
            job.documents.all().delete()
            job.done = 0
            _finish(job, state=SigningJobState.FAILED, error=error)
        return job
    except Exception:
        logger.exception("signing job %s failed", job.public_id)
        with transaction.atomic():
            signature_activation_close_for_job(job=job)
            job.documents.all().delete()
            job.done = 0
            _finish(job, state=SigningJobState.FAILED,
                    error=ApplicationError("internal_error", _("The batch could not be signed.")))
        raise
    return job


def signing_job_results(*, job: SigningJob) -> list[dict[str, Any]]:
    """The signed documents of a done job, in order: ``[{"name", "content" (bytes)}]``."""
    return [
        {"name": d.name, "content": bytes(d.signed)}
        for d in job.documents.filter(error_code="").order_by("position").only("name", "signed", "position")
    ]


def signing_job_failures(*, job: SigningJob) -> list[dict[str, Any]]:
    """The documents of a job that could not be signed, in order: ``[{"position", "name", "code", "message"}]``
    (``position``: the document's place in the batch as submitted, from 0)."""
    return [
        {"position": d.position, "name": d.name, "code": d.error_code, "message": d.error_message}
        for d in job.documents.exclude(error_code="").order_by("position").only(
            "position", "name", "error_code", "error_message")
    ]


def signing_jobs_purge(*, now: datetime | None = None) -> int:
    """Beat job: delete the documents of expired jobs, fail jobs whose worker was lost, drop old rows."""
    now = now or timezone.now()
    expired = list(
        SigningJob.objects.filter(expires_at__lte=now, purged_at__isnull=True).values_list("pk", flat=True)
    )
    with transaction.atomic():
        SigningJobDocument.objects.filter(job_id__in=expired).delete()
        SigningJob.objects.filter(pk__in=expired).update(purged_at=now)
    # Queued past any SAD's life, or running past the longest batch: no worker will finish them.
    stale = now - timedelta(seconds=settings.SIGNING_JOB_MAX_RUN_SECONDS)
    lost = SigningJob.objects.filter(
        state__in=(SigningJobState.QUEUED, SigningJobState.RUNNING), created_at__lte=stale
    )
    _interrupt(list(lost.values_list("pk", flat=True)), states=(SigningJobState.QUEUED, SigningJobState.RUNNING))
    horizon = now - timedelta(days=settings.SIGNING_ACTIVATION_RETENTION_DAYS)
    SigningJob.objects.filter(purged_at__lt=horizon).delete()
    return len(expired)


def _interrupt(job_ids: list[int], *, states: tuple[str, ...] = (SigningJobState.RUNNING,)) -> int:
    """Fail jobs no worker will finish, with nothing signed.

    Signing stores a job's results and counts its signatures down in one transaction at the end, so
    a job whose worker died has no signed document and no half-stored result: failing it is exact.
    Its activation is closed (the SAD given to the job is spent either way), its documents deleted.
    """
    now = timezone.now()
    failed = 0
    for job_id in job_ids:
        with transaction.atomic():
            job = SigningJob.objects.select_for_update(of=("self",)).filter(pk=job_id, state__in=states).first()
            if job is None:
                continue
            signature_activation_close_for_job(job=job)
            SigningJobDocument.objects.filter(job_id=job_id).delete()
            SigningJob.objects.filter(pk=job_id).update(
                state=SigningJobState.FAILED, finished_at=now, done=0, error_code="interrupted",
                error_message="The job was interrupted before it was signed: nothing was signed.",
                expires_at=now + timedelta(seconds=settings.SIGNING_JOB_RESULT_SECONDS),
            )
            failed += 1
        logger.warning("signing job %s interrupted: its worker stopped; nothing was signed", job.public_id)
    return failed


def signing_job_interrupt(*, job_id: int) -> int:
    """The worker process running the job died (Celery's WorkerLostError): fail it if still running."""
    return _interrupt([job_id])


def signing_jobs_interrupt_on_node(*, node: str) -> int:
    """A Celery node starts: the jobs still running under its name were interrupted by its last death."""
    return _interrupt(
        list(SigningJob.objects.filter(state=SigningJobState.RUNNING, runner=node).values_list("pk", flat=True))
    )
