"""One SAD under parallel use (PostgreSQL, real row locks): one job, one set of signatures."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from core.errors import ApplicationError
from signing.models import Channel, SignatureRecord, SigningJob
from signing.pdf_input import pdf_intake
from signing.services import signature_sign_documents, signing_job_create
from tests.signing.conftest import api_client_for, authorize, pdf_make

PARALLEL = 6

pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True), pytest.mark.both_vaults]


def _in_parallel(call: Callable[[], object]) -> tuple[int, list[str]]:
    """``call`` from PARALLEL threads released together: (how many succeeded, the error codes)."""
    start = threading.Barrier(PARALLEL)
    succeeded: list[object] = []
    codes: list[str] = []

    def run() -> None:
        try:
            start.wait()
            succeeded.append(call())
        except ApplicationError as exc:
            codes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(succeeded), codes


def test_parallel_job_submissions_with_one_sad_store_exactly_one_job(world, signer, monkeypatch):
    import signing.services.jobs as jobs

    monkeypatch.setattr(jobs, "_enqueue", lambda *args: None)
    client, _secret = api_client_for(world.alpha, scopes=("batch",))
    documents = pdf_intake(files=[(f"verbale-{n}.pdf", pdf_make(f"Verbale {n}")) for n in range(3)])
    _activation, sad = authorize(signer, hashes=[bytes.fromhex(d.sha256) for d in documents], num_signatures=3,
                                 channel=Channel.API, client=client)

    created, codes = _in_parallel(lambda: signing_job_create(
        client=client, certificate=signer.certificate, documents=documents, level="B-B", sad_token=sad))

    assert created == 1 and codes == ["sad_expired"] * (PARALLEL - 1)
    assert SigningJob.objects.count() == 1


def test_parallel_signing_with_one_single_use_sad_signs_once(world, signer):
    document = pdf_make("Verbale unico")
    _activation, sad = authorize(signer, num_signatures=1)

    signed, codes = _in_parallel(lambda: signature_sign_documents(
        sad_token=sad, documents=[document], certificate=signer.certificate))

    assert signed == 1 and codes == ["sad_expired"] * (PARALLEL - 1)
    assert SignatureRecord.objects.count() == 1
