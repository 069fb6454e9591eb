"""Publishing status: the CRL (RFC 5280 §5) and the OCSP responder (RFC 6960).

The CRL is built when a status changes (after commit) and by a beat job before its nextUpdate, and
stored; the view serves the stored DER, so a flood of requests never makes the CA sign anything.
OCSP answers are signed per request by the delegated responder (its key is an ECDSA key: cheap).

Status outlives validity (EN 319 411-2: status information stays available after a certificate
expires): a revoked certificate stays on the CRL after its notAfter, and the CRL says so with
ExpiredCertsOnCRL (X.509 §9.6.2.7); OCSP answers for expired certificates too, and says from when
with archiveCutoff (RFC 6960 §4.4.4). Both carry the CA's notBefore: every certificate the CA ever
issued is covered.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from asn1crypto import core
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import ocsp
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from certificates.models import AuthorityRole, Certificate, CertificateAuthority, Crl, RevocationReason
from certificates.profile import signature_hash
from certificates.selectors import AuthorityMissing, authority_current, authority_x509
from certificates.services.authority import authority_private_key
from certificates.vault import PrivateKey, builder_sign

logger = logging.getLogger(__name__)

REASON_FLAGS: dict[str, x509.ReasonFlags | None] = {
    # RFC 5280 §5.3.1: "unspecified" SHOULD be expressed by leaving the reason code out.
    RevocationReason.UNSPECIFIED: None,
    RevocationReason.KEY_COMPROMISE: x509.ReasonFlags.key_compromise,
    RevocationReason.AFFILIATION_CHANGED: x509.ReasonFlags.affiliation_changed,
    RevocationReason.SUPERSEDED: x509.ReasonFlags.superseded,
    RevocationReason.CESSATION_OF_OPERATION: x509.ReasonFlags.cessation_of_operation,
    RevocationReason.CERTIFICATE_HOLD: x509.ReasonFlags.certificate_hold,
}


@dataclass(frozen=True)
class Entry:
    serial: int
    reason: str
    time: datetime


def _entries(authority: CertificateAuthority) -> list[Entry]:
    """What the CRL of ``authority`` lists: held and revoked certificates it issued, expired ones too
    (the CRL's ExpiredCertsOnCRL extension says entries are kept since the CA's notBefore)."""
    if authority.role != AuthorityRole.ISSUING:
        return []  # the root signs only our own authorities, none of which is revoked
    # An issued certificate has a serial, a revoked or held one its revocation time (the table's constraints).
    rows = cast(
        Iterable[tuple[str, str, datetime]],
        Certificate.objects.filter(issuer=authority)
        .exclude(revocation_reason="")
        .values_list("serial", "revocation_reason", "revocation_time"),
    )
    return sorted((Entry(int(serial), reason, time) for serial, reason, time in rows), key=lambda e: e.serial)


# X.509 (10/2019) §9.6.2.7 expiredCertsOnCRL: revoked certificates stay listed after expiry, since this date.
EXPIRED_CERTS_ON_CRL_OID = x509.ObjectIdentifier("2.5.29.60")


def _expired_certs_on_crl(authority: CertificateAuthority) -> x509.UnrecognizedExtension:
    """The CRL extension (GeneralizedTime: the CA's notBefore); cryptography has no type for it."""
    since = core.GeneralizedTime(authority.not_before.astimezone(UTC).replace(microsecond=0))
    return x509.UnrecognizedExtension(EXPIRED_CERTS_ON_CRL_OID, since.dump())


def _digest(entries: list[Entry]) -> str:
    text = "\n".join(f"{e.serial}:{e.reason}:{e.time.isoformat()}" for e in entries)
    return hashlib.sha256(text.encode()).hexdigest()


def _validity(role: str) -> timedelta:
    if role == AuthorityRole.ROOT:
        return timedelta(days=settings.CA_ROOT_CRL_VALIDITY_DAYS)
    return timedelta(hours=settings.CA_CRL_VALIDITY_HOURS)


def crl_publish(*, role: str = AuthorityRole.ISSUING, now: datetime | None = None) -> Crl:
    """Sign and store a new CRL of the current ``role`` authority, numbered after the previous one."""
    now = now or timezone.now()
    with transaction.atomic():
        # The lock serializes publishers: CRL numbers must grow strictly (RFC 5280 §5.2.3).
        authority = CertificateAuthority.objects.select_for_update().get(role=role, is_current=True)
        last = Crl.objects.filter(authority=authority).order_by("-number").first()
        number = last.number + 1 if last else 1
        entries = _entries(authority)
        issuer_cert = authority_x509(authority)
        key = authority_private_key(authority)
        next_update = now + _validity(role)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer_cert.subject)
            .last_update(now)
            .next_update(next_update)
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()),  # type: ignore[arg-type]  # our CAs hold RSA or EC keys
                critical=False,
            )
            .add_extension(_expired_certs_on_crl(authority), critical=False)
        )
        for entry in entries:
            revoked = x509.RevokedCertificateBuilder().serial_number(entry.serial).revocation_date(entry.time)
            flag = REASON_FLAGS.get(entry.reason)
            if flag is not None:
                revoked = revoked.add_extension(x509.CRLReason(flag), critical=False)
            builder = builder.add_revoked_certificate(revoked.build())
        crl = builder_sign(builder, key, signature_hash(key))
        return Crl.objects.create(
            authority=authority,
            number=number,
            der=crl.public_bytes(Encoding.DER),
            this_update=now,
            next_update=next_update,
            entries_sha256=_digest(entries),
        )


