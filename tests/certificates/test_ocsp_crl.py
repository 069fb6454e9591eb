"""The CRL and the OCSP responder, as relying parties see them: OpenSSL and pyHanko's validator over
a live server, and garbage thrown at the public endpoints."""

from __future__ import annotations

import base64
import os
import urllib.parse
from datetime import UTC

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import RevokedError

from certificates.models import AuthorityRole, CertificateState, RevocationReason
from certificates.services import (
    authority_hierarchy_build,
    certificate_key_unlock,
    certificate_reactivate,
    certificate_revoke,
    certificate_suspend,
)
from core.errors import ApplicationError
from tests.certificates.conftest import active, issued, openssl, write_pem
from tests.conftest import run_coroutine

pytestmark = pytest.mark.both_vaults

OCSP_TYPE = "application/ocsp-response"


def openssl_serial(serial: str) -> str:
    """A serial as `openssl crl -text` prints it: upper-case hex in whole bytes (a leading 0 when the
    number has an odd count of digits, which a random serial has about every other time)."""
    digits = f"{int(serial):X}"
    return digits.rjust(len(digits) + len(digits) % 2, "0")


def _ocsp_request(cert_der: bytes, issuer_der: bytes, *, nonce: bytes | None = None) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        x509.load_der_x509_certificate(bytes(cert_der)), x509.load_der_x509_certificate(bytes(issuer_der)),
        hashes.SHA1(),  # noqa: S303  (what OpenSSL and most clients send; RFC 5019)
    )
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(Encoding.DER)


# --- OpenSSL against the live server ----------------------------------------------------------------


@pytest.fixture
def pems(ca, tmp_path):
    return {
        "root": write_pem(tmp_path / "root.pem", ca[AuthorityRole.ROOT].der),
        "issuing": write_pem(tmp_path / "issuing.pem", ca[AuthorityRole.ISSUING].der),
        "responder": write_pem(tmp_path / "ocsp.pem", ca[AuthorityRole.OCSP].der),
    }


def _openssl_ocsp(live_server, pems, *target: str) -> str:
    result = openssl(
        "ocsp", "-issuer", str(pems["issuing"]), *target, "-url", f"{live_server.url}/ca/ocsp/",
        "-VAfile", str(pems["responder"]),
    )
    assert "Response verify OK" in result.stderr, result.stderr + result.stdout
    assert "WARNING" not in result.stderr + result.stdout  # nonce echoed, times sane
    return result.stdout


@pytest.mark.django_db(transaction=True)
def test_openssl_ocsp_reports_good_revoked_hold_and_unknown(world, ca, pems, live_server, tmp_path):
    good = active(world.alpha.holder)
    revoked = active(world.beta.holder)
    held = active(world.alpha.holders[1])
    certificate_revoke(certificate=revoked, reason=RevocationReason.KEY_COMPROMISE)
    certificate_suspend(certificate=held)

    def status(certificate):
        path = write_pem(tmp_path / f"{certificate.pk}.pem", certificate.der)
        return _openssl_ocsp(live_server, pems, "-cert", str(path))

    assert ": good" in status(good)
    revoked_out = status(revoked)
    assert ": revoked" in revoked_out and "Reason: keyCompromise" in revoked_out
    held_out = status(held)
    assert ": revoked" in held_out and "Reason: certificateHold" in held_out
    assert ": unknown" in _openssl_ocsp(live_server, pems, "-serial", "0x1234567890abcdef")

    certificate_reactivate(certificate=held)
    assert ": good" in status(held)


@pytest.mark.django_db(transaction=True)
def test_openssl_reads_hold_and_revocation_reason_from_the_published_crl(world, ca, pems, live_server, tmp_path):
    import urllib.request

    revoked = active(world.beta.holder)
    held = active(world.alpha.holder)
    certificate_revoke(certificate=revoked, reason=RevocationReason.KEY_COMPROMISE)
    certificate_suspend(certificate=held)

    with urllib.request.urlopen(f"{live_server.url}/ca/crl/issuing.crl") as response:  # noqa: S310
        assert response.headers["Content-Type"] == "application/pkix-crl"
        (tmp_path / "issuing.crl").write_bytes(response.read())
    chain = tmp_path / "chain.pem"
    chain.write_bytes(pems["root"].read_bytes() + pems["issuing"].read_bytes())
    result = openssl("crl", "-inform", "DER", "-in", str(tmp_path / "issuing.crl"), "-text", "-CAfile", str(chain))

    assert "verify OK" in result.stderr + result.stdout, result.stderr
    text = result.stdout
    assert f"Serial Number: {openssl_serial(revoked.serial)}" in text
    assert f"Serial Number: {openssl_serial(held.serial)}" in text
    assert "Key Compromise" in text and "Certificate Hold" in text
    assert "X509v3 CRL Number" in text


