"""Trust roots and revocation information for pyHanko, produced in process (no HTTP to ourselves).

The signer (B-LT and above embeds them in the DSS) and the validator both need, for every
certificate on a path, fresh status: OCSP answers from :func:`ocsp_respond` for what the issuing CA
issued (holders and the TSA), the stored root CRL for the issuing CA itself. The OCSP responder's
certificate carries id-pkix-ocsp-nocheck and needs nothing.

A batch shares what does not change from one document to the next (:class:`RevocationSource`: the
authorities, the root CRL, which certificates need an answer) and asks it for OCSP answers per
document, after the document's signature timestamp (:meth:`RevocationSource.material`): revocation
data must be issued after the signature time, and one set made at the start of a batch expires
before the end of a long one. Everything here reads the database: call it outside pyHanko's event
loop (Django refuses database access from inside it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from django.utils import timezone
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


def _ocsp_for(cert_der: bytes, issuer_der: bytes, *, now: datetime | None = None) -> bytes | None:
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(
            x509.load_der_x509_certificate(cert_der), x509.load_der_x509_certificate(issuer_der), hashes.SHA256()
        )
        .build()
    )
    answer = ocsp_respond(request_der=request.public_bytes(Encoding.DER), now=now)
    if ocsp.load_der_ocsp_response(answer).response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return None
    return answer


def _whole_second_up(moment: datetime) -> datetime:
    """``moment`` rounded up to a whole second: OCSP times are whole seconds, a timestamp's are not,
    and an answer must not read as made before the timestamp it follows."""
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + timedelta(seconds=1)


@dataclass(frozen=True)
class RevocationSource:
    """What a batch's revocation data has in common: our roots and authority certificates, the root
    CRL (the issuing CA's status), the issuing CA and the certificates it answers for by OCSP."""

    roots: tuple[asn1_x509.Certificate, ...]
    intermediates: tuple[asn1_x509.Certificate, ...]
    crls: tuple[bytes, ...]
    issuing_der: bytes | None
    wanted: tuple[bytes, ...]  # DER certificates issued by the current issuing CA, each once

    def material(self, *, not_before: datetime | None = None) -> TrustMaterial:
        """The shared part and a fresh OCSP answer for each certificate. With ``not_before`` (a
        signature timestamp's time), no answer says it was made earlier: its thisUpdate is that
        time rounded up to the second, or now if later."""
        material = TrustMaterial(roots=list(self.roots), intermediates=list(self.intermediates), crls=list(self.crls))
        if self.issuing_der is None:
            return material
        now = None if not_before is None else max(timezone.now(), _whole_second_up(not_before))
        for der in self.wanted:
            answer = _ocsp_for(der, self.issuing_der, now=now)
            if answer is not None:
                material.ocsps.append(answer)
        return material


def revocation_source(*, certificates: Iterable[bytes] = ()) -> RevocationSource:
    """Our authorities and the root CRL, read once; OCSP answers will be made for each of
    ``certificates`` (DER) and for the current TSA, when the current issuing CA issued them."""
    authorities = list(CertificateAuthority.objects.select_related("issuer").order_by("pk"))
    roots = tuple(asn1_x509.Certificate.load(bytes(a.der)) for a in authorities if a.role == AuthorityRole.ROOT)
    intermediates = tuple(
        asn1_x509.Certificate.load(bytes(a.der)) for a in authorities if a.role != AuthorityRole.ROOT
    )
    root_crl = crl_latest(role=AuthorityRole.ROOT)
    crls = (bytes(root_crl.der),) if root_crl is not None else ()
    issuing = next((a for a in authorities if a.role == AuthorityRole.ISSUING and a.is_current), None)
    if issuing is None:
        return RevocationSource(roots=roots, intermediates=intermediates, crls=crls, issuing_der=None, wanted=())
    issuing_der = bytes(issuing.der)
    issuing_subject = asn1_x509.Certificate.load(issuing_der).subject
    candidates = [bytes(c) for c in certificates]
    candidates += [bytes(a.der) for a in authorities if a.role == AuthorityRole.TSA and a.is_current]
    wanted: list[bytes] = []
    for der in candidates:
        if der not in wanted and asn1_x509.Certificate.load(der).issuer == issuing_subject:
            wanted.append(der)
    return RevocationSource(
        roots=roots, intermediates=intermediates, crls=crls, issuing_der=issuing_der, wanted=tuple(wanted)
    )


def trust_material(*, certificates: Iterable[bytes] = ()) -> TrustMaterial:
    """Our roots, every authority certificate, the root CRL, and an OCSP answer made now for each of
    ``certificates`` (DER) and for the current TSA, when the current issuing CA issued them."""
    return revocation_source(certificates=certificates).material()
