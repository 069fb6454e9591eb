"""Every certificate the CA makes, its CRLs and its OCSP answers, through pkilint: RFC 5280 / RFC 6960
for all of them and ETSI EN 319 412 (-1, -2, -5) for the holders' qualified certificates.

No finding of severity ERROR or FATAL is allowed but the development placeholders of ``ALLOWED``
(the README lists them): a deployment with its own public URL has none of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from pkilint import etsi, finding_filter, loader, pkix
from pkilint.etsi.etsi_constants import CertificateType
from pkilint.pkix import certificate as pkix_certificate
from pkilint.pkix import crl as pkix_crl
from pkilint.pkix import extension, name
from pkilint.pkix import ocsp as pkix_ocsp
from pkilint.validation import ValidationFindingSeverity

from certificates.models import AuthorityRole, Certificate, RevocationReason
from certificates.selectors import crl_latest
from certificates.services import certificate_revoke, certificate_suspend, crl_publish
from certificates.services.revocation import ocsp_respond
from tests.certificates.conftest import active, issued

# The development placeholders pkilint rightly reports: (finding code, text in its message). With the
# default CA_PUBLIC_URL (http://127.0.0.1:8000) the CRL, OCSP and caIssuers URLs name a host on the
# loopback interface, which EN 319 412 calls an internal name.
ALLOWED = {("etsi.internal_domain_name", '"127.0.0.1"')}

SERIOUS = (ValidationFindingSeverity.ERROR, ValidationFindingSeverity.FATAL)


@dataclass(frozen=True)
class Finding:
    severity: str
    code: str
    message: str
    path: str

    def allowed(self) -> bool:
        return any(code == self.code and text in self.message for code, text in ALLOWED)


def _findings(results) -> list[Finding]:
    return [
        Finding(d.finding.severity.name, d.finding.code, d.message or "", str(r.node.path))
        for r in results for d in r.finding_descriptions
    ]


def serious(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity in {s.name for s in SERIOUS} and not f.allowed()]


def lint_pkix_certificate(der: bytes) -> list[Finding]:
    """What ``lint_pkix_cert lint`` reports."""
    validator = pkix_certificate.create_pkix_certificate_validator_container(
        pkix_certificate.create_decoding_validators(name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS),
        [
            pkix_certificate.create_issuer_validator_container([]),
            pkix_certificate.create_validity_validator_container(),
            pkix_certificate.create_subject_validator_container([]),
            pkix_certificate.create_extensions_validator_container([]),
            pkix_certificate.create_spki_validator_container([]),
        ],
    )
    return _findings(validator.validate(loader.load_der_certificate(der, "certificate").root))


def lint_etsi_certificate(der: bytes, certificate_type: CertificateType) -> list[Finding]:
    """What ``lint_etsi_cert lint -t <type>`` reports (the ETSI finding filters applied, as the CLI does)."""
    validator = pkix_certificate.create_pkix_certificate_validator_container(
        etsi.create_decoding_validators(certificate_type), etsi.create_validators(certificate_type),
    )
    results = validator.validate(loader.load_der_certificate(der, "certificate").root)
    results, _ = finding_filter.filter_results(etsi.create_etsi_finding_filters(certificate_type), results)
    return _findings(results)


def lint_crl(der: bytes, crl_type: pkix_crl.CertificateRevocationListType) -> list[Finding]:
    """What ``lint_crl lint -t CRL|ARL -p PKIX`` reports."""
    validator = pkix_crl.create_pkix_crl_validator_container(
        [
            pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
            pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
        ],
        [
            pkix_crl.create_issuer_validator_container([]),
            pkix_crl.create_validity_validator_container([]),
            pkix_crl.create_extensions_validator_container([]),
        ],
    )
    return _findings(validator.validate(loader.load_der_crl(der, "crl").root))


def lint_ocsp_response(der: bytes) -> list[Finding]:
    """What ``lint_ocsp_response lint`` reports."""
    validator = pkix_ocsp.create_pkix_ocsp_response_validator_container(
        [
            pkix_ocsp.create_response_decoder(),
            pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
            pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
        ],
        [],
    )
    return _findings(validator.validate(loader.load_der_ocsp_response(der, "ocsp").root))


def _ocsp_answer(certificate_der: bytes, issuer_der: bytes) -> bytes:
    request = ocsp.OCSPRequestBuilder().add_certificate(
        x509.load_der_x509_certificate(certificate_der), x509.load_der_x509_certificate(issuer_der), hashes.SHA256(),
    ).add_extension(x509.OCSPNonce(b"0123456789abcdef"), critical=False).build()
    return ocsp_respond(request_der=request.public_bytes(Encoding.DER))


# --- The tests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [AuthorityRole.ROOT, AuthorityRole.ISSUING, AuthorityRole.OCSP, AuthorityRole.TSA])
def test_authority_certificates_pass_rfc_5280_lint(ca, role):
    findings = lint_pkix_certificate(bytes(ca[role].der))

    assert serious(findings) == []


@pytest.fixture
def holder_certificates(world, ca) -> dict[str, Certificate]:
    with_role = world.alpha.holder  # a role title and organization from the request form
    without_role = world.alpha.holders[1]
    without_role.role_organization = without_role.role_title = ""
    without_role.save(update_fields=["role_organization", "role_title"])
    title_only = world.beta.holder  # a title at the registration office's own organization
    title_only.role_organization = ""
    title_only.save(update_fields=["role_organization"])
    return {"with_role": issued(with_role), "without_role": issued(without_role), "title_only": issued(title_only)}


@pytest.mark.parametrize("kind", ["with_role", "without_role", "title_only"])
def test_holder_certificates_pass_etsi_en_319_412_and_rfc_5280_lint(holder_certificates, kind):
    der = bytes(holder_certificates[kind].der)
    document = loader.load_der_certificate(der, "holder")

    assert etsi.determine_certificate_type(document) == CertificateType.QCP_N_QSCD_EIDAS_FINAL_CERTIFICATE
    assert serious(lint_etsi_certificate(der, CertificateType.QCP_N_QSCD_EIDAS_FINAL_CERTIFICATE)) == []
    assert serious(lint_pkix_certificate(der)) == []


def test_only_the_development_urls_are_allowed_and_they_are_reported(holder_certificates):
    """The allow-list is not a blanket: the findings it hides are exactly the loopback URLs."""
    der = bytes(holder_certificates["with_role"].der)

    hidden = [f for f in lint_etsi_certificate(der, CertificateType.QCP_N_QSCD_EIDAS_FINAL_CERTIFICATE) if f.allowed()]

    assert hidden and all("127.0.0.1" in f.message for f in hidden)


def test_crls_pass_rfc_5280_lint_with_entries_of_every_kind(world, ca):
    active(world.alpha.holder)
    certificate_suspend(certificate=active(world.alpha.holders[1]))
    certificate_revoke(certificate=active(world.beta.holder), reason=RevocationReason.KEY_COMPROMISE)
    certificate_revoke(certificate=active(world.beta.holders[1]), reason=RevocationReason.UNSPECIFIED)
    crl_publish(role=AuthorityRole.ISSUING)

    issuing = lint_crl(bytes(crl_latest(role=AuthorityRole.ISSUING).der), pkix_crl.CertificateRevocationListType.CRL)
    root = lint_crl(bytes(crl_latest(role=AuthorityRole.ROOT).der), pkix_crl.CertificateRevocationListType.ARL)

    assert serious(issuing) == []
    assert serious(root) == []


@pytest.mark.parametrize("status", ["good", "revoked", "suspended", "responder"])
def test_ocsp_responses_pass_rfc_6960_lint(world, ca, status):
    issuing_der = bytes(ca[AuthorityRole.ISSUING].der)
    if status == "responder":
        target = bytes(ca[AuthorityRole.TSA].der)
    else:
        certificate = active(world.alpha.holder)
        if status == "revoked":
            certificate_revoke(certificate=certificate, reason=RevocationReason.AFFILIATION_CHANGED)
        elif status == "suspended":
            certificate_suspend(certificate=certificate)
        target = bytes(certificate.der)

    findings = lint_ocsp_response(_ocsp_answer(target, issuing_der))

    assert serious(findings) == []
