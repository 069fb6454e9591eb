"""Validation reports: a valid signed PDF, one modified after signing, an unsigned one, garbage; a
suspended certificate against a revoked one; the signer by name."""

from __future__ import annotations

import json
from io import BytesIO

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from accounts.models import Holder
from certificates.models import Certificate
from certificates.services import (
    certificate_key_unlock,
    certificate_reactivate,
    certificate_revoke,
    certificate_suspend,
)
from core.errors import ApplicationError
from signing.pades import documents_sign
from signing.services.validation import pdf_validate
from tests.signing.conftest import PIN, active, pdf_make


@pytest.fixture
def signed(world, ca, pdf):
    certificate = active(world.alpha.holder)
    key = certificate_key_unlock(certificate=certificate, pin=PIN)
    return certificate, documents_sign(private_key=key, certificate=certificate, documents=[pdf], level="B-LTA")[0]


def test_a_valid_signed_pdf(signed):
    certificate, data = signed
    report = pdf_validate(data=data)

    assert report.signed and report.valid and report.document_timestamps == 1
    [entry] = report.signatures
    assert entry.intact and entry.valid and entry.trusted and not entry.revoked and not entry.on_hold
    assert entry.revocation_status == "good" and entry.revocation_time is None and entry.revocation_reason is None
    assert entry.level == "B-LTA" and entry.valid_at_timestamp is True
    assert certificate.subject_common_name in entry.signer
    assert entry.timestamp_time and entry.signing_time
    assert entry.coverage == "ENTIRE_REVISION" and entry.modification_level == "LTA_UPDATES"  # DSS + timestamp
    json.dumps(report.as_dict())  # JSON-serializable for the API


def test_suspension_shows_now_but_not_at_the_timestamp(signed):
    certificate, data = signed
    certificate_suspend(certificate=certificate)

    [entry] = pdf_validate(data=data).signatures

    assert entry.on_hold and not entry.revoked and entry.revocation_status == "on_hold"
    assert entry.trusted  # the chain still leads to our root: the hold is reported, not hidden as distrust
    assert entry.valid_at_timestamp is True


def test_a_signature_timestamped_before_the_pin_block_stays_valid_at_its_timestamp(signed, world):
    certificate, data = signed
    for _attempt in range(world.alpha.organization.pin_max_retries):
        with pytest.raises(ApplicationError):
            certificate_key_unlock(certificate=certificate, pin="99999998")

    [entry] = pdf_validate(data=data).signatures

    assert entry.revoked and entry.revocation_reason == "cessation_of_operation"  # no new signature can be made
    assert entry.trusted and entry.valid_at_timestamp is True  # the ones made before still hold


def _signed_b_b(holder: Holder) -> tuple[Certificate, bytes]:
    """A PDF signed without a timestamp: nothing in it says when, so only today's status counts."""
    certificate = active(holder)
    key = certificate_key_unlock(certificate=certificate, pin=PIN)
    return certificate, documents_sign(private_key=key, certificate=certificate, documents=[pdf_make()], level="B-B")[0]


def test_a_suspended_signer_without_an_earlier_timestamp_reads_on_hold_not_revoked(world, ca):
    certificate, data = _signed_b_b(world.alpha.holder)
    certificate_suspend(certificate=certificate)
    certificate.refresh_from_db()

    report = pdf_validate(data=data)

    [entry] = report.signatures
    assert entry.on_hold and not entry.revoked and entry.revocation_status == "on_hold"
    assert entry.trusted  # the chain still leads to our root: the hold is reported, not hidden as distrust
    assert entry.revocation_reason == "certificate_hold"
    assert entry.revocation_at is not None
    assert abs((entry.revocation_at - certificate.revocation_time).total_seconds()) < 1  # OCSP: whole seconds
    assert entry.timestamp_time is None and entry.valid_at_timestamp is None
    assert not entry.good and not report.valid  # on hold is not good either, only not final
    assert report.as_dict()["signatures"][0]["revocation_status"] == "on_hold"


def test_a_revoked_signer_reads_revoked_with_the_reason(world, ca):
    certificate, data = _signed_b_b(world.alpha.holder)
    certificate_revoke(certificate=certificate, reason="key_compromise")

    report = pdf_validate(data=data)

    [entry] = report.signatures
    assert entry.revoked and not entry.on_hold and entry.revocation_status == "revoked" and entry.trusted
    assert entry.revocation_reason == "key_compromise" and entry.revocation_reason_display == "key compromise"
    assert entry.revocation_time is not None and not report.valid


def test_a_signature_made_while_suspended_then_reactivated_reads_good(world, ca):
    certificate, data = _signed_b_b(world.alpha.holder)
    certificate_suspend(certificate=certificate)
    certificate_reactivate(certificate=certificate)

    [entry] = pdf_validate(data=data).signatures

    assert entry.revocation_status == "good" and not entry.on_hold and not entry.revoked and entry.good


def test_the_signer_is_the_common_name_with_the_fiscal_code_and_the_dn_apart(signed):
    certificate, data = signed

    [entry] = pdf_validate(data=data).signatures

    assert entry.signer == certificate.subject_common_name == "Mario Rossi"
    assert entry.signer_serial_number == certificate.subject_serial_number
    assert entry.signer_serial_number.startswith("TINIT-")
    assert entry.signer_subject.startswith("Common Name: Mario Rossi, Serial Number: TINIT-")


def test_a_pdf_modified_after_signing(signed):
    _, data = signed
    writer = IncrementalPdfFileWriter(BytesIO(data))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    page[generic.pdf_name("/Rotate")] = generic.NumberObject(90)
    writer.update_container(page)
    out = BytesIO()
    writer.write(out)

    report = pdf_validate(data=out.getvalue())

    [entry] = report.signatures
    assert entry.intact and entry.valid  # the signed revision is untouched …
    assert entry.modification_level == "OTHER"  # … but what came after is not a permitted change
    assert entry.summary.endswith("ILLEGAL_MODIFICATIONS") and not report.valid


def test_an_unsigned_pdf(ca, pdf):
    report = pdf_validate(data=pdf)
    assert not report.signed and report.signatures == [] and not report.valid


@pytest.mark.parametrize("data", [b"", b"hello", b"%PDF-1.7\ngarbage" * 10])
def test_garbage_is_a_clear_error(ca, data):
    with pytest.raises(ApplicationError) as error:
        pdf_validate(data=data)
    assert error.value.code == "invalid_document"


def test_a_signer_outside_our_hierarchy_is_not_trusted(ca, pdf):
    from datetime import UTC, datetime, timedelta

    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    from pyhanko.sign import signers

    from signing.pades import EngineSigner

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Mario Falso")])
    now = datetime.now(tz=UTC)
    stranger = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))
    signer = EngineSigner(private_key=key, chain=[], certificate=asn1_x509.Certificate.load(
        stranger.public_bytes(serialization.Encoding.DER)))
    data = signers.sign_pdf(IncrementalPdfFileWriter(BytesIO(pdf)), signers.PdfSignatureMetadata(field_name="Firma"),
                            signer=signer).getvalue()

    [entry] = pdf_validate(data=data).signatures

    assert entry.intact and entry.valid and not entry.trusted and not entry.good
    assert entry.revocation_status == "good" and entry.signer == "Mario Falso"