def _crl_publish_quietly() -> None:
    try:
        crl_publish(role=AuthorityRole.ISSUING)
    except Exception:  # the status change is committed; the beat job publishes within minutes
        logger.exception("could not publish the CRL after a status change; crl_refresh will")


def crl_publish_on_commit() -> None:
    """Call inside the transaction of a status change: the new CRL is built from committed state."""
    transaction.on_commit(_crl_publish_quietly)


def crl_refresh(*, now: datetime | None = None) -> list[Crl]:
    """Publish a new CRL where the stored one is missing, past half its life, or no longer matches
    the database (a publication after a status change failed). Idempotent; run by beat."""
    now = now or timezone.now()
    published: list[Crl] = []
    for role in (AuthorityRole.ROOT, AuthorityRole.ISSUING):
        try:
            authority = authority_current(role)
        except AuthorityMissing:
            continue
        latest = Crl.objects.filter(authority=authority).order_by("-number").first()
        stale = (
            latest is None
            or now >= latest.this_update + (latest.next_update - latest.this_update) / 2
            or latest.entries_sha256 != _digest(_entries(authority))
        )
        if stale:
            published.append(crl_publish(role=role, now=now))
    return published


# --- OCSP -----------------------------------------------------------------------------------------


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(Encoding.DER)


