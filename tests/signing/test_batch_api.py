"""The exam-records batch API (sync and as a job) and the validation API, over HTTP with real crypto."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone, translation

from certificates.services import certificate_key_unlock, certificate_revoke, certificate_suspend
from signing import tasks
from signing.models import SignatureActivation, SignatureRecord, SigningJob, SigningJobDocument, SigningJobState
from signing.pades import documents_sign
from signing.services import pdf_validate, signing_jobs_purge
from tests.certificates.conftest import PIN
from tests.signing.conftest import api_client_for, csc_post, pdf_make, token_for
from tests.signing.hostile_pdfs import corpus_bytes

pytestmark = pytest.mark.both_vaults


@pytest.fixture
def batch_token(client, world):
    return token_for(client, *api_client_for(world.alpha, scopes=("batch", "validation"), name="Esse3"))[
        "access_token"]


def _docs(count: int) -> list[tuple[str, bytes]]:
    return [(f"verbale-{i}.pdf", pdf_make(f"Verbale d'esame n. {i}")) for i in range(count)]


def _authorize(client, token, signer, docs) -> dict:
    response = csc_post(client, "/api/v1/batch/authorize", {
        "userID": signer.holder.user.username, "credentialID": signer.certificate.iut, "PIN": PIN,
        "OTP": signer.otp(),
        "documents": [{"name": name, "sha256": hashlib.sha256(data).hexdigest()} for name, data in docs],
    }, token)
    assert response.status_code == 200, response.content
    return response.json()


def _sign_body(signer, sad: str, docs, level: str = "B-B") -> dict:
    return {
        "credentialID": signer.certificate.iut, "SAD": sad, "level": level, "reason": "Verbalizzazione",
        "documents": [{"name": name, "content": base64.b64encode(data).decode()} for name, data in docs],
    }


def _assert_signed_in_order(docs, returned, signer) -> None:
    assert [d["name"] for d in returned] == [name for name, _ in docs]
    for (_name, original), item in zip(docs, returned, strict=True):
        signed = base64.b64decode(item["content"])
        assert signed.startswith(original)  # incremental update of that very document
        report = pdf_validate(data=signed)
        assert report.valid, report.as_dict()
        assert signer.certificate.subject_common_name in report.signatures[0].signer


def test_a_batch_of_three_is_signed_at_once_in_order_and_validates(client, signer, batch_token):
    docs = _docs(3)
    authorized = _authorize(client, batch_token, signer, docs)
    assert 0 < authorized["expiresIn"] <= 300

    response = csc_post(client, "/api/v1/batch/sign", _sign_body(signer, authorized["SAD"], docs), batch_token)

    assert response.status_code == 200, response.content
    _assert_signed_in_order(docs, response.json()["documents"], signer)
    records = SignatureRecord.objects.filter(holder=signer.holder)
    assert records.count() == 3 and set(records.values_list("channel", flat=True)) == {"api"}
    assert SignatureActivation.objects.get().signatures_left == 0


def test_a_large_batch_becomes_a_job_that_a_worker_signs(client, signer, batch_token, settings, monkeypatch,
                                                         django_capture_on_commit_callbacks):
    from signing import tasks

    settings.SIGNING_BATCH_SYNC_LIMIT = 1
    settings.SIGNING_JOB_CHUNK = 2
    enqueued: list[tuple[list, dict, dict]] = []
    monkeypatch.setattr(tasks.signing_job_run_task, "apply_async",
                        lambda args, kwargs, **options: enqueued.append((args, kwargs, options)))
    docs = _docs(3)
    authorized = _authorize(client, batch_token, signer, docs)

    with django_capture_on_commit_callbacks(execute=True):
        response = csc_post(client, "/api/v1/batch/sign", _sign_body(signer, authorized["SAD"], docs), batch_token)

    assert response.status_code == 202, response.content
    url = response.json()["job"]
    assert response["Location"] == url and "/api/v1/batch/jobs/" in url
    job = SigningJob.objects.get()
    assert job.state == SigningJobState.QUEUED and job.total == 3 and job.done == 0
    # The SAD is in the message only: on no row of the job, and masked in Celery's logs.
    [(args, kwargs, options)] = enqueued
    assert args == [job.pk] and kwargs == {"sad_token": authorized["SAD"]}
    assert authorized["SAD"] not in options["kwargsrepr"]
    stored = b"".join(bytes(d.data) + d.name.encode() + d.sha256.encode() for d in SigningJobDocument.objects.all())
    job_row = " ".join(str(v) for v in SigningJob.objects.values().get().values())
    assert authorized["SAD"].encode() not in stored and authorized["SAD"] not in job_row
    assert SignatureRecord.objects.count() == 0  # nothing signed before the worker runs

    queued = client.get(url, HTTP_AUTHORIZATION=f"Bearer {batch_token}").json()
    assert queued["state"] == "queued" and queued["progress"] == "0/3" and "documents" not in queued

    tasks.signing_job_run_task(*args, **kwargs)  # what the worker does with the message

    done = client.get(url, HTTP_AUTHORIZATION=f"Bearer {batch_token}")
    assert done.status_code == 200, done.content
    body = done.json()
    assert body["state"] == "done" and body["progress"] == "3/3" and body["error"] is None
    _assert_signed_in_order(docs, body["documents"], signer)
    assert not any(bytes(d.data) for d in SigningJobDocument.objects.all())  # the unsigned copies are gone
    # Delivered twice: nothing happens (the job is done, the SAD spent).
    tasks.signing_job_run_task(*args, **kwargs)
    assert SignatureRecord.objects.count() == 3

    # After expiry: 410, and the beat job deletes the documents.
    SigningJob.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {batch_token}").status_code == 410
    assert signing_jobs_purge() == 1
    assert not SigningJobDocument.objects.exists()
    gone = client.get(url, HTTP_AUTHORIZATION=f"Bearer {batch_token}")
    assert gone.status_code == 410 and gone.json()["code"] == "job_expired"


def test_a_job_whose_sad_expired_before_the_worker_fails_and_signs_nothing(
        client, signer, batch_token, settings, monkeypatch, django_capture_on_commit_callbacks):
    from signing import tasks

    settings.SIGNING_BATCH_SYNC_LIMIT = 1
    enqueued: list = []
    monkeypatch.setattr(tasks.signing_job_run_task, "apply_async",
                        lambda args, kwargs, **options: enqueued.append((args, kwargs)))
    docs = _docs(2)
    authorized = _authorize(client, batch_token, signer, docs)
    with django_capture_on_commit_callbacks(execute=True):
        url = csc_post(client, "/api/v1/batch/sign", _sign_body(signer, authorized["SAD"], docs),
                       batch_token).json()["job"]
    SignatureActivation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    [(args, kwargs)] = enqueued
    tasks.signing_job_run_task(*args, **kwargs)

    body = client.get(url, HTTP_AUTHORIZATION=f"Bearer {batch_token}").json()
    assert body["state"] == "failed" and body["error"]["code"] == "sad_expired" and "documents" not in body
    assert SignatureRecord.objects.count() == 0 and not SigningJobDocument.objects.exists()


@pytest.mark.parametrize("sync_limit", [20, 1])
def test_a_document_that_was_not_authorized_is_unauthorized_hash_and_nothing_is_signed(
        client, signer, batch_token, settings, sync_limit):
    settings.SIGNING_BATCH_SYNC_LIMIT = sync_limit
    docs = _docs(2)
    authorized = _authorize(client, batch_token, signer, docs)
    swapped = [docs[0], ("verbale-x.pdf", pdf_make("Verbale d'esame falsificato"))]

    response = csc_post(client, "/api/v1/batch/sign", _sign_body(signer, authorized["SAD"], swapped), batch_token)

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "unauthorized_hash"
    assert SignatureRecord.objects.count() == 0 and not SigningJob.objects.exists()
    assert SignatureActivation.objects.get().signatures_left == 2  # a refusal spends nothing


def test_another_organizations_client_gets_404_for_the_holder_and_the_job(
        client, world, signer, batch_token, settings, monkeypatch, django_capture_on_commit_callbacks):
    from signing import tasks

    beta_token = token_for(client, *api_client_for(world.beta, scopes=("batch",), name="Beta"))["access_token"]
    docs = _docs(2)
    body = {"userID": signer.holder.user.username, "credentialID": signer.certificate.iut, "PIN": PIN,
            "OTP": signer.otp(), "documents": [{"name": "a.pdf", "sha256": hashlib.sha256(docs[0][1]).hexdigest()}]}
    foreign = csc_post(client, "/api/v1/batch/authorize", body, beta_token)
    assert foreign.status_code == 404 and set(foreign.json()) == {"code", "message", "fields"}
    assert not SignatureActivation.objects.exists()

    settings.SIGNING_BATCH_SYNC_LIMIT = 1
    monkeypatch.setattr(tasks.signing_job_run_task, "apply_async", lambda *a, **k: None)
    authorized = _authorize(client, batch_token, signer, docs)
    foreign_sign = csc_post(client, "/api/v1/batch/sign", _sign_body(signer, authorized["SAD"], docs), beta_token)
    assert foreign_sign.status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        url = csc_post(client, "/api/v1/batch/sign", _sign_body(signer, authorized["SAD"], docs),
                       batch_token).json()["job"]
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {beta_token}").status_code == 404
    # Another client of the same organization does not see it either.
    other = token_for(client, *api_client_for(world.alpha, scopes=("batch",), name="Other"))["access_token"]
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {other}").status_code == 404
    assert client.get("/api/v1/batch/jobs/not-a-uuid", HTTP_AUTHORIZATION=f"Bearer {batch_token}").status_code == 404


def test_scopes_and_authentication(client, world, signer):
    csc_only = token_for(client, *api_client_for(world.alpha, scopes=("csc",), name="CSC only"))["access_token"]
    for path in ("/api/v1/batch/authorize", "/api/v1/batch/sign", "/api/v1/validation"):
        wrong = csc_post(client, path, {}, csc_only)
        assert wrong.status_code == 403 and wrong.json()["code"] == "insufficient_scope", path
        anonymous = csc_post(client, path, {})
        assert anonymous.status_code == 401 and anonymous.json()["code"] == "invalid_token", path
    batch_only = token_for(client, *api_client_for(world.alpha, scopes=("batch",), name="Batch only"))["access_token"]
    assert csc_post(client, "/api/v1/validation", {}, batch_only).status_code == 403


def test_bad_input_is_a_json_4xx(client, signer, batch_token, settings):
    base = {"credentialID": signer.certificate.iut, "SAD": "x", "level": "B-B"}
    cases = [
        ({**base, "documents": []}, 400),
        ({**base, "level": "B-X", "documents": [{"name": "a.pdf", "content": "AAAA"}]}, 400),
        ({**base, "documents": [{"name": "a.pdf", "content": "not base64!"}]}, 400),
        ({**base, "documents": [{"name": "a.pdf", "content": base64.b64encode(b"hello").decode()}]}, 400),
        ({**base, "credentialID": "nope", "documents": [{"name": "a.pdf", "content": "AAAA"}]}, 404),
    ]
    for body, expected in cases:
        response = csc_post(client, "/api/v1/batch/sign", body, batch_token)
        assert response.status_code == expected, (body, response.content)
        assert set(response.json()) == {"code", "message", "fields"}
    bad_hash = csc_post(client, "/api/v1/batch/authorize", {
        "userID": signer.holder.user.username, "credentialID": signer.certificate.iut, "PIN": PIN, "OTP": "1",
        "documents": [{"name": "a.pdf", "sha256": "abc"}]}, batch_token)
    assert bad_hash.status_code == 400 and bad_hash.json()["code"] == "invalid_request"
    settings.SIGNING_MAX_FILE_BYTES = 1024
    big = csc_post(client, "/api/v1/batch/sign", {**base, "documents": [
        {"name": "big.pdf", "content": base64.b64encode(pdf_make(pages=30)).decode()}]}, batch_token)
    assert big.status_code == 413 and big.json()["code"] == "file_too_large"
    settings.API_MAX_DOCUMENT_REQUEST_BYTES = 1024 * 1024
    huge = csc_post(client, "/api/v1/batch/sign", '{"x": "' + "a" * (1024 * 1024 + 1) + '"}', batch_token)
    assert huge.status_code == 413


def test_a_wrong_pin_counts_and_authorizes_nothing(client, signer, batch_token):
    docs = _docs(1)
    response = csc_post(client, "/api/v1/batch/authorize", {
        "userID": signer.holder.user.username, "credentialID": signer.certificate.iut, "PIN": "00000000",
        "OTP": signer.otp(), "documents": [{"name": "a.pdf", "sha256": hashlib.sha256(docs[0][1]).hexdigest()}],
    }, batch_token)
    assert response.status_code == 400 and response.json()["code"] == "invalid_pin"
    assert not SignatureActivation.objects.exists()


def test_the_validation_api_reports_a_signed_pdf_and_refuses_garbage(client, signer, batch_token):
    docs = _docs(1)
    authorized = _authorize(client, batch_token, signer, docs)
    signed = base64.b64decode(csc_post(client, "/api/v1/batch/sign", _sign_body(signer, authorized["SAD"], docs),
                                       batch_token).json()["documents"][0]["content"])

    as_json = csc_post(client, "/api/v1/validation", {"document": base64.b64encode(signed).decode()}, batch_token)
    assert as_json.status_code == 200, as_json.content
    report = as_json.json()
    assert report["signed"] and report["valid"] and report["signatures"][0]["intact"]

    from django.core.files.uploadedfile import SimpleUploadedFile

    as_file = client.post("/api/v1/validation", {"file": SimpleUploadedFile("v.pdf", signed, "application/pdf")},
                          HTTP_AUTHORIZATION=f"Bearer {batch_token}")
    assert as_file.status_code == 200, as_file.content
    assert as_file.json()["valid"] is True

    unsigned = csc_post(client, "/api/v1/validation", {"document": base64.b64encode(pdf_make()).decode()},
                        batch_token).json()
    assert unsigned["signed"] is False and unsigned["valid"] is False

    for body in ({"document": base64.b64encode(b"garbage").decode()}, {"document": "%%%"}, {},
                 {"document": base64.b64encode(b"%PDF-1.7\ngarbage").decode()}):
        bad = csc_post(client, "/api/v1/validation", body, batch_token)
        assert bad.status_code == 400, (body, bad.content)
        assert set(bad.json()) == {"code", "message", "fields"}
    garbage_file = client.post("/api/v1/validation", {"file": SimpleUploadedFile("g.pdf", b"junk")},
                               HTTP_AUTHORIZATION=f"Bearer {batch_token}")
    assert garbage_file.status_code == 400 and garbage_file.json()["code"] == "not_a_pdf"


def _validated_by_the_api(client, token, data: bytes) -> dict:
    response = csc_post(client, "/api/v1/validation", {"document": base64.b64encode(data).decode()}, token)
    assert response.status_code == 200, response.content
    return response.json()


def _signed_b_b(signer) -> bytes:
    """No timestamp: the status the validation finds today is the only one there is."""
    key = certificate_key_unlock(certificate=signer.certificate, pin=PIN)
    return documents_sign(private_key=key, certificate=signer.certificate, documents=[pdf_make()], level="B-B")[0]


def test_the_validation_api_names_the_signer_and_keeps_the_dn_apart(client, signer, batch_token):
    (signature,) = _validated_by_the_api(client, batch_token, _signed_b_b(signer))["signatures"]
    assert signature["signer"] == "Mario Rossi"
    assert signature["signer_serial_number"] == signer.certificate.subject_serial_number
    assert signature["signer_subject"].startswith("Common Name: Mario Rossi, Serial Number: TINIT-")
    assert (signature["revocation_status"], signature["revoked"], signature["on_hold"]) == ("good", False, False)
    assert signature["revocation_time"] is None and signature["revocation_reason"] is None


def test_the_validation_api_says_on_hold_not_revoked_for_a_suspended_signer(client, signer, batch_token):
    signed = _signed_b_b(signer)
    certificate_suspend(certificate=signer.certificate)

    report = _validated_by_the_api(client, batch_token, signed)

    (signature,) = report["signatures"]
    assert (signature["revocation_status"], signature["on_hold"], signature["revoked"]) == ("on_hold", True, False)
    assert signature["revocation_reason"] == "certificate_hold" and signature["revocation_time"]
    assert report["valid"] is False


def test_the_validation_api_says_revoked_for_a_revoked_signer(client, signer, batch_token):
    signed = _signed_b_b(signer)
    certificate_revoke(certificate=signer.certificate, reason="key_compromise")

    report = _validated_by_the_api(client, batch_token, signed)

    (signature,) = report["signatures"]
    assert (signature["revocation_status"], signature["on_hold"], signature["revoked"]) == ("revoked", False, True)
    assert signature["revocation_reason"] == "key_compromise" and signature["revocation_time"]
    assert report["valid"] is False


def test_the_schema_describes_each_signature_of_the_validation_report(client, db):
    import yaml

    schema = yaml.safe_load(client.get("/api/schema/", HTTP_ACCEPT="application/json").content)
    signature = schema["components"]["schemas"]["ValidationSignature"]
    assert {"signer", "signer_serial_number", "signer_subject", "revoked", "on_hold", "revocation_status",
            "revocation_time", "revocation_reason", "level", "timestamp_time", "modification_level"} <= set(
        signature["properties"])
    status = signature["properties"]["revocation_status"]
    ref = status.get("$ref") or status["allOf"][0]["$ref"]  # drf-spectacular names the enum a component
    enum = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]["enum"]
    assert enum == ["good", "on_hold", "revoked"]
    output = schema["components"]["schemas"]["ValidationOutput"]
    assert output["properties"]["signatures"]["items"]["$ref"].endswith("/ValidationSignature")


def test_the_schema_documents_the_batch_and_validation_apis(client, db):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    import yaml

    paths = yaml.safe_load(schema.content)["paths"]
    for path in ("/api/v1/batch/authorize", "/api/v1/batch/sign", "/api/v1/batch/jobs/{job_id}",
                 "/api/v1/validation"):
        assert path in paths
    assert {"200", "202"} <= set(paths["/api/v1/batch/sign"]["post"]["responses"])


def test_the_purge_fails_a_job_whose_worker_was_lost(client, signer, batch_token, settings, monkeypatch,
                                                     django_capture_on_commit_callbacks):
    from signing import tasks

    settings.SIGNING_BATCH_SYNC_LIMIT = 1
    monkeypatch.setattr(tasks.signing_job_run_task, "apply_async", lambda *a, **k: None)  # no worker ever runs it
    docs = _docs(2)
    authorized = _authorize(client, batch_token, signer, docs)
    with django_capture_on_commit_callbacks(execute=True):
        url = csc_post(client, "/api/v1/batch/sign", _sign_body(signer, authorized["SAD"], docs),
                       batch_token).json()["job"]
    signing_jobs_purge()
    assert SigningJob.objects.get().state == SigningJobState.QUEUED  # not stale yet

    SigningJob.objects.update(created_at=timezone.now() - timedelta(seconds=settings.SIGNING_JOB_MAX_RUN_SECONDS + 1))
    signing_jobs_purge()

    body = client.get(url, HTTP_AUTHORIZATION=f"Bearer {batch_token}").json()
    assert body["state"] == "failed" and body["error"]["code"] == "interrupted"
    assert not SigningJobDocument.objects.exists() and SignatureRecord.objects.count() == 0


def test_a_suspended_credential_is_credential_is_disabled_in_the_batch_api_and_in_csc(client, world, signer,
                                                                                      batch_token):
    from certificates.services import certificate_suspend
    from tests.signing.conftest import api_client_for as csc_client
    from tests.signing.conftest import sha256_sign_algo

    certificate_suspend(certificate=signer.certificate, actor=world.alpha.operator.user, note="test")
    docs = _docs(1)
    batch = csc_post(client, "/api/v1/batch/sign", _sign_body(signer, "x", docs), batch_token)
    assert batch.status_code == 400 and batch.json()["code"] == "credential_is_disabled"
    csc_token = token_for(client, *csc_client(world.alpha, name="CSC"))["access_token"]
    csc = csc_post(client, "/csc/v1/signatures/signHash", {
        "credentialID": signer.certificate.iut, "SAD": "x", "hash": [base64.b64encode(bytes(32)).decode()],
        "signAlgo": sha256_sign_algo(signer.certificate)}, csc_token)
    # One rule, one message: the same refusal in each API's own form.
    assert csc.status_code == 400 and csc.json() == {
        "error": "invalid_request", "error_description": "The credential identified by credentialID is disabled",
        "error_details": {"code": "credential_is_disabled", "message": batch.json()["message"]}}
    missing = csc_post(client, "/api/v1/batch/sign", {**_sign_body(signer, "x", docs), "credentialID": "nope"},
                       batch_token)
    assert missing.status_code == 404


def _queue_jobs(settings, monkeypatch) -> list:
    from signing import tasks

    settings.SIGNING_BATCH_SYNC_LIMIT = 1
    enqueued: list = []
    monkeypatch.setattr(tasks.signing_job_run_task, "apply_async",
                        lambda args, kwargs, **options: enqueued.append((args, kwargs)))
    return enqueued


def test_a_second_job_with_the_same_sad_is_refused_at_once_and_the_first_signs_everything(
        client, signer, batch_token, settings, monkeypatch, django_capture_on_commit_callbacks):
    from audit.models import AuditEvent
    from signing import tasks

    enqueued = _queue_jobs(settings, monkeypatch)
    docs = _docs(3)
    sad = _authorize(client, batch_token, signer, docs)["SAD"]
    with django_capture_on_commit_callbacks(execute=True):
        first = csc_post(client, "/api/v1/batch/sign", _sign_body(signer, sad, docs), batch_token)
    assert first.status_code == 202, first.content
    job = SigningJob.objects.get()
    assert SignatureActivation.objects.get().reserved_for == job

    with django_capture_on_commit_callbacks(execute=True):
        second = csc_post(client, "/api/v1/batch/sign", _sign_body(signer, sad, docs[:2]), batch_token)
        synchronous = csc_post(client, "/api/v1/batch/sign", _sign_body(signer, sad, docs[:1]), batch_token)

    # Refused like a SAD already used, and nothing of it stored or queued.
    assert second.status_code == 400 and second.json()["code"] == "sad_expired"
    assert synchronous.status_code == 400 and synchronous.json()["code"] == "sad_expired"
    assert SigningJob.objects.count() == 1 and SigningJobDocument.objects.count() == 3 and len(enqueued) == 1
    assert AuditEvent.objects.filter(event_type="signature.refused", details__step="reserve",
                                     details__error="sad_expired").count() == 1
    assert SignatureActivation.objects.get().signatures_left == 3

    [(args, kwargs)] = enqueued
    tasks.signing_job_run_task(*args, **kwargs)

    body = client.get(first.json()["job"], HTTP_AUTHORIZATION=f"Bearer {batch_token}").json()
    assert body["state"] == "done" and body["progress"] == "3/3", body
    _assert_signed_in_order(docs, body["documents"], signer)
    assert SignatureRecord.objects.count() == 3


def test_creating_a_job_is_audited_with_its_client_holder_documents_and_level(
        client, world, signer, settings, monkeypatch, django_capture_on_commit_callbacks):
    from audit.models import AuditEvent

    _queue_jobs(settings, monkeypatch)
    api_client, secret = api_client_for(world.alpha, scopes=("batch",), name="Esse3")
    token = token_for(client, api_client, secret)["access_token"]
    docs = _docs(2)
    sad = _authorize(client, token, signer, docs)["SAD"]
    with django_capture_on_commit_callbacks(execute=True):
        response = csc_post(client, "/api/v1/batch/sign", _sign_body(signer, sad, docs, level="B-T"), token)
    assert response.status_code == 202, response.content

    job = SigningJob.objects.get()
    event = AuditEvent.objects.get(event_type="signature.job_created")
    assert event.details["job"] == str(job.public_id) and event.details["client"] == api_client.client_id
    assert event.details["holder"] == signer.holder.user.username and event.details["documents"] == 2
    assert event.details["level"] == "B-T" and event.details["iut"] == signer.certificate.iut
    assert event.actor_id == signer.holder.user.pk and event.organization_id == world.alpha.organization.pk
    assert sad not in str(event.details)


def test_a_failed_job_keeps_its_sad_used_up_and_bound_to_it(
        client, world, signer, settings, monkeypatch, django_capture_on_commit_callbacks):
    from accounts.services.api_clients import api_client_revoke
    from signing import tasks

    enqueued = _queue_jobs(settings, monkeypatch)
    api_client, secret = api_client_for(world.alpha, scopes=("batch",), name="Esse3")
    token = token_for(client, api_client, secret)["access_token"]
    docs = _docs(2)
    sad = _authorize(client, token, signer, docs)["SAD"]
    with django_capture_on_commit_callbacks(execute=True):
        assert csc_post(client, "/api/v1/batch/sign", _sign_body(signer, sad, docs), token).status_code == 202
    api_client_revoke(actor=world.alpha.admin.user, api_client=api_client)

    [(args, kwargs)] = enqueued
    tasks.signing_job_run_task(*args, **kwargs)

    job = SigningJob.objects.get()
    assert job.state == SigningJobState.FAILED and job.error_code == "forbidden"
    activation = SignatureActivation.objects.get()
    assert activation.reserved_for == job and activation.closed_at is not None
    assert bytes(activation.wrapped_data_key) == b"" and SignatureRecord.objects.count() == 0


def test_twenty_documents_and_one_nested_100_000_deep_are_refused_at_submission_and_the_sad_is_kept(
        client, signer, batch_token):
    docs = [*_docs(20), ("modulo.pdf", corpus_bytes("deep-arrays-in-acroform"))]  # 21: a job
    authorized = _authorize(client, batch_token, signer, docs)

    response = csc_post(client, "/api/v1/batch/sign", _sign_body(signer, authorized["SAD"], docs), batch_token,
                        HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "pdf_too_complex" and "modulo.pdf" in response.json()["message"]
    assert not SigningJob.objects.exists() and not SignatureRecord.objects.exists()
    activation = SignatureActivation.objects.get()
    assert activation.signatures_left == 21 and activation.reserved_for is None
    # The same SAD signs the twenty (they are among the hashes it authorized).
    again = csc_post(client, "/api/v1/batch/sign", _sign_body(signer, authorized["SAD"], docs[:20]), batch_token)
    assert again.status_code == 200 and len(again.json()["documents"]) == 20


def test_a_document_the_worker_cannot_sign_is_an_error_in_its_place_and_the_others_are_signed(
        client, signer, batch_token, settings, monkeypatch, django_capture_on_commit_callbacks):
    enqueued = _queue_jobs(settings, monkeypatch)
    settings.SIGNING_BATCH_SYNC_LIMIT = 20
    docs = [*_docs(20), ("verbale-lungo.pdf", pdf_make("Verbale lungo", pages=40))]
    authorized = _authorize(client, batch_token, signer, docs)
    with django_capture_on_commit_callbacks(execute=True):
        response = csc_post(client, "/api/v1/batch/sign", _sign_body(signer, authorized["SAD"], docs), batch_token)
    assert response.status_code == 202, response.content
    # Between the submission and the worker the bounds were lowered (a deploy, say): the worker checks
    # each document again, and the 40-page record is now over the objects bound.
    settings.SIGNING_PDF_MAX_OBJECTS = 1000

    [(args, kwargs)] = enqueued
    with translation.override("en"):
        tasks.signing_job_run_task(*args, **kwargs)

    body = client.get(response["Location"], HTTP_AUTHORIZATION=f"Bearer {batch_token}").json()
    assert body["state"] == "done" and body["progress"] == "21/21" and body["error"] is None
    _assert_signed_in_order(docs[:20], body["documents"], signer)
    assert body["failed"] == [{
        "position": 20, "name": "verbale-lungo.pdf", "code": "pdf_too_complex",
        "message": "verbale-lungo.pdf contains more than 1,000 PDF objects: it cannot be accepted.",
    }]
    assert SignatureRecord.objects.count() == 20
    activation = SignatureActivation.objects.get()  # the job's, and the job is over
    assert activation.closed_at is not None and activation.signatures_left == 1
