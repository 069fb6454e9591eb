"""The internal time-stamping authority (RFC 3161, with the ESSCertIDv2 of RFC 5816).

One function, :func:`tsa_respond`, turns a ``TimeStampReq`` into a ``TimeStampResp``; it needs no
database and no network, so it runs inside pyHanko's event loop (:class:`InternalTimeStamper`, used
by the signer for B-T and above) as well as behind the public ``/tsa/`` endpoint.

The TSA's certificate is the CA's ``tsa`` authority (EKU id-kp-timeStamping only, critical). Its key
is opened from the vault once per process and kept in memory (:func:`tsa_material`): a timestamp
costs one ECDSA signature, never a KEK unwrap.

Qualified: with ``SIGNING_TSA_QUALIFIED`` every token's TSTInfo carries the qcStatements extension
with ``esi4-qtstStatement-1`` (ETSI EN 319 422 §9.1), the claim that it is a qualified electronic
time-stamp (eIDAS art. 42); without it the extension is left out, never written false. The policy is
``SIGNING_TSA_POLICY_OID``, the TSA's own time-stamp policy.

``SIGNING_TSA_URL`` replaces the internal TSA with an external one (pyHanko's ``HTTPTimeStamper``),
for a trust service that buys qualified timestamps elsewhere.

Refusals follow RFC 3161 §2.4.2: a ``rejection`` status with the failure bit that says why, never an
exception, whatever the bytes sent.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from asn1crypto import algos, cms, core, tsp, x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from django.conf import settings
from django.utils.translation import gettext as _
from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper

from certificates.models import AuthorityRole
from certificates.selectors import authority_current
from certificates.services.authority import authority_private_key
from certificates.vault import PrivateKey
from signing import der

logger = logging.getLogger(__name__)

TIMESTAMP_QUERY_TYPE = "application/timestamp-query"
TIMESTAMP_REPLY_TYPE = "application/timestamp-reply"

# Message imprints we accept, with their digest length (RFC 3161 §2.4.1: the TSA checks the length).
_IMPRINT_LENGTHS = {"sha256": 32, "sha384": 48, "sha512": 64, "sha3_256": 32, "sha3_512": 64}


@dataclass(frozen=True)
class TokenParts:
    """The DER of everything a token repeats, encoded once per TSA certificate (:mod:`signing.der`
    says why): each token then encodes only its time, serial, imprint, nonce and signature."""

    policy: bytes
    accuracy: bytes
    tsa_name: bytes  # [0] EXPLICIT GeneralName (directoryName): the TSA's subject
    extensions: bytes  # [1] IMPLICIT Extensions: the qualified statement, or nothing
    signing_certificate: bytes  # the signing-certificate-v2 signed attribute (RFC 5816)
    content_type: bytes  # the content-type signed attribute: id-ct-TSTInfo
    signer_info_head: bytes  # version, sid, digestAlgorithm
    signature_algorithm: bytes
    signed_data_head: bytes  # version, digestAlgorithms
    certificates: bytes  # [0] IMPLICIT SET OF the TSA certificate and its chain, for cert_req


@dataclass(frozen=True)
class TsaMaterial:
    """What signing a timestamp needs, loaded once: the TSA certificate, its chain and its key."""

    serial: str
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # issuing CA (the root is the relying party's trust anchor)
    private_key: PrivateKey
    policy: str
    qualified: bool = False

    @cached_property
    def parts(self) -> TokenParts:
        certificate = self.certificate
        digest_algorithm = algos.DigestAlgorithm({"algorithm": "sha256"})
        signer_info_head = cms.SignerInfo({
            "version": "v1",
            "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
                {"issuer": certificate.issuer, "serial_number": certificate.serial_number})}),
            "digest_algorithm": digest_algorithm,
        })
        # One TSTInfo with the constant fields, to take their encodings from asn1crypto.
        reference = tsp.TSTInfo({
            "version": "v1", "policy": self.policy,
            "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": bytes(32)},
            "serial_number": 1, "gen_time": datetime.now(tz=UTC), "accuracy": {"seconds": 1},
            "tsa": x509.GeneralName(name="directory_name", value=certificate.subject),
        })
        signed_data_head = cms.SignedData({"version": "v3", "digest_algorithms": [digest_algorithm]})
        return TokenParts(
            policy=reference["policy"].dump(),
            accuracy=reference["accuracy"].dump(),
            tsa_name=reference["tsa"].dump(),
            extensions=der.tlv(_CONTEXT_1, _QUALIFIED_EXTENSION) if self.qualified else b"",
            signing_certificate=simple_cms_attribute(
                "signing_certificate_v2", as_signing_certificate_v2(certificate)).dump(),
            content_type=simple_cms_attribute("content_type", "tst_info").dump(),
            signer_info_head=b"".join(signer_info_head[k].dump() for k in ("version", "sid", "digest_algorithm")),
            signature_algorithm=algos.SignedDigestAlgorithm(
                {"algorithm": _signature_algorithm(self.private_key)}).dump(),
            signed_data_head=b"".join(signed_data_head[k].dump() for k in ("version", "digest_algorithms")),
            certificates=der.tlv(der.CONTEXT_0, b"".join(sorted(c.dump() for c in (certificate, *self.chain)))),
        )


# ETSI EN 319 422 annex B: id-etsi-tsts-EuQCompliance, the statement esi4-qtstStatement-1, carried in a
# qcStatements extension (RFC 3739's OID) of the TSTInfo, non-critical, with no statement info.
QTST_STATEMENT_OID = "0.4.0.19422.1.1"
QC_STATEMENTS_OID = "1.3.6.1.5.5.7.1.3"
# Encoded by hand: pyHanko teaches asn1crypto a parsed type for qcStatements, which changes what
# x509.Extension expects as its value depending on what was imported first.
_QUALIFIED_EXTENSION = der.tlv(der.SEQUENCE, core.ObjectIdentifier(QC_STATEMENTS_OID).dump() + der.tlv(
    der.OCTET_STRING,
    der.tlv(der.SEQUENCE, der.tlv(der.SEQUENCE, core.ObjectIdentifier(QTST_STATEMENT_OID).dump())),
))
_CONTEXT_1 = 0xA1  # [1] IMPLICIT, constructed: TSTInfo's extensions

_cache: dict[str, TsaMaterial] = {}
_cache_lock = threading.Lock()


def tsa_material() -> TsaMaterial:
    """The current TSA's certificate and key; the key is opened once per process per TSA certificate.

    Touches the database (one indexed read to learn which TSA is current): call it before entering
    pyHanko's event loop, never from inside it.
    """
    authority = authority_current(AuthorityRole.TSA)
    material = _cache.get(authority.serial)
    if material is not None and _current(material):
        return material
    with _cache_lock:
        material = _cache.get(authority.serial)
        if material is None or not _current(material):
            issuer = authority.issuer
            material = TsaMaterial(
                serial=authority.serial,
                certificate=x509.Certificate.load(bytes(authority.der)),
                chain=(x509.Certificate.load(bytes(issuer.der)),) if issuer is not None else (),
                private_key=authority_private_key(authority),
                policy=settings.SIGNING_TSA_POLICY_OID,
                qualified=settings.SIGNING_TSA_QUALIFIED,
            )
            _cache.clear()  # a rotated TSA: the old key leaves memory
            _cache[authority.serial] = material
    return material


def _current(material: TsaMaterial) -> bool:
    """The cached material still says what the settings say (tests and a reload may change them)."""
    return (material.policy, material.qualified) == (
        settings.SIGNING_TSA_POLICY_OID, settings.SIGNING_TSA_QUALIFIED)


class TimeStampResponse(core.Sequence):
    """RFC 3161 TimeStampResp: asn1crypto's own marks the token as required, but a rejection has none."""

    _fields = [("status", tsp.PKIStatusInfo), ("time_stamp_token", cms.ContentInfo, {"optional": True})]


