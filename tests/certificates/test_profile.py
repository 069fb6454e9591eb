"""What an issued certificate says, checked by independent tools (OpenSSL, pyHanko's ASN.1 types)."""

from __future__ import annotations

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pyhanko.sign.ades.qualified_asn1 import get_qc_statements

from accounts.models import KeyAlgorithm
from certificates.models import AuthorityRole, CertificateState
from certificates.profile import QCP_N_QSCD_OID
from tests.certificates.conftest import issued, openssl, write_pem


def test_openssl_verifies_an_issued_certificate_against_root_and_issuing_ca(world, ca, tmp_path):
    certificate = issued(world.alpha.holder, world.alpha.operator.user)
    root = write_pem(tmp_path / "root.pem", ca[AuthorityRole.ROOT].der)
    issuing = write_pem(tmp_path / "issuing.pem", ca[AuthorityRole.ISSUING].der)
    leaf = write_pem(tmp_path / "cert.pem", certificate.der)

    result = openssl("verify", "-CAfile", str(root), "-untrusted", str(issuing), str(leaf))

    assert result.returncode == 0, result.stderr
    assert f"{leaf}: OK" in result.stdout


def test_openssl_shows_non_repudiation_critical_and_the_qc_statements(world, ca, tmp_path):
    certificate = issued(world.alpha.holder)
    text = openssl("x509", "-noout", "-text", "-in", str(write_pem(tmp_path / "c.pem", certificate.der))).stdout

    assert "X509v3 Key Usage: critical\n                Non Repudiation\n" in text
    assert "qcStatements" in text
    assert (f"title = Professore ordinario, SN = Rossi, GN = Mario, dnQualifier = {certificate.iut}, "
            "serialNumber = TINIT-RSSMRA80A01F257G, CN = Mario Rossi") in text
    assert "0.4.0.194112.1.2" in text
    assert "http://127.0.0.1:8000/ca/crl/issuing.crl" in text
    assert "OCSP - URI:http://127.0.0.1:8000/ca/ocsp/" in text
    assert "CA Issuers - URI:http://127.0.0.1:8000/ca/cert/issuing.crt" in text


def test_subject_follows_the_etsi_natural_person_profile(world, ca):
    holder = world.alpha.holder
    cert = x509.load_der_x509_certificate(bytes(issued(holder).der))

    def attr(oid):
        return [a.value for a in cert.subject.get_attributes_for_oid(oid)]

    assert attr(x509.NameOID.GIVEN_NAME) == ["Mario"]
    assert attr(x509.NameOID.SURNAME) == ["Rossi"]
    assert attr(x509.NameOID.COMMON_NAME) == ["Mario Rossi"]
    assert attr(x509.NameOID.COUNTRY_NAME) == ["IT"]
    assert attr(x509.NameOID.ORGANIZATION_NAME) == [holder.role_organization]
    assert attr(x509.NameOID.SERIAL_NUMBER) == ["TINIT-RSSMRA80A01F257G"]
    assert 0 < cert.serial_number < 2**159
    policies = [p.policy_identifier for p in cert.extensions.get_extension_for_class(x509.CertificatePolicies).value]
    assert QCP_N_QSCD_OID in policies and len(policies) == 2


def test_qc_statements_parse_as_compliance_sscd_esign_and_an_italian_and_english_https_pds(world, ca):
    certificate = issued(world.alpha.holder)
    statements = {
        s["statement_id"].native: s["statement_info"].native
        for s in get_qc_statements(asn1_x509.Certificate.load(bytes(certificate.der)))
    }

    assert set(statements) == {"qc_compliance", "qc_sscd", "qc_type", "qc_pki_disclosure_statements"}
    assert statements["qc_type"] == ["qct_esign"]
    pds = {entry["language"]: entry["url"] for entry in statements["qc_pki_disclosure_statements"]}
    assert set(pds) == {"it", "en"}
    assert all(url.startswith("https://") for url in pds.values()) and pds["it"] != pds["en"]


def test_each_certificate_gets_a_new_key_serial_and_iut(world, ca):
    from certificates.services import certificate_revoke

    first = issued(world.alpha.holder)
    certificate_revoke(certificate=first, reason="superseded")
    second = issued(world.alpha.holder)

    a, b = (x509.load_der_x509_certificate(bytes(c.der)) for c in (first, second))
    assert a.public_key() != b.public_key()
    assert first.serial != second.serial and first.iut != second.iut
    assert second.state == CertificateState.ISSUED


def test_key_algorithm_follows_the_organization_policy(world, ca):
    default = x509.load_der_x509_certificate(bytes(issued(world.alpha.holder).der)).public_key()
    assert isinstance(default, ec.EllipticCurvePublicKey) and default.curve.name == "secp256r1"
    world.beta.organization.key_algorithm = KeyAlgorithm.RSA_2048
    world.beta.organization.save(update_fields=["key_algorithm"])

    public_key = x509.load_der_x509_certificate(bytes(issued(world.beta.holder).der)).public_key()

    assert isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size == 2048


def test_ocsp_responder_and_tsa_certificates_have_their_purposes(ca, tmp_path):
    ocsp_text = openssl("x509", "-noout", "-text", "-in", str(write_pem(tmp_path / "o.pem", ca["ocsp"].der))).stdout
    tsa_text = openssl("x509", "-noout", "-text", "-in", str(write_pem(tmp_path / "t.pem", ca["tsa"].der))).stdout

    assert "OCSP Signing" in ocsp_text and "OCSP No Check" in ocsp_text
    assert "X509v3 Extended Key Usage: critical\n                Time Stamping" in tsa_text
