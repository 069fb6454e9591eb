"""The CSC specification's own request examples (v1.0.4.0 and v2.0.0.2), replayed against the server.

Each example body is the specification's, with only what cannot be the same here replaced: the
credential ID, the user, the PIN and OTP, the SAD (the previous call's), hashes that are not real
digests, and the signature algorithm when the credential's key is not RSA. Every answer must be a
success whose fields are the ones our OpenAPI schema documents for that path. Then the
specification's error rows: the same error code and description.
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from otp.models import DeviceKind, DeviceState, OtpDevice
from otp.oath import totp
from otp.services import device_create
from tests.certificates.conftest import PIN, active
from tests.signing.conftest import csc_post

# The specification's sample hash (a real SHA-256 length) and two more digests standing for its
# samples that are not 32 bytes long.
SPEC_HASH = "sTOgwOm+474gFj0q0x1iSNspKqbcse4IeiqlDg/HWuI="
HASH_2 = base64.b64encode(hashlib.sha256(b"second document").digest()).decode()
SEED = b"12345678901234567890"


@pytest.fixture
def schema(client, db) -> dict:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    content_type = response["Content-Type"]
    return response.json() if content_type.startswith("application/json") else yaml.safe_load(response.content)


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def assert_documented(schema: dict, path: str, response) -> None:
    """The answer's status is documented for ``path`` and its fields are those of that status's schema."""
    operation = schema["paths"][path]["post"]
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, f"{path}: status {response.status_code} not in the schema"
    if response.status_code == 204:
        return
    body = response.json()
    shape = _resolve(schema, documented["content"]["application/json"]["schema"])
    properties = set(shape.get("properties", {}))
    assert set(body) <= properties, f"{path}: undocumented fields {set(body) - properties}"
    assert set(shape.get("required", [])) <= set(body), f"{path}: missing {set(shape.get('required', [])) - set(body)}"


@pytest.fixture
def credential(world, ca):
    holder = world.alpha.holder
    OtpDevice.objects.filter(holder=holder).update(state=DeviceState.RETIRED)
    device_create(kind=DeviceKind.APP_TOTP, holder=holder, seed=SEED)
    return active(holder)


def _algos(certificate) -> tuple[str, str]:
    """(the bare key algorithm, SHA-256 combined) of the credential: the examples use RSA's."""
    if isinstance(x509.load_der_x509_certificate(certificate.issued_der).public_key(), ec.EllipticCurvePublicKey):
        return "1.2.840.10045.2.1", "1.2.840.10045.4.3.2"
    return "1.2.840.113549.1.1.1", "1.2.840.113549.1.1.11"


class _Otp:
    """A fresh TOTP for each authorization (one per 30-second step: the clock moves on by steps)."""

    def __init__(self) -> None:
        self.step = 0

    def __call__(self) -> str:
        self.step += 1
        return totp(SEED, time.time() + 30 * (self.step - 1))


def test_the_v1_request_examples_are_answered_as_the_schema_documents(client, schema, credential, alpha_token):
    bare, _combined = _algos(credential)
    otp = _Otp()
    calls: list[tuple[str, dict[str, Any]]] = [
        ("info", {"lang": "en-US"}),
        ("credentials/list", {"userID": "mario.rossi", "maxResults": 10}),  # userID: client credentials
        ("credentials/info", {"credentialID": credential.iut, "certificates": "chain", "certInfo": True,
                              "authInfo": True}),
        ("credentials/authorize", {"credentialID": credential.iut, "numSignatures": 2, "hash": [SPEC_HASH, HASH_2],
                                   "PIN": PIN, "OTP": otp(), "clientData": "12345678"}),
        ("credentials/extendTransaction", {"credentialID": credential.iut, "hash": [SPEC_HASH, HASH_2], "SAD": "",
                                           "clientData": "12345678"}),
        ("signatures/signHash", {"credentialID": credential.iut, "SAD": "", "hash": [SPEC_HASH, HASH_2],
                                 "hashAlgo": "2.16.840.1.101.3.4.2.1", "signAlgo": bare, "clientData": "12345678"}),
        ("signatures/timestamp", {"hash": SPEC_HASH, "hashAlgo": "2.16.840.1.101.3.4.2.1", "clientData": "12345678"}),
    ]
    sad = ""
    for method, body in calls:
        if "SAD" in body:
            body["SAD"] = sad
        response = csc_post(client, f"/csc/v1/{method}", body, None if method == "info" else alpha_token)
        assert response.status_code == 200, (method, response.content)
        assert_documented(schema, f"/csc/v1/{method}", response)
        sad = response.json().get("SAD", sad)


