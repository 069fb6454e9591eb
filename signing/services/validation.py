"""Validation of signed PDFs: one report entry per signature.

pyHanko's validator with our root as the only trust anchor and our revocation data computed in
process (:mod:`signing.revinfo`, hard-fail: unknown status is not valid). Two questions per
signature: is it good *now* (current OCSP status: a suspended or revoked certificate says so), and,
when it carries a timestamp and the document has a DSS, was it good *at its timestamp* with the
revocation data embedded (the long-term answer, which a later suspension does not change).

Suspended is not revoked: pyHanko reports both as "revoked", with the CRL reason. A certificate on
hold (RFC 5280 §5.3.1 ``certificateHold``) may be reactivated, and then it was never revoked; the
report says ``on_hold`` for it and keeps ``revoked`` for a revocation, which is final.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from asn1crypto import x509 as asn1_x509
from django.utils.translation import gettext_lazy as _
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import (
    RevocationInfoValidationType,
    validate_pdf_ltv_signature,
    validate_pdf_signature,
)

from certificates.models import RevocationReason
from core.errors import ApplicationError
from signing.loops import off_a_running_loop
from signing.pdf_input import pdf_document_read, pdf_reader
from signing.revinfo import TrustMaterial, trust_material

logger = logging.getLogger(__name__)


# The CRL reason of a suspension (RFC 5280 §5.3.1), as asn1crypto names it.
HOLD_REASON = "certificate_hold"


class RevocationStatus(StrEnum):
    GOOD = "good"
    ON_HOLD = "on_hold"
    REVOKED = "revoked"


@dataclass
class SignatureReport:
    field: str
    # The person: the subject's common name (or given name and surname); the full DN is signer_subject.
    signer: str
    intact: bool
    valid: bool
    trusted: bool
    # Revoked for good; a suspended certificate is on_hold instead (revocation_status says which).
    revoked: bool
    level: str
    # The subject's serialNumber attribute: for our holders the fiscal code, "TINIT-…".
    signer_serial_number: str = ""
    signer_subject: str = ""
    on_hold: bool = False
    revocation_status: str = RevocationStatus.GOOD.value
    revocation_time: str | None = None
    # The CRL reason as asn1crypto names it ("key_compromise", "certificate_hold", …).
    revocation_reason: str | None = None
    signing_time: str | None = None
    timestamp_time: str | None = None
    valid_at_timestamp: bool | None = None
    modification_level: str = ""
    coverage: str = ""
    certification: bool = False
    summary: str = ""

    @property
    def modified_after(self) -> bool:
        """Changed after signing in a way the signature does not allow for: later signatures, form
        filling and long-term validation data (DSS, document timestamps) are not changes."""
        return self.modification_level not in ("", "NONE", "LTA_UPDATES", "FORM_FILLING")

    @property
    def signing_at(self) -> datetime | None:
        return datetime.fromisoformat(self.signing_time) if self.signing_time else None

    @property
    def timestamp_at(self) -> datetime | None:
        return datetime.fromisoformat(self.timestamp_time) if self.timestamp_time else None

    @property
    def revocation_at(self) -> datetime | None:
        return datetime.fromisoformat(self.revocation_time) if self.revocation_time else None

    @property
    def revocation_reason_display(self) -> str:
        if not self.revocation_reason:
            return ""
        if self.revocation_reason in RevocationReason.values:
            return str(RevocationReason(self.revocation_reason).label)
        return self.revocation_reason.replace("_", " ")

    @property
    def good(self) -> bool:
        """Intact, valid, trusted, neither revoked nor suspended, not changed after signing."""
        return (
            self.intact and self.valid and self.trusted and not self.revoked and not self.on_hold
            and not self.modified_after
        )


@dataclass
class ValidationReport:
    signed: bool
    signatures: list[SignatureReport] = field(default_factory=list)
    document_timestamps: int = 0

    @property
    def valid(self) -> bool:
        return self.signed and all(
            s.intact and s.valid and s.trusted and not s.revoked and not s.on_hold
            and s.modification_level != "OTHER"
            for s in self.signatures
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "valid": self.valid}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _level(reader: PdfFileReader, signature: Any, has_timestamp: bool) -> str:
    if str(signature.sig_object.get("/SubFilter", "")) != "/ETSI.CAdES.detached":
        return "PKCS7"
    if not has_timestamp:
        return "B-B"
    dss = reader.root.get("/DSS")
    dss = dss.get_object() if dss is not None else None
    if dss is None or not ("/OCSPs" in dss or "/CRLs" in dss):
        return "B-T"
    later_timestamps = [
        ts for ts in reader.embedded_timestamp_signatures if ts.signed_revision > signature.signed_revision
    ]
    return "B-LTA" if later_timestamps else "B-LT"


def _at_timestamp(signature: Any, material: TrustMaterial) -> bool | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            status = validate_pdf_ltv_signature(
                signature,
                RevocationInfoValidationType.PADES_LT,
                validation_context_kwargs={"trust_roots": material.roots, "other_certs": material.intermediates},
                bootstrap_validation_context=material.validation_context(),
            )
        return bool(status.bottom_line)
    except Exception as exc:  # not LTV-complete, or does not validate at its timestamp
        logger.info("LTV validation failed: %s", exc)
        return False


def pdf_validate(*, data: bytes, name: str = "") -> ValidationReport:
    """The report on every signature of ``data``. Not a PDF, encrypted, corrupt: ApplicationError."""
    pdf_document_read(name=name, data=data, allow_active_content=True)  # validation runs nothing it reads
    # A reader of its own, not the intake's: the XMP /Metadata the intake parsed stays cached without
    # its container, and pyHanko's diff analysis of later revisions can fail on it ("No container
    # reference available"): B-LT/B-LTA signatures of ECDSA keys read as invalid.
    reader = pdf_reader(bytes(data))
    try:
        signatures = list(reader.embedded_regular_signatures)
        timestamps = list(reader.embedded_timestamp_signatures)
    except Exception as exc:
        raise ApplicationError("invalid_document", _("The PDF document is damaged and cannot be read.")) from exc
    report = ValidationReport(signed=bool(signatures), document_timestamps=len(timestamps))
    if not signatures:
        return report
    certs: list[bytes] = []
    for signature in signatures:
        try:
            certs.append(signature.signer_cert.dump())
        except Exception:  # noqa: S112  (no certificate: reported as not valid below)
            continue
    material = trust_material(certificates=certs)
    for signature in signatures:
        report.signatures.append(off_a_running_loop(_signature_report, reader, signature, material))
    return report


def _attribute(subject: asn1_x509.Name, name: str) -> str:
    value = subject.native.get(name)
    if isinstance(value, list):  # an attribute repeated in the DN
        value = " ".join(str(v) for v in value)
    return str(value).strip() if value else ""


def signer_name(subject: asn1_x509.Name) -> str:
    """The person a subject names, as people write it: the common name, else given name and surname,
    else (an odd certificate) the whole DN."""
    name = _attribute(subject, "common_name") or " ".join(
        part for part in (_attribute(subject, "given_name"), _attribute(subject, "surname")) if part
    )
    return name or subject.human_friendly


def _revocation(entry: SignatureReport, details: Any) -> None:
    """Revoked or on hold, from pyHanko's ``RevocationDetails`` (of the signer's certificate or of a
    CA above it); a hold is not a revocation."""
    if details is None:
        return
    reason = details.revocation_reason.native if details.revocation_reason is not None else None
    entry.revocation_reason = reason
    entry.revocation_time = _iso(details.revocation_date)
    if reason == HOLD_REASON:
        entry.on_hold, entry.revocation_status = True, RevocationStatus.ON_HOLD.value
    else:
        entry.revoked, entry.revocation_status = True, RevocationStatus.REVOKED.value


def _signature_report(reader: PdfFileReader, signature: Any, material: TrustMaterial) -> SignatureReport:
    entry = SignatureReport(
        field=str(signature.field_name), signer="", intact=False, valid=False, trusted=False, revoked=False,
        level="",
    )
    try:
        subject: asn1_x509.Name = signature.signer_cert.subject
        entry.signer, entry.signer_subject = signer_name(subject), subject.human_friendly
        entry.signer_serial_number = _attribute(subject, "serial_number")
    except Exception:  # noqa: S110  (no certificate: the signer stays blank and the signature invalid)
        pass
    try:
        context = material.validation_context()
        status = validate_pdf_signature(signature, context, ts_validation_context=material.validation_context())
    except Exception as exc:
        logger.info("signature %s does not validate: %s", entry.field, exc)
        entry.summary = "INVALID"
        return entry
    has_timestamp = status.timestamp_validity is not None
    entry.intact, entry.valid = bool(status.intact), bool(status.valid)
    # Trusted: the certificate chains to one of our roots. pyHanko says "not trusted" for a revoked
    # or suspended one too, but it only finds the revocation on a path it built to a root: the
    # report says "revoked"/"on hold" for that, and keeps "trusted" for the chain.
    entry.trusted = bool(status.trusted) or status.revocation_details is not None
    _revocation(entry, status.revocation_details)
    entry.signing_time = _iso(status.signer_reported_dt)
    entry.timestamp_time = _iso(status.timestamp_validity.timestamp) if status.timestamp_validity is not None else None
    entry.level = _level(reader, signature, has_timestamp)
    entry.modification_level = status.modification_level.name if status.modification_level is not None else ""
    entry.coverage = status.coverage.name if status.coverage is not None else ""
    entry.certification = signature.docmdp_level is not None
    entry.summary = status.summary()
    if entry.level in ("B-LT", "B-LTA"):
        entry.valid_at_timestamp = _at_timestamp(signature, material)
    return entry
