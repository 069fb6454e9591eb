"""Validation reports: a valid signed PDF, one modified after signing, an unsigned one, garbage."""

from __future__ import annotations

import json
from io import BytesIO

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from accounts.errors import ApplicationError
from certificates.services import certificate_key_unlock, certificate_suspend
from signing.pades import documents_sign
from signing.services.validation import pdf_validate
from tests.signing.conftest import PIN, active


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
    assert entry.intact and entry.valid and entry.trusted and not entry.revoked
    assert entry.level == "B-LTA" and entry.valid_at_timestamp is True
    assert certificate.subject_common_name in entry.signer
    assert entry.timestamp_time and entry.signing_time
    assert entry.coverage == "ENTIRE_REVISION" and entry.modification_level == "LTA_UPDATES"  # DSS + timestamp
    json.dumps(report.as_dict())  # JSON-serializable for the API


def test_suspension_shows_now_but_not_at_the_timestamp(signed):
    certificate, data = signed
    certificate_suspend(certificate=certificate)

    [entry] = pdf_validate(data=data).signatures

    assert entry.revoked and entry.valid_at_timestamp is True


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
