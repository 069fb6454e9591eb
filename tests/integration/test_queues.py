"""Queues by urgency, with real workers: a one-time code is not stuck behind a signing job, and a signing
worker that dies mid-job leaves the job failed with nothing signed — never half-signed, never twice."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone

from notifications.models import Message, MessageStatus
from otp.sms_codes import sms_code_issue
from signing.models import SignatureActivation, SigningJob, SigningJobDocument
from tests.certificates.conftest import ca, ca_hierarchy  # noqa: F401  (fixtures)
from tests.integration.conftest import Worker, eventually
from tests.signing.conftest import csc_post, signer  # noqa: F401  (fixture)
from tests.signing.test_batch_api import _authorize, _docs, _sign_body, batch_token  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _submit_job(client, token, signer, count: int) -> SigningJob:  # noqa: ANN001, F811
    docs = _docs(count)
    authorized = _authorize(client, token, signer, docs)
    response = csc_post(client, "/api/v1/batch/sign", _sign_body(signer, authorized["SAD"], docs), token)
    assert response.status_code == 202, response.content
    return SigningJob.objects.get(public_id=response["Location"].rstrip("/").rsplit("/", 1)[-1])


def _lane_worker(worker_env: dict[str, str], tmp_path: Path, lane: str, *extra_env: tuple[str, str],
                 pool: str = "solo") -> Worker:
    worker = Worker(worker_env["CELERY_QUEUE_PREFIX"], tmp_path / f"{lane}.log", worker_env, lanes=(lane,), pool=pool)
    worker.start(*extra_env)
    assert eventually(lambda: " ready." in worker.log(), timeout=60), worker.log()[-3000:]
    return worker


def test_an_sms_code_is_delivered_while_a_200_document_job_runs_on_the_signing_worker(
    client, world, signer, batch_token, settings, worker_env, tmp_path, twilio_stub,  # noqa: F811
):
    settings.SIGNING_BATCH_SYNC_LIMIT = 1
    signing = _lane_worker(worker_env, tmp_path, "signing", *twilio_stub.worker_env())
    messages = _lane_worker(worker_env, tmp_path, "messages", *twilio_stub.worker_env())
    try:
        job = _submit_job(client, batch_token, signer, 200)
        assert eventually(lambda: SigningJob.objects.get(pk=job.pk).state == "running", timeout=60)

        other = world.beta.holder  # another holder, another organization, asking for a code now
        with transaction.atomic():
            sms_code_issue(holder=other, purpose="password_recovery")
        requested = timezone.now()
        sms = Message.objects.filter(holder=other).latest("pk")
        assert eventually(lambda: Message.objects.get(pk=sms.pk).status == MessageStatus.SENT, timeout=60)
        sms.refresh_from_db()
        job.refresh_from_db()

        waited = (sms.sent_at - requested).total_seconds()
        print(f"\nSMS code delivered {waited:.2f} s after it was requested; the job had signed "
              f"{job.done}/{job.total} documents and was {job.state}")
        # The code did not wait for the job: it went out while the job was still signing.
        assert job.finished_at is None or sms.sent_at < job.finished_at
        assert eventually(lambda: SigningJob.objects.get(pk=job.pk).state == "done", timeout=300)
    finally:
        signing.stop()
        messages.stop()
        print(signing.log()[-2000:], messages.log()[-2000:])


def _assert_interrupted_with_nothing_signed(job: SigningJob) -> None:
    job.refresh_from_db()
    assert (job.state, job.error_code, job.done) == ("failed", "interrupted", 0)
    assert not SigningJobDocument.objects.filter(job=job).exists()  # no half-signed result kept
    activation = SignatureActivation.objects.get(reserved_for=job)
    assert activation.closed_at is not None and bytes(activation.wrapped_data_key) == b""


def test_a_signing_worker_killed_mid_job_leaves_it_failed_with_nothing_signed_when_it_starts_again(
    client, world, signer, batch_token, settings, worker_env, tmp_path,  # noqa: F811
):
    settings.SIGNING_BATCH_SYNC_LIMIT = 1
    worker = _lane_worker(worker_env, tmp_path, "signing")
    try:
        job = _submit_job(client, batch_token, signer, 200)
        assert eventually(lambda: SigningJob.objects.get(pk=job.pk).done > 0, timeout=60, interval=0.05)
        worker.kill()  # the whole worker, SIGKILL: no warm shutdown, no chance to store anything
        assert SigningJob.objects.get(pk=job.pk).state == "running"

        worker.start()  # the same node name, as a supervisor restarts it

        assert eventually(lambda: SigningJob.objects.get(pk=job.pk).state != "running", timeout=60)
        _assert_interrupted_with_nothing_signed(job)
        time.sleep(2)  # a late redelivery of the killed task, if the broker made one, must change nothing
        _assert_interrupted_with_nothing_signed(job)
    finally:
        worker.stop()


def test_a_pool_process_killed_mid_job_fails_the_job_at_once_with_nothing_signed(
    client, world, signer, batch_token, settings, worker_env, tmp_path,  # noqa: F811
):
    settings.SIGNING_BATCH_SYNC_LIMIT = 1
    worker = _lane_worker(worker_env, tmp_path, "signing", pool="prefork")
    try:
        job = _submit_job(client, batch_token, signer, 200)
        assert eventually(lambda: SigningJob.objects.get(pk=job.pk).done > 0, timeout=60, interval=0.05)
        [child] = worker.pool_processes()
        os.kill(child, signal.SIGKILL)  # the process signing dies; the worker itself lives on

        assert eventually(lambda: SigningJob.objects.get(pk=job.pk).state != "running", timeout=60)
        _assert_interrupted_with_nothing_signed(job)
    finally:
        worker.stop()
