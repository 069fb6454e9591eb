"""A real Celery worker signs an exam-records batch job: the SAD crosses the broker, never the database."""

from __future__ import annotations

import base64

import pytest

from signing.models import SigningJob, SigningJobDocument
from signing.services import pdf_validate
from tests.certificates.conftest import ca, ca_hierarchy  # noqa: F401  (fixtures)
from tests.integration.conftest import eventually
from tests.signing.conftest import csc_post, signer  # noqa: F401  (fixture)
from tests.signing.test_batch_api import _assert_signed_in_order, _authorize, _docs, _sign_body, batch_token  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_worker_signs_a_batch_job_and_the_results_validate(client, worker, signer, batch_token, settings):  # noqa: F811
    settings.SIGNING_BATCH_SYNC_LIMIT = 1
    docs = _docs(3)
    authorized = _authorize(client, batch_token, signer, docs)

    response = csc_post(client, "/api/v1/batch/sign", _sign_body(signer, authorized["SAD"], docs), batch_token)

    assert response.status_code == 202, response.content
    assert authorized["SAD"].encode() not in b"".join(bytes(d.data) for d in SigningJobDocument.objects.all())
    assert eventually(lambda: SigningJob.objects.get().state in ("done", "failed"), timeout=120)
    body = client.get(response["Location"], HTTP_AUTHORIZATION=f"Bearer {batch_token}").json()
    assert body["state"] == "done", body
    _assert_signed_in_order(docs, body["documents"], signer)
    assert pdf_validate(data=base64.b64decode(body["documents"][0]["content"])).valid
