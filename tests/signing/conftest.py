"""Signing tests: the CA of the certificate tests, a tiny PDF made in process, holders with an
active certificate and an OTP device."""

from __future__ import annotations

from io import BytesIO

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

from tests.certificates.conftest import (  # noqa: F401  (fixtures re-exported for this package)
    PIN,
    active,
    ca,
    ca_hierarchy,
    english_messages,
    live_ca,
)


def pdf_make(text: str = "Verbale d'esame n. 1", pages: int = 1) -> bytes:
    """A small valid PDF: one Helvetica line per page."""
    writer = PdfFileWriter()
    font = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Font"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/Type1"),
            generic.pdf_name("/BaseFont"): generic.pdf_name("/Helvetica"),
        }
    )
    resources = generic.DictionaryObject(
        {generic.pdf_name("/Font"): generic.DictionaryObject({generic.pdf_name("/F1"): writer.add_object(font)})}
    )
    for number in range(pages):
        body = f"BT /F1 14 Tf 72 720 Td ({text} - {number + 1}) Tj ET".encode()
        stream = writer.add_object(generic.StreamObject(stream_data=body))
        writer.insert_page(PageObject(contents=stream, media_box=(0, 0, 595, 842), resources=resources))
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture
def pdf() -> bytes:
    return pdf_make()
