"""Signing on the HSM vault: a batch leaves no key behind in the device; and when the device
disappears while the service runs, readiness turns red, the API answers 503 with Retry-After, the
panel shows a 503 page, nothing is spent or counted, and when it comes back the same authorization
signs."""

from __future__ import annotations

import base64
import hashlib
import time

import pytest
from django.urls import reverse

from certificates.models import Certificate
from otp.models import DeviceKind, OtpDevice
from otp.oath import totp
from otp.services import device_create
from signing.models import SignatureActivation
from tests.certificates.conftest import OTHER_PIN, PIN, active
from tests.certificates.test_holder_certificate import grant
from tests.hsm import device_outage  # noqa: F401  (fixture)
from tests.signing.conftest import authorize, csc_post, hash_signature_verify, pdf_make, sha256_sign_algo

pytestmark = [
    pytest.mark.parametrize("key_vault", ["pkcs11"], indirect=True),
    # python-pkcs11 finalizes an object search on a session the outage killed: a warning, not ours.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


def _session_private_keys() -> int:
    from pkcs11 import Attribute, ObjectClass

    from certificates import hsm

    with hsm.device_get().session() as session:
        return len(list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.TOKEN: False})))


def test_a_batch_is_signed_in_the_device_and_leaves_no_key_behind(signer):
    from signing.services import signature_sign_documents
    from signing.services.validation import pdf_validate

    documents = [pdf_make(f"Verbale {i}") for i in range(3)]
    before = _session_private_keys()
    _activation, sad = authorize(signer, num_signatures=3)

    signed = signature_sign_documents(sad_token=sad, documents=documents, certificate=signer.certificate)

    assert _session_private_keys() == before
    for pdf in signed:
        report = pdf_validate(data=pdf)
        assert report.valid, report.as_dict()


def _authorized(client, world, token) -> tuple[Certificate, list[bytes], str]:
    certificate = active(world.alpha.holder)
    OtpDevice.objects.filter(holder=world.alpha.holder).delete()
    seed = b"hsm-outage-seed-0123"
    device_create(kind=DeviceKind.APP_TOTP, holder=world.alpha.holder, seed=seed)
    digests = [hashlib.sha256(f"verbale {i}".encode()).digest() for i in range(2)]
    authorized = csc_post(client, "/csc/v1/credentials/authorize", {
        "credentialID": certificate.iut, "numSignatures": 2, "hash": [base64.b64encode(d).decode() for d in digests],
        "PIN": PIN, "OTP": totp(seed, time.time())}, token)
    assert authorized.status_code == 200, authorized.content
    return certificate, digests, authorized.json()["SAD"]


def test_readiness_follows_the_device(client, ca, device_outage):  # noqa: F811
    start, end = device_outage
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["key_vault"]["ok"] is True

    start()
    down = client.get("/readyz")
    assert down.status_code == 503
    failed = {name: check for name, check in down.json()["checks"].items() if not check["ok"]}
    assert failed == {"key_vault": {"ok": False, "ms": failed["key_vault"]["ms"], "error": "DeviceUnavailable"}}

    end()
    assert client.get("/readyz").status_code == 200


def test_sign_hash_while_the_device_is_gone_is_a_503_and_the_sad_still_signs_when_it_is_back(
    client, world, ca, alpha_token, device_outage,  # noqa: F811
):
    certificate, digests, sad = _authorized(client, world, alpha_token)
    start, end = device_outage
    body = {"credentialID": certificate.iut, "SAD": sad, "hash": [base64.b64encode(d).decode() for d in digests],
            "signAlgo": sha256_sign_algo(certificate)}

    start()
    refused = csc_post(client, "/csc/v1/signatures/signHash", body, alpha_token)
    assert refused.status_code == 503 and refused["Retry-After"] == "30"
    assert refused.json()["error"] == "temporarily_unavailable"
    activation = SignatureActivation.objects.get(certificate=certificate)
    assert activation.signatures_left == 2 and activation.closed_at is None

    end()
    signed = csc_post(client, "/csc/v1/signatures/signHash", body, alpha_token)
    assert signed.status_code == 200, signed.content
    for digest, signature in zip(digests, signed.json()["signatures"], strict=True):
        hash_signature_verify(certificate, digest, base64.b64decode(signature))


def test_a_pin_change_while_the_device_is_gone_is_a_503_page_and_counts_no_failure(
    holder_client, world, ca, device_outage,  # noqa: F811
):
    certificate = active(world.alpha.holder)
    grant(holder_client, "pin_change")
    start, end = device_outage

    start()
    page = holder_client.post(reverse("panel:pin_change"),
                              {"current_pin": PIN, "new_pin": OTHER_PIN, "new_pin_confirm": OTHER_PIN})
    assert page.status_code == 503 and page["Retry-After"] == "30"
    assert "Non è stato firmato nulla e non è stato conteggiato nulla" in page.content.decode()
    certificate.refresh_from_db()
    assert certificate.pin_failures == 0

    end()
    grant(holder_client, "pin_change")
    done = holder_client.post(reverse("panel:pin_change"),
                              {"current_pin": PIN, "new_pin": OTHER_PIN, "new_pin_confirm": OTHER_PIN})
    assert done.status_code == 302


def test_a_job_that_meets_the_device_gone_waits_in_the_queue_and_signs_when_it_is_back(
    world, signer, device_outage, monkeypatch,  # noqa: F811
):
    import signing.services.jobs as jobs
    from signing.models import Channel, SigningJob, SigningJobState
    from signing.pdf_input import pdf_intake
    from signing.services import signing_job_create, signing_job_run
    from tests.signing.conftest import api_client_for

    queued: list[dict] = []
    monkeypatch.setattr(jobs, "_enqueue", lambda *args, **kwargs: queued.append(kwargs))  # the test is the worker
    client, _secret = api_client_for(world.alpha, scopes=("batch",))
    documents = pdf_intake(files=[(f"verbale-{n}.pdf", pdf_make(f"Verbale {n}")) for n in range(2)])
    _activation, sad = authorize(signer, hashes=[bytes.fromhex(d.sha256) for d in documents], num_signatures=2,
                                 channel=Channel.API, client=client)
    job = signing_job_create(client=client, certificate=signer.certificate, documents=documents, level="B-B",
                             sad_token=sad)
    start, end = device_outage

    start()
    signing_job_run(job_id=job.pk, sad_token=sad)
    job.refresh_from_db()
    assert job.state == SigningJobState.QUEUED and job.done == 0 and job.documents.count() == 2
    assert queued[-1] == {"countdown": jobs.DEVICE_RETRY_SECONDS}  # queued again, to run a little later
    assert SignatureActivation.objects.get(reserved_for=job).signatures_left == 2

    end()
    signing_job_run(job_id=job.pk, sad_token=sad)
    assert SigningJob.objects.get(pk=job.pk).state == SigningJobState.DONE