def _issuer_hashes(cert: x509.Certificate, algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
    """RFC 6960 §4.1.1 CertID: hash of the issuer's DN and of its public key BIT STRING."""
    name_digest = hashes.Hash(algorithm)
    name_digest.update(cert.subject.public_bytes())
    # The BIT STRING value of SubjectPublicKeyInfo: X9.62 point for EC, PKCS#1 for RSA.
    public_key = cert.public_key()
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        spki_bits = public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    else:
        spki_bits = public_key.public_bytes(Encoding.DER, PublicFormat.PKCS1)
    key_digest = hashes.Hash(algorithm)
    key_digest.update(spki_bits)
    return name_digest.finalize(), key_digest.finalize()


def _status_of(issuer: CertificateAuthority, serial: int) -> tuple[ocsp.OCSPCertStatus, datetime | None, str]:
    row = Certificate.objects.filter(issuer=issuer, serial=str(serial)).values_list(
        "revocation_reason", "revocation_time"
    ).first()
    if row is not None:
        reason, time = row
        if reason:
            return ocsp.OCSPCertStatus.REVOKED, time, reason
        return ocsp.OCSPCertStatus.GOOD, None, ""
    # Our own OCSP responder and TSA certificates are issued by the same CA: answer for them too.
    if CertificateAuthority.objects.filter(issuer=issuer, serial=str(serial)).exists():
        return ocsp.OCSPCertStatus.GOOD, None, ""
    return ocsp.OCSPCertStatus.UNKNOWN, None, ""


def _signed(key: PrivateKey, data: bytes) -> tuple[str, bytes]:
    """The responder's signature over ``data`` (SHA-256) and its algorithm, as asn1crypto names it."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "sha256_ecdsa", key.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, rsa.RSAPrivateKey):
        return "sha256_rsa", key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    raise TypeError("unsupported OCSP responder key")


def _whole_seconds(moment: datetime) -> datetime:
    # GeneralizedTime without fractions, as RFC 5280 §4.1.2.5.2 has it for certificates and CRLs.
    return moment.astimezone(UTC).replace(microsecond=0)


def _single_response(
    *, cert_id: asn1_ocsp.CertId, status: ocsp.OCSPCertStatus, revoked_at: datetime | None, reason: str,
    now: datetime, archive_cutoff: datetime,
) -> asn1_ocsp.SingleResponse:
    if status == ocsp.OCSPCertStatus.REVOKED and revoked_at is not None:
        revoked: dict[str, object] = {"revocation_time": _whole_seconds(revoked_at)}
        if REASON_FLAGS.get(reason) is not None:
            revoked["revocation_reason"] = reason  # our values are asn1crypto's CRLReason names
        cert_status = asn1_ocsp.CertStatus(name="revoked", value=asn1_ocsp.RevokedInfo(revoked))
    elif status == ocsp.OCSPCertStatus.GOOD:
        cert_status = asn1_ocsp.CertStatus(name="good", value=core.Null())
    else:
        cert_status = asn1_ocsp.CertStatus(name="unknown", value=core.Null())
    return asn1_ocsp.SingleResponse({
        "cert_id": cert_id,
        "cert_status": cert_status,
        "this_update": _whole_seconds(now),
        "next_update": _whole_seconds(now + timedelta(minutes=settings.CA_OCSP_VALIDITY_MINUTES)),
        # RFC 6960 §4.4.4, EN 319 411-2: status is kept from the CA's notBefore on, expired certificates
        # included, so a relying party may ask about a certificate long after it expired.
        "single_extensions": [{"extn_id": "archive_cutoff", "extn_value": _whole_seconds(archive_cutoff)}],
    })


def ocsp_respond(*, request_der: bytes, now: datetime | None = None) -> bytes:
    """The DER OCSP response to a DER request. Never raises: every failure is an OCSP error status.

    The response is encoded with asn1crypto: cryptography's builder cannot write singleExtensions
    (archiveCutoff). The request's CertID is echoed as sent, so clients match it byte for byte.
    """
    try:
        request = ocsp.load_der_ocsp_request(request_der)
        serial = request.serial_number
        algorithm = request.hash_algorithm
        name_hash, key_hash = request.issuer_name_hash, request.issuer_key_hash
        nonce = None
        for extension in request.extensions:
            if isinstance(extension.value, x509.OCSPNonce):
                nonce = extension.value.nonce
        cert_id = asn1_ocsp.OCSPRequest.load(request_der)["tbs_request"]["request_list"][0]["req_cert"]
    except Exception:  # any parse error, unsupported hash, more than one request…
        return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    try:
        issuing = authority_current(AuthorityRole.ISSUING)
        responder = authority_current(AuthorityRole.OCSP)
    except AuthorityMissing:
        logger.error("OCSP request but the CA is not initialised")
        return _unsuccessful(ocsp.OCSPResponseStatus.INTERNAL_ERROR)
    try:
        issuing_cert = authority_x509(issuing)
        if (name_hash, key_hash) != _issuer_hashes(issuing_cert, algorithm):
            # RFC 6960 §2.3: we are not authoritative for another CA's certificates.
            return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        now = now or timezone.now()
        status, revoked_at, reason = _status_of(issuing, serial)
        responder_der = bytes(responder.der)
        responder_cert = asn1_x509.Certificate.load(responder_der)
        response_extensions = []
        if nonce is not None:
            # RFC 8954: echo the client's nonce, so a replayed answer is detected.
            response_extensions.append({"extn_id": "nonce", "extn_value": nonce})
        tbs = asn1_ocsp.ResponseData({
            "responder_id": asn1_ocsp.ResponderId(name="by_key", value=responder_cert.public_key.sha1),
            "produced_at": _whole_seconds(now),
            "responses": [_single_response(
                cert_id=cert_id, status=status, revoked_at=revoked_at, reason=reason, now=now,
                archive_cutoff=issuing.not_before,
            )],
            "response_extensions": response_extensions or None,
        })
        algorithm_name, signature = _signed(authority_private_key(responder), tbs.dump())
        basic = asn1_ocsp.BasicOCSPResponse({
            "tbs_response_data": tbs,
            "signature_algorithm": {"algorithm": algorithm_name},
            "signature": signature,
            "certs": [responder_cert],
        })
        response: bytes = asn1_ocsp.OCSPResponse({
            "response_status": "successful",
            "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
        }).dump()
        return response
    except Exception:
        logger.exception("OCSP response could not be built")
        return _unsuccessful(ocsp.OCSPResponseStatus.INTERNAL_ERROR)
