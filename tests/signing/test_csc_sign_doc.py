"""CSC v2 signatures/signDoc as clients send it: the specification's level spellings, a level and an
envelope property per document, document digests signed as CMS, validation data on request, and
asynchronous operation refused rather than silently run synchronously."""

from __future__ import annotations

import base64
import hashlib
from io import BytesIO

import pytest
from asn1crypto import cms
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.generic_cms import validate_sig_integrity

from tests.certificates.conftest import PIN
from tests.signing.conftest import csc_post, pdf_make

pytestmark = pytest.mark.both_vaults

SHA256 = "2.16.840.1.101.3.4.2.1"


def sha256_sign_algo(certificate) -> str:
    """The combined SHA-256 signature algorithm of the credential's key type (the tests are about the
    API, not the key type an organization's policy picks)."""
    if isinstance(x509.load_der_x509_certificate(certificate.issued_der).public_key(), ec.EllipticCurvePublicKey):
        return "1.2.840.10045.4.3.2"
    return "1.2.840.113549.1.1.11"


def sha384_sign_algo(certificate) -> str:
    if isinstance(x509.load_der_x509_certificate(certificate.issued_der).public_key(), ec.EllipticCurvePublicKey):
        return "1.2.840.10045.4.3.3"
    return "1.2.840.113549.1.1.12"


def bare_sign_algo(certificate) -> str:
    if isinstance(x509.load_der_x509_certificate(certificate.issued_der).public_key(), ec.EllipticCurvePublicKey):
        return "1.2.840.10045.2.1"
    return "1.2.840.113549.1.1.1"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _sad(client, token, signer, hashes: list[bytes]) -> str:
    response = csc_post(client, "/csc/v2/credentials/authorize", {
        "credentialID": signer.certificate.iut, "numSignatures": len(hashes), "hashes": [_b64(h) for h in hashes],
        "hashAlgorithmOID": SHA256, "authData": [{"id": "PIN", "value": PIN}, {"id": "OTP", "value": signer.otp()}],
    }, token)
    assert response.status_code == 200, response.content
    return response.json()["SAD"]


def _sign_doc(client, token, signer, sad, **body):
    return csc_post(client, "/csc/v2/signatures/signDoc", {"credentialID": signer.certificate.iut, "SAD": sad, **body},
                    token)


def _signature(pdf: bytes, index: int = -1):
    return PdfFileReader(BytesIO(pdf)).embedded_signatures[index]


def test_levels_as_clients_spell_them_and_one_level_per_document(client, signer, alpha_token):
    documents = [pdf_make("Verbale B-B"), pdf_make("Verbale B-T")]
    sad = _sad(client, alpha_token, signer, [hashlib.sha256(d).digest() for d in documents])

    response = _sign_doc(client, alpha_token, signer, sad, documents=[
        {"document": _b64(documents[0]), "signature_format": "P", "conformance_level": "AdES-B-B",
         "signAlgo": sha256_sign_algo(signer.certificate)},
        {"document": _b64(documents[1]), "signature_format": "P", "conformance_level": "Ades-B-T",
         "signAlgo": sha256_sign_algo(signer.certificate)},
    ])

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"DocumentWithSignature"}  # no SignatureObject when there is none
    first, second = (_signature(base64.b64decode(pdf)) for pdf in body["DocumentWithSignature"])
    assert "signature_time_stamp_token" not in [a["type"].native for a in first.signer_info["unsigned_attrs"] or []]
    assert "signature_time_stamp_token" in [a["type"].native for a in second.signer_info["unsigned_attrs"]]


def test_the_default_envelope_is_certification_and_an_already_signed_document_takes_a_revision(
    client, signer, alpha_token
):
    document = pdf_make("Verbale da certificare")
    sad = _sad(client, alpha_token, signer, [hashlib.sha256(document).digest()])
    first = _sign_doc(client, alpha_token, signer, sad, documents=[
        {"document": _b64(document), "signature_format": "P", "signAlgo": sha256_sign_algo(signer.certificate)}])
    certified = base64.b64decode(first.json()["DocumentWithSignature"][0])
    assert _signature(certified).docmdp_level is not None  # a certification signature (DocMDP)

    sad = _sad(client, alpha_token, signer, [hashlib.sha256(certified).digest()])
    response = _sign_doc(client, alpha_token, signer, sad, documents=[
        {"document": _b64(certified), "signature_format": "P", "signAlgo": sha256_sign_algo(signer.certificate)}])
    assert response.status_code == 200, response.content
    countersigned = base64.b64decode(response.json()["DocumentWithSignature"][0])
    assert len(PdfFileReader(BytesIO(countersigned)).embedded_signatures) == 2
    assert _signature(countersigned).docmdp_level is None  # an approval signature


