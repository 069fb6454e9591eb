"""Key algorithms that outlive the certificates: ECDSA P-256 by default, RSA-3072 signing with
RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32) as a choice, PKCS#1 v1.5 RSA-2048 only as a named legacy
choice. PSS signatures are checked from the outside: ``cryptography`` against the certificate's
public key for CSC signHash, pyHanko (and poppler's ``pdfsig``) for PAdES."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from io import BytesIO

import pytest
from asn1crypto import algos
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature

from accounts.models import KeyAlgorithm, Organization
from certificates.services import certificate_key_unlock
from signing.pades import documents_sign
from signing.revinfo import trust_material
from tests.signing.conftest import PIN, Signer, active, csc_post, pdf_make

pytestmark = pytest.mark.both_vaults

RSASSA_PSS = "1.2.840.113549.1.1.10"
SHA256, SHA384 = "2.16.840.1.101.3.4.2.1", "2.16.840.1.101.3.4.2.2"


def _pss_params(digest: str = "sha256", mgf_digest: str | None = None, salt: int | None = None) -> str:
    lengths = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}
    params = algos.RSASSAPSSParams({
        "hash_algorithm": {"algorithm": digest},
        "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": mgf_digest or digest}},
        "salt_length": lengths[digest] if salt is None else salt,
    })
    return base64.b64encode(params.dump()).decode()


@pytest.fixture
def pss_signer(world, ca, signer) -> Signer:  # noqa: ANN001
    """The alpha holder of ``signer`` with a second, active certificate under an RSA-PSS policy."""
    organization = world.alpha.organization
    organization.key_algorithm = KeyAlgorithm.RSA_PSS_3072
    organization.max_active_certificates = 2
    organization.save(update_fields=["key_algorithm", "max_active_certificates"])
    signer.certificate = active(signer.holder)
    return signer


def _public_key(certificate) -> rsa.RSAPublicKey:  # noqa: ANN001
    public_key = x509.load_der_x509_certificate(bytes(certificate.der)).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    return public_key


def test_new_organizations_get_ecdsa_p256_and_rsa_2048_is_only_a_legacy_choice(db):
    organization = Organization.objects.create(slug="nuova", name="Nuova")
    assert organization.key_algorithm == KeyAlgorithm.ECDSA_P256
    assert KeyAlgorithm.choices[0][0] == KeyAlgorithm.ECDSA_P256
    assert "legacy" in KeyAlgorithm.RSA_2048.label
    assert {value for value, _label in KeyAlgorithm.choices} == {"ecdsa-p256", "rsa-pss-3072", "rsa-2048"}


def test_a_holder_of_a_default_organization_gets_an_ecdsa_p256_key(world, ca):
    certificate = active(world.alpha.holder)
    public_key = x509.load_der_x509_certificate(bytes(certificate.der)).public_key()
    assert certificate.key_algorithm == "ecdsa-p256"
    assert isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name == "secp256r1"


def test_a_pss_key_is_rsa_3072_in_a_certificate_that_names_rsa_encryption(pss_signer):
    certificate = pss_signer.certificate
    assert certificate.key_algorithm == "rsa-pss-3072"
    assert _public_key(certificate).key_size == 3072
    spki = asn1_x509.Certificate.load(bytes(certificate.der)).public_key
    assert spki["algorithm"]["algorithm"].native == "rsa"  # rsaEncryption: the policy decides PSS


def test_credentials_info_offers_rsassa_pss_for_a_pss_credential(client, pss_signer, alpha_token):
    for version in ("v1", "v2"):
        body = csc_post(client, f"/csc/{version}/credentials/info",
                        {"credentialID": pss_signer.certificate.iut}, alpha_token).json()
        assert body["key"]["algo"] == [RSASSA_PSS] and body["key"]["len"] == 3072
    assert RSASSA_PSS in csc_post(client, "/csc/v2/info", {}).json()["signAlgorithms"]["algos"]


def _authorize(client, token, signer: Signer, digests: list[bytes]) -> str:  # noqa: ANN001
    response = csc_post(client, "/csc/v1/credentials/authorize", {
        "credentialID": signer.certificate.iut, "numSignatures": len(digests),
        "hash": [base64.b64encode(d).decode() for d in digests], "PIN": PIN, "OTP": signer.otp()}, token)
    assert response.status_code == 200, response.content
    return response.json()["SAD"]


@pytest.mark.parametrize(("version", "digest", "digest_oid"), [
    ("v1", "sha256", SHA256), ("v2", "sha256", SHA256), ("v2", "sha384", SHA384),
])
def test_sign_hash_with_a_pss_credential_signs_with_rsassa_pss(client, pss_signer, alpha_token, version, digest,
                                                               digest_oid):
    algorithm = {"sha256": hashes.SHA256, "sha384": hashes.SHA384}[digest]()
    digests = [hashlib.new(digest, f"verbale {i}".encode()).digest() for i in range(3)]
    sad = _authorize(client, alpha_token, pss_signer, digests)
    encoded = [base64.b64encode(d).decode() for d in digests]
    body = {"credentialID": pss_signer.certificate.iut, "SAD": sad, "signAlgo": RSASSA_PSS,
            "signAlgoParams": _pss_params(digest)}
    body |= {"hash": encoded, "hashAlgo": digest_oid} if version == "v1" else {
        "hashes": encoded, "hashAlgorithmOID": digest_oid}

    response = csc_post(client, f"/csc/{version}/signatures/signHash", body, alpha_token)

    assert response.status_code == 200, response.content
    public_key = _public_key(pss_signer.certificate)
    for value, signature in zip(digests, response.json()["signatures"], strict=True):
        signature = base64.b64decode(signature)
        public_key.verify(signature, value, padding.PSS(mgf=padding.MGF1(algorithm), salt_length=len(value)),
                          utils.Prehashed(algorithm))
        with pytest.raises(InvalidSignature):  # not PKCS#1 v1.5
            public_key.verify(signature, value, padding.PKCS1v15(), utils.Prehashed(algorithm))


@pytest.mark.parametrize(("sign_algo", "params", "description"), [
    (RSASSA_PSS, None, "Invalid parameter signAlgoParams"),
    (RSASSA_PSS, _pss_params(salt=20), "Invalid parameter signAlgoParams"),
    (RSASSA_PSS, _pss_params(salt=0), "Invalid parameter signAlgoParams"),
    (RSASSA_PSS, _pss_params(mgf_digest="sha1"), "Invalid parameter signAlgoParams"),
    (RSASSA_PSS, _pss_params("sha384"), "Invalid parameter signAlgoParams"),  # the hashes are SHA-256
    (RSASSA_PSS, _pss_params("sha1"), "Invalid parameter signAlgoParams"),
    (RSASSA_PSS, base64.b64encode(b"\x30\x00").decode(), "Invalid parameter signAlgoParams"),  # all defaults: SHA-1
    (RSASSA_PSS, "not base64!", "Invalid parameter signAlgoParams"),
    (RSASSA_PSS, base64.b64encode(b"garbage").decode(), "Invalid parameter signAlgoParams"),
    ("1.2.840.113549.1.1.11", None, "Invalid parameter signAlgo"),  # PKCS#1 v1.5: not this key's scheme
    ("1.2.840.113549.1.1.1", None, "Invalid parameter signAlgo"),
])
def test_sign_hash_refuses_what_is_not_how_a_pss_key_signs(client, pss_signer, alpha_token, sign_algo, params,
                                                           description):
    digest = hashlib.sha256(b"verbale").digest()
    sad = _authorize(client, alpha_token, pss_signer, [digest])
    body = {"credentialID": pss_signer.certificate.iut, "SAD": sad, "hash": [base64.b64encode(digest).decode()],
            "hashAlgo": SHA256, "signAlgo": sign_algo}
    if params is not None:
        body["signAlgoParams"] = params

    response = csc_post(client, "/csc/v1/signatures/signHash", body, alpha_token)

    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": description}


@pytest.mark.parametrize("algorithm", ["ecdsa-p256", "rsa-2048"])
def test_rsassa_pss_and_its_parameters_are_refused_for_other_keys(client, world, ca, signer, alpha_token, algorithm):
    organization = world.alpha.organization
    organization.key_algorithm = algorithm
    organization.max_active_certificates = 2
    organization.save(update_fields=["key_algorithm", "max_active_certificates"])
    signer.certificate = active(signer.holder)
    digest = hashlib.sha256(b"verbale").digest()
    base = {"credentialID": signer.certificate.iut, "SAD": "sad", "hash": [base64.b64encode(digest).decode()],
            "hashAlgo": SHA256}
    combined = "1.2.840.10045.4.3.2" if algorithm == "ecdsa-p256" else "1.2.840.113549.1.1.11"

    pss = csc_post(client, "/csc/v1/signatures/signHash",
                   {**base, "signAlgo": RSASSA_PSS, "signAlgoParams": _pss_params()}, alpha_token)
    params = csc_post(client, "/csc/v1/signatures/signHash",
                      {**base, "signAlgo": combined, "signAlgoParams": _pss_params()}, alpha_token)

    assert pss.json()["error_description"] == "Invalid parameter signAlgo"
    assert params.json()["error_description"] == "Invalid parameter signAlgoParams"


@pytest.mark.parametrize("level", ["B-B", "B-LT"])
def test_a_pades_signature_with_a_pss_key_is_rsassa_pss_and_validates(pss_signer, level):
    certificate = pss_signer.certificate
    key = certificate_key_unlock(certificate=certificate, pin=PIN)

    signed = documents_sign(private_key=key, certificate=certificate, documents=[pdf_make()], level=level)[0]

    signature = PdfFileReader(BytesIO(signed)).embedded_signatures[0]
    mechanism = signature.signer_info["signature_algorithm"]
    assert mechanism["algorithm"].native == "rsassa_pss"
    assert mechanism["parameters"].native == {
        "hash_algorithm": {"algorithm": "sha256", "parameters": None},
        "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256", "parameters": None}},
        "salt_length": 32, "trailer_field": "trailer_field_bc",
    }
    context = trust_material(certificates=[bytes(certificate.der)]).validation_context()
    status = validate_pdf_signature(signature, context, ts_validation_context=context)
    assert status.bottom_line, status.pretty_print_details()
    assert status.intact and status.valid and status.trusted


@pytest.mark.skipif(shutil.which("pdfsig") is None, reason="poppler-utils' pdfsig is not installed")
def test_poppler_accepts_a_pades_signature_made_with_a_pss_key(pss_signer, tmp_path):
    certificate = pss_signer.certificate
    key = certificate_key_unlock(certificate=certificate, pin=PIN)
    path = tmp_path / "verbale.pdf"
    path.write_bytes(documents_sign(private_key=key, certificate=certificate, documents=[pdf_make()])[0])

    # -nocert: our root is not in poppler's NSS store; the signature itself is what is checked here.
    report = subprocess.run(["pdfsig", "-nocert", str(path)], capture_output=True, text=True, check=False).stdout

    assert "Signature Validation: Signature is Valid." in report, report