@pytest.mark.django_db(transaction=True)
def test_pyhanko_validates_in_hard_fail_mode_through_suspension_and_reactivation(world, live_ca):
    certificate = active(world.alpha.holder)
    root = asn1_x509.Certificate.load(bytes(live_ca[AuthorityRole.ROOT].der))
    issuing = asn1_x509.Certificate.load(bytes(live_ca[AuthorityRole.ISSUING].der))
    leaf = asn1_x509.Certificate.load(bytes(certificate.der))

    def validate():
        context = ValidationContext(
            trust_roots=[root], other_certs=[issuing], allow_fetching=True, revocation_mode="hard-fail"
        )
        validator = CertificateValidator(leaf, intermediate_certs=[issuing], validation_context=context)
        return run_coroutine(validator.async_validate_usage({"non_repudiation"}))

    assert validate()  # active: a valid path, revocation checked through our CRL and OCSP

    certificate_suspend(certificate=certificate)
    with pytest.raises(RevokedError):
        validate()

    certificate_reactivate(certificate=certificate)
    assert validate()


@pytest.mark.django_db(transaction=True)
def test_a_certificate_blocked_by_wrong_pins_is_revoked_for_openssl_ocsp_the_crl_and_pyhanko(
    world, live_ca, live_server, tmp_path
):
    import urllib.request

    certificate = active(world.alpha.holder)
    for _attempt in range(world.alpha.organization.pin_max_retries):
        with pytest.raises(ApplicationError):
            certificate_key_unlock(certificate=certificate, pin="99999998")
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.BLOCKED
    blocked_at = certificate.blocked_at.astimezone(UTC)

    pems = {role: write_pem(tmp_path / f"{role}.pem", live_ca[role].der) for role in live_ca}
    leaf = write_pem(tmp_path / "leaf.pem", certificate.der)
    ocsp_out = _openssl_ocsp(
        live_server, {"issuing": pems[AuthorityRole.ISSUING], "responder": pems[AuthorityRole.OCSP]},
        "-cert", str(leaf),
    )
    assert ": revoked" in ocsp_out and "Reason: cessationOfOperation" in ocsp_out
    assert f"Revocation Time: {blocked_at:%b} {blocked_at.day:2d} {blocked_at:%H:%M:%S %Y} GMT" in ocsp_out

    with urllib.request.urlopen(f"{live_server.url}/ca/crl/issuing.crl") as response:  # noqa: S310
        (tmp_path / "issuing.crl").write_bytes(response.read())
    crl = openssl("crl", "-inform", "DER", "-in", str(tmp_path / "issuing.crl"), "-text").stdout
    assert f"Serial Number: {openssl_serial(certificate.serial)}" in crl and "Cessation Of Operation" in crl

    root = asn1_x509.Certificate.load(bytes(live_ca[AuthorityRole.ROOT].der))
    issuing = asn1_x509.Certificate.load(bytes(live_ca[AuthorityRole.ISSUING].der))
    context = ValidationContext(
        trust_roots=[root], other_certs=[issuing], allow_fetching=True, revocation_mode="hard-fail"
    )
    validator = CertificateValidator(
        asn1_x509.Certificate.load(bytes(certificate.der)), intermediate_certs=[issuing],
        validation_context=context,
    )
    with pytest.raises(RevokedError):
        run_coroutine(validator.async_validate_usage({"non_repudiation"}))


# --- Direct answers -------------------------------------------------------------------------------------


def _parse(response) -> ocsp.OCSPResponse:
    assert response.status_code == 200 and response["Content-Type"] == OCSP_TYPE
    return ocsp.load_der_ocsp_response(response.content)