def test_document_digests_are_signed_as_cms_over_exactly_that_digest(client, signer, alpha_token):
    digests = [hashlib.sha256(b"byte ranges of contract").digest(), hashlib.sha256(b"byte ranges of terms").digest()]
    sad = _sad(client, alpha_token, signer, digests)

    response = _sign_doc(client, alpha_token, signer, sad, documentDigests=[
        {"hashes": _b64(digests[0]), "hashAlgorithmOID": SHA256, "signature_format": "P",
         "conformance_level": "AdES-B-B", "signAlgo": sha256_sign_algo(signer.certificate)},
        {"hashes": [_b64(digests[1])], "hashAlgorithmOID": SHA256, "signature_format": "P",
         "conformance_level": "AdES-B-T", "signAlgo": sha256_sign_algo(signer.certificate)},
    ])

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"SignatureObject"}
    holder_cert = asn1_x509.Certificate.load(signer.certificate.issued_der)
    for digest, encoded in zip(digests, body["SignatureObject"], strict=True):
        signed_data = cms.ContentInfo.load(base64.b64decode(encoded))["content"]
        signer_info = signed_data["signer_infos"][0]
        intact, valid = validate_sig_integrity(signer_info, holder_cert, "data", digest)
        assert intact and valid
    # Spent: the same SAD again is refused.
    again = _sign_doc(client, alpha_token, signer, sad, documentDigests=[
        {"hashes": [_b64(digests[0])], "signature_format": "P", "signAlgo": sha256_sign_algo(signer.certificate)}])
    assert again.status_code == 400 and again.json()["error_details"]["code"] == "sad_expired"


def test_a_digest_the_sad_does_not_cover_is_refused(client, signer, alpha_token):
    sad = _sad(client, alpha_token, signer, [hashlib.sha256(b"authorized").digest()])
    response = _sign_doc(client, alpha_token, signer, sad, documentDigests=[
        {"hashes": [_b64(hashlib.sha256(b"something else").digest())], "signature_format": "P",
         "signAlgo": sha256_sign_algo(signer.certificate)}])
    assert response.status_code == 400
    assert response.json()["error_description"] == "Hash is not authorized by the SAD"


def test_return_validation_info_gives_revocation_data_issued_after_the_signature(client, signer, alpha_token):
    document = pdf_make("Verbale con dati di validazione")
    sad = _sad(client, alpha_token, signer, [hashlib.sha256(document).digest()])

    response = _sign_doc(client, alpha_token, signer, sad, returnValidationInfo=True, documents=[
        {"document": _b64(document), "signature_format": "P", "conformance_level": "AdES-B-T",
         "signAlgo": sha256_sign_algo(signer.certificate)}])

    assert response.status_code == 200, response.content
    info = response.json()["validationInfo"]
    assert info["ocsp"] and info["crl"] and info["certificates"]
    # The signature's time is its timestamp's (PAdES carries no signing-time attribute).
    signer_info = _signature(base64.b64decode(response.json()["DocumentWithSignature"][0])).signer_info
    token = next(a["values"][0] for a in signer_info["unsigned_attrs"]
                 if a["type"].native == "signature_time_stamp_token")
    stamped_at = token["content"]["encap_content_info"]["content"].parsed["gen_time"].native
    for encoded in info["ocsp"]:
        answer = asn1_ocsp.OCSPResponse.load(base64.b64decode(encoded))
        data = answer["response_bytes"]["response"].parsed["tbs_response_data"]
        this_update = data["responses"][0]["this_update"].native
        assert this_update >= stamped_at.replace(microsecond=0), (this_update, stamped_at)


def test_asynchronous_operation_and_bad_combinations_are_refused_in_the_specifications_words(
    client, signer, alpha_token
):
    document = {"document": _b64(pdf_make()), "signature_format": "P", "signAlgo": sha256_sign_algo(signer.certificate)}
    digest = {"hashes": [_b64(bytes(32))], "signature_format": "P", "signAlgo": sha256_sign_algo(signer.certificate)}
    cases = [
        ({"documents": [document], "operationMode": "A"}, "Invalid parameter operationMode"),
        ({"documents": [document], "documentDigests": [digest]},
         "Both documentDigests and documents parameters passed"),
        ({}, "Empty documentDigests and documents objects"),
        ({"documents": []}, "Empty documentDigests and documents objects"),
        ({"documents": [{**document, "conformance_level": "AdES-X"}]}, "Invalid parameter conformance_level"),
        ({"documents": [{**document, "signature_format": "C"}]}, "Invalid parameter signature_format"),
        ({"documentDigests": [{**digest, "signAlgo": bare_sign_algo(signer.certificate)}]},
         "Missing (or invalid type) string parameter hashAlgorithmOID"),
        ({"documentDigests": [
            {**digest, "signAlgo": sha384_sign_algo(signer.certificate), "hashAlgorithmOID": SHA256}]},
         "String parameter hashAlgorithmOID contradicts with signAlgo parameter"),
    ]
    for body, description in cases:
        response = _sign_doc(client, alpha_token, signer, "not-a-sad", **body)
        assert response.status_code == 400, (body, response.content)
        assert response.json()["error_description"] == description, (body, response.json())
