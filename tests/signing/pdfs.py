"""Small real PDFs for the signing tests, made with pyHanko's writer (no fixture files to go stale)."""

from __future__ import annotations

import io

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter, copy_into_new_writer

A4 = (0, 0, 595, 842)


def pdf_bytes(text: str = "Verbale", *, pages: int = 1) -> bytes:
    writer = PdfFileWriter()
    for number in range(pages):
        stream = f"BT /F1 18 Tf 72 760 Td ({text} {number + 1}) Tj ET".encode("latin-1")
        font = generic.DictionaryObject({
            generic.pdf_name("/Type"): generic.pdf_name("/Font"),
            generic.pdf_name("/Subtype"): generic.pdf_name("/Type1"),
            generic.pdf_name("/BaseFont"): generic.pdf_name("/Helvetica"),
        })
        resources = generic.DictionaryObject({
            generic.pdf_name("/Font"): generic.DictionaryObject({generic.pdf_name("/F1"): font}),
        })
        page = generic.DictionaryObject({
            generic.pdf_name("/Type"): generic.pdf_name("/Page"),
            generic.pdf_name("/MediaBox"): generic.ArrayObject(map(generic.NumberObject, A4)),
            generic.pdf_name("/Contents"): writer.add_object(generic.StreamObject(stream_data=stream)),
            generic.pdf_name("/Resources"): resources,
        })
        writer.insert_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted_pdf_bytes(*, user_password: bytes = b"") -> bytes:
    """A PDF encrypted with the standard security handler (opens without a password when it is empty)."""
    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(pdf_bytes("Riservato"))))
    writer.encrypt(b"owner-secret", user_password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def zip_bytes() -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("verbale.pdf", pdf_bytes())
    return out.getvalue()
