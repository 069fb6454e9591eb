"""Answers that carry a SAD, a certificate or a signed PDF are never stored by a browser, proxy or client
cache: ``Cache-Control: no-store`` on every one of them (and on the API's refusals too)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from tests.certificates.conftest import PIN
from tests.signing.conftest import api_client_for, csc_post, pdf_make, sha256_sign_algo, token_for


def assert_not_stored(response) -> None:
    assert response.status_code in (200, 202), response.content[:500]
    directives = {d.strip() for d in response.get("Cache-Control", "").split(",")}
    assert "no-store" in directives, (response.request["PATH_INFO"], response.get("Cache-Control"))


@pytest.fixture
def full_token(client, world) -> str:
    return token_for(client, *api_client_for(world.alpha, scopes=("csc", "batch"), name="Everything"))[
        "access_token"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _csc_sad(client, token, signer, version: str, digests: list[bytes]):
    if version == "v1":
        body = {"hash": [_b64(d) for d in digests], "PIN": PIN, "OTP": signer.otp()}
    else:
        body = {"hashes": [_b64(d) for d in digests],
                "authData": [{"id": "PIN", "value": PIN}, {"id": "OTP", "value": signer.otp()}]}
    return csc_post(client, f"/csc/{version}/credentials/authorize",
                    {"credentialID": signer.certificate.iut, "numSignatures": len(digests), **body}, token)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_csc_answers_with_a_sad_a_certificate_or_signatures_are_not_stored(client, signer, full_token, version):
    iut = signer.certificate.iut
    digests = [hashlib.sha256(b"exam record").digest()]
    authorized = _csc_sad(client, full_token, signer, version, digests)
    assert_not_stored(authorized)
    extended = csc_post(client, f"/csc/{version}/credentials/extendTransaction",
                        {"credentialID": iut, "SAD": authorized.json()["SAD"]}, full_token)
    assert_not_stored(extended)
    hashes = {"hash" if version == "v1" else "hashes": [_b64(d) for d in digests]}
    sign_algo = sha256_sign_algo(signer.certificate)
    signed = csc_post(client, f"/csc/{version}/signatures/signHash",
                      {"credentialID": iut, "SAD": extended.json()["SAD"], "signAlgo": sign_algo, **hashes},
                      full_token)
    assert_not_stored(signed)
    assert_not_stored(csc_post(client, f"/csc/{version}/credentials/info",
                               {"credentialID": iut, "certificates": "chain"}, full_token))
    listed = csc_post(client, f"/csc/{version}/credentials/list",
                      {"userID": signer.holder.user.username, "credentialInfo": True, "certificates": "chain"},
                      full_token)
    assert_not_stored(listed)


def test_csc_sign_doc_answer_is_not_stored(client, signer, full_token):
    document = pdf_make()
    authorized = _csc_sad(client, full_token, signer, "v2", [hashlib.sha256(document).digest()])
    signed = csc_post(client, "/csc/v2/signatures/signDoc", {
        "credentialID": signer.certificate.iut, "SAD": authorized.json()["SAD"],
        "documents": [{"document": _b64(document), "signature_format": "P",
                       "signAlgo": sha256_sign_algo(signer.certificate)}],
    }, full_token)
    assert_not_stored(signed)
    assert signed.json()["DocumentWithSignature"]


def test_api_refusals_are_not_stored_either(client, signer, full_token):
    refused = csc_post(client, "/csc/v1/credentials/authorize", {
        "credentialID": signer.certificate.iut, "numSignatures": 1, "hash": [_b64(b"\0" * 32)], "PIN": "000000",
        "OTP": signer.otp()}, full_token)
    assert refused.status_code == 400
    assert "no-store" in refused["Cache-Control"]


def _batch_authorize(client, token, signer, docs):
    return csc_post(client, "/api/v1/batch/authorize", {
        "userID": signer.holder.user.username, "credentialID": signer.certificate.iut, "PIN": PIN,
        "OTP": signer.otp(),
        "documents": [{"name": name, "sha256": hashlib.sha256(data).hexdigest()} for name, data in docs],
    }, token)


def _batch_sign(client, token, signer, sad, docs):
    return csc_post(client, "/api/v1/batch/sign", {
        "credentialID": signer.certificate.iut, "SAD": sad, "level": "B-B",
        "documents": [{"name": name, "content": _b64(data)} for name, data in docs],
    }, token)


def test_batch_answers_with_a_sad_or_signed_pdfs_are_not_stored(client, signer, full_token):
    docs = [("verbale-1.pdf", pdf_make("Verbale 1"))]
    authorized = _batch_authorize(client, full_token, signer, docs)
    assert_not_stored(authorized)
    signed = _batch_sign(client, full_token, signer, authorized.json()["SAD"], docs)
    assert_not_stored(signed)
    assert signed.json()["documents"]


def test_a_jobs_signed_results_are_not_stored(client, signer, full_token, settings, monkeypatch,
                                              django_capture_on_commit_callbacks):
    from signing import tasks

    settings.SIGNING_BATCH_SYNC_LIMIT = 1
    enqueued: list[tuple[list, dict]] = []
    monkeypatch.setattr(tasks.signing_job_run_task, "apply_async",
                        lambda args, kwargs, **options: enqueued.append((args, kwargs)))
    docs = [(f"verbale-{i}.pdf", pdf_make(f"Verbale {i}")) for i in range(2)]
    sad = _batch_authorize(client, full_token, signer, docs).json()["SAD"]
    with django_capture_on_commit_callbacks(execute=True):
        accepted = _batch_sign(client, full_token, signer, sad, docs)
    assert accepted.status_code == 202
    [(args, kwargs)] = enqueued
    tasks.signing_job_run_task(*args, **kwargs)
    done = client.get(accepted.json()["job"], HTTP_AUTHORIZATION=f"Bearer {full_token}")
    assert_not_stored(done)
    assert len(done.json()["documents"]) == 2


@pytest.mark.parametrize("kind", ["pem", "der", "catena"])
def test_the_panels_certificate_downloads_are_not_stored(holder_client, signer, kind):
    response = holder_client.get(f"/certificato/scarica/{kind}/")
    assert_not_stored(response)
    assert response["Content-Disposition"].startswith("attachment;")
