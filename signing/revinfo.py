"""Trust roots and revocation information for pyHanko, produced in process (no HTTP to ourselves).

The signer (B-LT and above embeds them in the DSS) and the validator both need, for every
certificate on a path, fresh status: OCSP answers from :func:`ocsp_respond` for what the issuing CA
issued (holders and the TSA), the stored root CRL for the issuing CA itself. The OCSP responder's
certificate carries id-pkix-ocsp-nocheck and needs nothing. Everything is computed here, before
pyHanko's event loop starts: Django refuses database access from inside it, and a batch needs one
set, not one per document.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from pyhanko_certvalidator import ValidationContext

from certificates.models import AuthorityRole, CertificateAuthority
from certificates.selectors import crl_latest
from certificates.services.revocation import ocsp_respond


@dataclass
class TrustMaterial:
    roots: list[asn1_x509.Certificate]
    intermediates: list[asn1_x509.Certificate]
    crls: list[bytes] = field(default_factory=list)
    ocsps: list[bytes] = field(default_factory=list)

    def validation_context(self, *, moment: datetime | None = None, fetch: bool = False) -> ValidationContext:
        """Hard-fail: a certificate whose status is unknown does not validate."""
        return ValidationContext(
            trust_roots=self.roots,
            other_certs=self.intermediates,
            crls=self.crls,
            ocsps=self.ocsps,
            allow_fetching=fetch,
            revocation_mode="hard-fail",
            moment=moment,
        )


def _ocsp_for(cert_der: bytes, issuer_der: bytes) -> bytes | None:
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(
            x509.load_der_x509_certificate(cert_der), x509.load_der_x509_certificate(issuer_der), hashes.SHA256()
        )
        .build()
    )
    answer = ocsp_respond(request_der=request.public_bytes(Encoding.DER))
    if ocsp.load_der_ocsp_response(answer).response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return None
    return answer


def trust_material(*, certificates: Iterable[bytes] = ()) -> TrustMaterial:
    """Our roots, every authority certificate, the root CRL, and an OCSP answer for each of
    ``certificates`` (DER) and for the current TSA, when the current issuing CA issued them."""
    authorities = list(CertificateAuthority.objects.select_related("issuer").order_by("pk"))
    roots = [asn1_x509.Certificate.load(bytes(a.der)) for a in authorities if a.role == AuthorityRole.ROOT]
    intermediates = [asn1_x509.Certificate.load(bytes(a.der)) for a in authorities if a.role != AuthorityRole.ROOT]
    material = TrustMaterial(roots=roots, intermediates=intermediates)
    root_crl = crl_latest(role=AuthorityRole.ROOT)
    if root_crl is not None:
        material.crls.append(bytes(root_crl.der))
    issuing = next((a for a in authorities if a.role == AuthorityRole.ISSUING and a.is_current), None)
    if issuing is None:
        return material
    issuing_der = bytes(issuing.der)
    issuing_subject = asn1_x509.Certificate.load(issuing_der).subject
    wanted = [bytes(c) for c in certificates]
    wanted += [bytes(a.der) for a in authorities if a.role == AuthorityRole.TSA and a.is_current]
    seen: set[bytes] = set()
    for der in wanted:
        if der in seen or asn1_x509.Certificate.load(der).issuer != issuing_subject:
            continue
        seen.add(der)
        answer = _ocsp_for(der, issuing_der)
        if answer is not None:
            material.ocsps.append(answer)
    return material
