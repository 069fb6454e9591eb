"""Validation of signed PDFs: one report entry per signature (SPEC §7 validation API).

pyHanko's validator with our root as the only trust anchor and our revocation data computed in
process (:mod:`signing.revinfo`, hard-fail: unknown status is not valid). Two questions per
signature: is it good *now* (current OCSP status: a suspended or revoked certificate says so), and,
when it carries a timestamp and the document has a DSS, was it good *at its timestamp* with the
revocation data embedded (the long-term answer, which a later suspension does not change).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from asn1crypto import x509 as asn1_x509
from django.utils.translation import gettext_lazy as _
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import (
    RevocationInfoValidationType,
    validate_pdf_ltv_signature,
    validate_pdf_signature,
)

from accounts.errors import ApplicationError
from signing.loops import off_a_running_loop
from signing.pades import pdf_check
from signing.revinfo import TrustMaterial, trust_material

logger = logging.getLogger(__name__)


@dataclass
class SignatureReport:
    field: str
    signer: str
    intact: bool
    valid: bool
    trusted: bool
    revoked: bool
    level: str
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


@dataclass
class ValidationReport:
    signed: bool
    signatures: list[SignatureReport] = field(default_factory=list)
    document_timestamps: int = 0

    @property
    def valid(self) -> bool:
        return self.signed and all(
            s.intact and s.valid and s.trusted and not s.revoked and s.modification_level != "OTHER"
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


def pdf_validate(*, data: bytes) -> ValidationReport:
    """The report on every signature of ``data``. Not a PDF, encrypted, corrupt: ApplicationError."""
    reader = pdf_check(data)
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


def _signature_report(reader: PdfFileReader, signature: Any, material: TrustMaterial) -> SignatureReport:
    try:
        signer_cert: asn1_x509.Certificate = signature.signer_cert
        signer = signer_cert.subject.human_friendly
    except Exception:
        signer = ""
    entry = SignatureReport(
        field=str(signature.field_name), signer=signer, intact=False, valid=False, trusted=False, revoked=False,
        level="",
    )
    try:
        context = material.validation_context()
        status = validate_pdf_signature(signature, context, ts_validation_context=material.validation_context())
    except Exception as exc:
        logger.info("signature %s does not validate: %s", entry.field, exc)
        entry.summary = "INVALID"
        return entry
    has_timestamp = status.timestamp_validity is not None
    entry.intact, entry.valid, entry.trusted = bool(status.intact), bool(status.valid), bool(status.trusted)
    entry.revoked = bool(status.revoked)
    entry.signing_time = _iso(status.signer_reported_dt)
    entry.timestamp_time = _iso(status.timestamp_validity.timestamp) if has_timestamp else None
    entry.level = _level(reader, signature, has_timestamp)
    entry.modification_level = status.modification_level.name if status.modification_level is not None else ""
    entry.coverage = status.coverage.name if status.coverage is not None else ""
    entry.certification = signature.docmdp_level is not None
    entry.summary = status.summary()
    if entry.level in ("B-LT", "B-LTA"):
        entry.valid_at_timestamp = _at_timestamp(signature, material)
    return entry