def test_ocsp_answers_a_post_with_the_nonce_echoed_and_signed_by_the_responder(world, ca, client):
    certificate = active(world.alpha.holder)
    nonce = os.urandom(16)
    answer = _parse(
        client.post(
            "/ca/ocsp/", _ocsp_request(certificate.der, ca["issuing"].der, nonce=nonce),
            content_type="application/ocsp-request",
        )
    )

    assert answer.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert answer.serial_number == int(certificate.serial)
    assert answer.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    responder = x509.load_der_x509_certificate(bytes(ca["ocsp"].der))
    assert answer.certificates == [responder]
    responder.public_key().verify(answer.signature, answer.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))


def test_ocsp_answers_a_get_with_a_url_encoded_request(world, ca, client):
    certificate = issued(world.alpha.holder)
    certificate_revoke(certificate=certificate, reason=RevocationReason.SUPERSEDED)
    encoded = urllib.parse.quote(base64.b64encode(_ocsp_request(certificate.der, ca["issuing"].der)).decode(), safe="")

    answer = _parse(client.get(f"/ca/ocsp/{encoded}"))

    assert answer.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason == x509.ReasonFlags.superseded


def test_ocsp_refuses_to_answer_for_another_issuer(world, ca, client):
    certificate = issued(world.alpha.holder)
    foreign_issuer = authority_hierarchy_build()[1]  # another CA with the same name but another key

    answer = _parse(
        client.post("/ca/ocsp/", _ocsp_request(certificate.der, foreign_issuer.der),
                    content_type="application/ocsp-request")
    )

    assert answer.response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED


@pytest.mark.parametrize(
    "body",
    [b"", os.urandom(300), b"\x30\x82\xff\xff" + os.urandom(100), b"A" * 2_000_000, b"\x30\x03\x02\x01\x01"],
    ids=["empty", "random", "truncated-der", "huge", "wrong-structure"],
)
def test_ocsp_post_garbage_gets_malformed_request_never_a_500(ca, client, body):
    answer = _parse(client.post("/ca/ocsp/", body, content_type="application/ocsp-request"))
    assert answer.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


@pytest.mark.parametrize(
    "path",
    ["/ca/ocsp/not*base64!", "/ca/ocsp/" + base64.b64encode(b"garbage").decode(), "/ca/ocsp/%ZZ", "/ca/ocsp/",
     "/ca/ocsp/" + "A" * 40_000],
    ids=["bad-base64", "base64-garbage", "bad-percent", "empty", "huge"],
)
def test_ocsp_get_garbage_gets_malformed_request_never_a_500(ca, client, path):
    answer = _parse(client.get(path))
    assert answer.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_ocsp_without_a_ca_answers_internal_error_not_500(db, client):
    from certificates.models import CertificateAuthority

    assert not CertificateAuthority.objects.exists()
    request = _ocsp_request(*(bytes(a.der) for a in authority_hierarchy_build()[1:3]))
    answer = _parse(client.post("/ca/ocsp/", request, content_type="application/ocsp-request"))
    assert answer.response_status == ocsp.OCSPResponseStatus.INTERNAL_ERROR


def test_crl_is_served_from_the_database_not_rebuilt_per_request(ca, client):
    from certificates.models import Crl

    first = client.get("/ca/crl/issuing.crl")
    second = client.get("/ca/crl/issuing.crl")

    assert first.status_code == 200 and first["Content-Type"] == "application/pkix-crl"
    assert first.content == second.content and Crl.objects.count() == 2  # root + issuing, from the fixture
    assert x509.load_der_x509_crl(first.content).extensions.get_extension_for_class(x509.CRLNumber)
    assert client.get("/ca/crl/other.crl").status_code == 404
    assert client.post("/ca/crl/issuing.crl").status_code == 405


def test_ca_certificates_are_published_where_the_certificates_point(ca, client):
    for name, role in (("root", AuthorityRole.ROOT), ("issuing", AuthorityRole.ISSUING)):
        response = client.get(f"/ca/cert/{name}.crt")
        assert response.status_code == 200 and response["Content-Type"] == "application/pkix-cert"
        assert response.content == bytes(ca[role].der)