def test_the_v2_request_examples_are_answered_as_the_schema_documents(client, schema, credential, alpha_token):
    bare, combined = _algos(credential)
    otp = _Otp()
    document = base64.b64encode(_pdf()).decode()
    document_hash = base64.b64encode(hashlib.sha256(base64.b64decode(document)).digest()).decode()
    calls: list[tuple[str, dict[str, Any]]] = [
        ("info", {}),
        ("credentials/list", {"userID": "mario.rossi", "credentialInfo": True, "certificates": "chain",
                              "certInfo": True, "authInfo": True}),
        ("credentials/info", {"credentialID": credential.iut, "certificates": "chain", "certInfo": True,
                              "authInfo": True}),
        ("credentials/authorize", {"credentialID": credential.iut, "numSignatures": 2, "hashes": [SPEC_HASH, HASH_2],
                                   "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
                                   "authData": [{"id": "PIN", "value": PIN}, {"id": "OTP", "value": otp()}],
                                   "clientData": "12345678"}),
        ("credentials/extendTransaction", {"credentialID": credential.iut, "hashes": [HASH_2],
                                           "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "SAD": "",
                                           "clientData": "12345678"}),
        ("signatures/signHash", {"credentialID": credential.iut, "SAD": "", "hashes": [HASH_2],
                                 "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "signAlgo": bare,
                                 "clientData": "12345678"}),
        ("credentials/authorize", {"credentialID": credential.iut, "numSignatures": 2,
                                   "hashes": [SPEC_HASH, document_hash], "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
                                   "authData": [{"id": "PIN", "value": PIN}, {"id": "OTP", "value": otp()}]}),
        ("signatures/signDoc", {"credentialID": credential.iut, "SAD": "", "documentDigests": [
            {"hashes": SPEC_HASH, "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1", "signature_format": "P",
             "conformance_level": "AdES-B-T", "signAlgo": bare}], "clientData": "12345678"}),
        ("signatures/timestamp", {"hash": SPEC_HASH, "hashAlgo": "2.16.840.1.101.3.4.2.1", "clientData": "12345678"}),
    ]
    sad = ""
    for method, body in calls:
        if "SAD" in body:
            body["SAD"] = sad
        response = csc_post(client, f"/csc/v2/{method}", body, None if method == "info" else alpha_token)
        assert response.status_code == 200, (method, response.content)
        assert_documented(schema, f"/csc/v2/{method}", response)
        if method == "credentials/authorize":
            sad = response.json()["SAD"]
        elif "SAD" in response.json():
            sad = response.json()["SAD"]
    # The documents example, with the SAD's remaining authorization (the second hash: this document).
    response = csc_post(client, "/csc/v2/signatures/signDoc", {
        "credentialID": credential.iut, "SAD": sad, "documents": [
            {"document": document, "signature_format": "P", "conformance_level": "AdES-B-T", "signAlgo": combined}],
        "clientData": "12345678"}, alpha_token)
    assert response.status_code == 200, response.content
    assert_documented(schema, "/csc/v2/signatures/signDoc", response)


def _pdf() -> bytes:
    from tests.signing.conftest import pdf_make

    return pdf_make("Example Contract")


@pytest.mark.parametrize(
    ("version", "method", "body", "description"),
    [
        ("v2", "credentials/info", {}, "Missing (or invalid type) string parameter credentialID"),
        ("v2", "credentials/info", {"credentialID": "GX0112348"}, "Invalid parameter credentialID"),
        ("v2", "credentials/info", {"credentialID": "GX0112348", "certificates": "all"},
         "Invalid parameter certificates"),
        ("v2", "credentials/list", {}, "Missing (or invalid type) string parameter userID"),
        ("v2", "credentials/authorize", {"credentialID": "GX0112348"},
         "Missing (or invalid type) integer parameter numSignatures"),
        ("v2", "credentials/authorize", {"credentialID": "GX0112348", "numSignatures": 0, "hashes": [SPEC_HASH],
                                         "authData": []}, "Invalid value for parameter numSignatures"),
        ("v2", "signatures/signHash", {"credentialID": "GX0112348", "hashes": [SPEC_HASH], "signAlgo": "1.2.3"},
         "Missing (or invalid type) string parameter SAD"),
        ("v2", "signatures/signHash", {"credentialID": "GX0112348", "SAD": "x", "hashes": [], "signAlgo": "1.2.3"},
         "Empty hash array"),
        ("v2", "signatures/signHash", {"credentialID": "GX0112348", "SAD": "x", "hashes": ["%%%"],
                                       "signAlgo": "1.2.3"}, "Invalid Base64 hash string parameter"),
        ("v2", "signatures/signHash", {"credentialID": "GX0112348", "SAD": "x", "hashes": [SPEC_HASH]},
         "Missing (or invalid type) string parameter signAlgo"),
        ("v2", "signatures/signHash", {"credentialID": "GX0112348", "SAD": "x", "hashes": [SPEC_HASH],
                                       "signAlgo": "1.2.3", "operationMode": "Z"}, "Invalid parameter operationMode"),
        ("v2", "signatures/signDoc", {"credentialID": "GX0112348", "SAD": "x"},
         "Empty documentDigests and documents objects"),
        ("v2", "signatures/timestamp", {"hashAlgo": "2.16.840.1.101.3.4.2.1"},
         "Missing (or invalid type) string parameter hash"),
        ("v2", "signatures/timestamp", {"hash": SPEC_HASH, "hashAlgo": "1.2.3"}, "Invalid parameter hashAlgo"),
        ("v2", "signatures/timestamp", {"hash": SPEC_HASH, "hashAlgo": "2.16.840.1.101.3.4.2.1", "nonce": "xyz"},
         "Invalid parameter nonce"),
        ("v1", "credentials/authorize", {"credentialID": "GX0112348", "numSignatures": 1, "hash": [],
                                         "PIN": "1", "OTP": "1"}, "Empty hash array"),
        ("v1", "signatures/signHash", {"credentialID": "GX0112348", "SAD": "x", "hash": "not-an-array",
                                       "signAlgo": "1.2.3"}, "Missing (or invalid type) array parameter hash"),
    ],
)
def test_the_specifications_error_rows_are_reproduced(client, schema, world, alpha_token, version, method, body,
                                                      description):
    response = csc_post(client, f"/csc/{version}/{method}", body, alpha_token)
    assert response.status_code == 400, response.content
    assert response.json() == {"error": "invalid_request", "error_description": description}
    assert_documented(schema, f"/csc/{version}/{method}", response)


def test_the_token_and_revocation_endpoints_are_in_the_schema(schema):
    for prefix in ("", "/csc/v1", "/csc/v2"):
        for endpoint in ("token", "revoke"):
            responses = schema["paths"][f"{prefix}/oauth2/{endpoint}"]["post"]["responses"]
            assert {"200", "400", "401", "429"} <= set(responses)