def tsa_rejection(fail_info: str, text: str) -> tsp.TimeStampResp:
    return TimeStampResponse(
        {
            "status": tsp.PKIStatusInfo(
                {
                    "status": tsp.PKIStatus("rejection"),
                    "status_string": tsp.PKIFreeText([text]),
                    "fail_info": tsp.PKIFailureInfo({fail_info}),
                }
            )
        }
    )


def _signature_algorithm(private_key: PrivateKey) -> str:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return "sha256_ecdsa"
    if isinstance(private_key, rsa.RSAPrivateKey):
        return "rsassa_pkcs1v15"
    raise TypeError("unsupported TSA key")


def _sign(private_key: PrivateKey, data: bytes) -> bytes:
    """The TSA's signature over ``data`` with SHA-256."""
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return private_key.sign(data, ec.ECDSA(hashes.SHA256()))
    return private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())


_ID_CT_TST_INFO = cms.ContentType("tst_info").dump()
_ID_SIGNED_DATA = cms.ContentType("signed_data").dump()
_GRANTED = tsp.PKIStatusInfo({"status": tsp.PKIStatus("granted")}).dump()


def _attribute(name: str, value: object) -> bytes:
    return simple_cms_attribute(name, value).dump()


def tsa_timestamp(
    request: tsp.TimeStampReq, *, material: TsaMaterial, now: datetime | None = None
) -> tsp.TimeStampResp:
    """Answer one parsed request: a granted token, or a rejection saying why. Pure: no I/O."""
    try:
        if request["version"].native not in (1, "v1"):
            return tsa_rejection("bad_request", "unsupported version")
        imprint = request["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        digest = imprint["hashed_message"].native
        if algorithm not in _IMPRINT_LENGTHS:
            return tsa_rejection("bad_alg", "unsupported hash algorithm")
        if not isinstance(digest, bytes) or len(digest) != _IMPRINT_LENGTHS[algorithm]:
            return tsa_rejection("bad_data_format", "digest length does not match the algorithm")
        requested_policy = request["req_policy"].native
        if requested_policy is not None and requested_policy != material.policy:
            return tsa_rejection("unaccepted_policy", "unsupported policy")
        if request["extensions"].native:
            return tsa_rejection("unaccepted_extensions", "extensions are not supported")
        nonce = request["nonce"].native
        cert_req = bool(request["cert_req"].native)
        imprint_der = imprint.dump()
    except Exception:  # a structurally valid DER that is not a TimeStampReq
        return tsa_rejection("bad_data_format", "malformed request")

    parts = material.parts
    gen_time = (now or datetime.now(tz=UTC)).astimezone(UTC)
    # TSTInfo in its field order; ordering is FALSE by default, and DER leaves defaults out.
    tst_info = der.tlv(der.SEQUENCE, b"".join((
        core.Integer(1).dump(),
        parts.policy,
        imprint_der,
        # RFC 3161 §2.4.2: unique per token; 128 random bits need no counter shared between workers.
        core.Integer(int.from_bytes(os.urandom(16), "big")).dump(),
        core.GeneralizedTime(gen_time).dump(),
        parts.accuracy,
        core.Integer(nonce).dump() if nonce is not None else b"",
        parts.tsa_name,
        parts.extensions,
    )))
    # The signed attributes: a DER SET OF, so sorted by encoding.
    signed_attributes = der.tlv(der.SET, b"".join(sorted((
        parts.content_type,
        _attribute("signing_time", cms.Time({"utc_time": core.UTCTime(gen_time)})),
        _attribute("message_digest", hashlib.sha256(tst_info).digest()),
        parts.signing_certificate,
    ))))
    signature = _sign(material.private_key, signed_attributes)
    signer_info = der.tlv(der.SEQUENCE, b"".join((
        parts.signer_info_head,
        bytes([der.CONTEXT_0]) + signed_attributes[1:],
        parts.signature_algorithm,
        der.tlv(der.OCTET_STRING, signature),
    )))
    signed_data = der.tlv(der.SEQUENCE, b"".join((
        parts.signed_data_head,
        der.tlv(der.SEQUENCE, _ID_CT_TST_INFO + der.tlv(der.CONTEXT_0, der.tlv(der.OCTET_STRING, tst_info))),
        # RFC 3161 §2.4.1: the TSA certificate MUST be included when asked for, and only then.
        parts.certificates if cert_req else b"",
        der.tlv(der.SET, signer_info),
    )))
    token = der.tlv(der.SEQUENCE, _ID_SIGNED_DATA + der.tlv(der.CONTEXT_0, signed_data))
    return tsp.TimeStampResp.load(der.tlv(der.SEQUENCE, _GRANTED + token))


def tsa_respond(*, request_der: bytes, material: TsaMaterial | None = None) -> bytes:
    """The DER ``TimeStampResp`` to a DER ``TimeStampReq``. Never raises."""
    try:
        request = tsp.TimeStampReq.load(request_der, strict=True)
        request.native  # noqa: B018  (parse every field now: asn1crypto is lazy)
    except Exception:
        return tsa_rejection("bad_data_format", "malformed request").dump()
    try:
        return tsa_timestamp(request, material=material or tsa_material()).dump()
    except Exception:
        logger.exception("the TSA could not answer")
        return tsa_rejection("system_failure", "the time-stamping authority is not available").dump()


class InternalTimeStamper(TimeStamper):
    """pyHanko's view of the internal TSA: a direct function call, no HTTP to ourselves."""

    def __init__(self, material: TsaMaterial) -> None:
        super().__init__(include_nonce=True)
        self.material = material

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        return tsa_timestamp(req, material=self.material)


def timestamper_get() -> TimeStamper:
    """The time-stamper signatures use: the external TSA when ``SIGNING_TSA_URL`` is set, else ours.

    Call outside pyHanko's event loop (it may read the database)."""
    if settings.SIGNING_TSA_URL:
        return HTTPTimeStamper(settings.SIGNING_TSA_URL, timeout=settings.SIGNING_TSA_TIMEOUT_SECONDS)
    return InternalTimeStamper(tsa_material())


def timestamp_token(*, digest: bytes, digest_algorithm: str, nonce: int | None = None, client: object = None) -> bytes:
    """A DER TimeStampToken over ``digest`` from the internal TSA (CSC ``signatures/timestamp``).

    Raises :class:`ApplicationError` ``invalid_request`` when the TSA refuses (unknown algorithm,
    wrong length); ``client`` is accepted for the API's audit trail and not otherwise used.
    """
    from core.errors import ApplicationError

    request = tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": digest_algorithm}, "hashed_message": digest},
        "nonce": nonce,
        "cert_req": True,
    })
    answer = tsa_timestamp(request, material=tsa_material())
    if answer["status"]["status"].native not in ("granted", "granted_with_mods"):
        raise ApplicationError("invalid_request", _("The timestamp request was refused."))
    return answer["time_stamp_token"].dump()
