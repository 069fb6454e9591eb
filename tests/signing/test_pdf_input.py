"""The PDF intake refuses every hostile input with a message naming the file, and accepts a good batch."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.utils import translation

from accounts.errors import ApplicationError
from signing.pdf_input import DISPLAY_NAME_MAX_LENGTH, pdf_document_check, pdf_intake, safe_display_name
from tests.signing.pdfs import encrypted_pdf_bytes, pdf_bytes, zip_bytes


@pytest.fixture(autouse=True)
def english_messages():
    with translation.override("en"):
        yield


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/pdf")


def refusal(*files: object) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        pdf_intake(files=list(files))
    return caught.value


def test_it_accepts_a_good_batch_and_returns_bytes_names_and_hashes_in_order():
    first, second = pdf_bytes("Primo"), pdf_bytes("Secondo", pages=3)
    documents = pdf_intake(files=[upload("verbale-1.pdf", first), ("verbale 2.pdf", second)])
    assert [d.name for d in documents] == ["verbale-1.pdf", "verbale 2.pdf"]
    assert [d.data for d in documents] == [first, second]
    assert [d.sha256 for d in documents] == [hashlib.sha256(first).hexdigest(), hashlib.sha256(second).hexdigest()]
    assert [d.page_count for d in documents] == [1, 3]


def test_it_refuses_a_zip_renamed_pdf():
    error = refusal(upload("verbali.pdf", zip_bytes()))
    assert error.code == "not_a_pdf"
    assert str(error.message) == "verbali.pdf is not a PDF file."


def test_it_refuses_a_truncated_pdf():
    data = pdf_bytes()
    error = refusal(upload("troncato.pdf", data[: len(data) // 2]))
    assert error.code == "corrupt_pdf"
    assert str(error.message) == "troncato.pdf is damaged or is not a valid PDF file."


def test_it_refuses_a_pdf_header_followed_by_garbage():
    error = refusal(upload("finto.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 40))
    assert error.code == "corrupt_pdf"


@pytest.mark.parametrize("user_password", [b"", b"apriti"], ids=["owner-password-only", "user-password"])
def test_it_refuses_an_encrypted_pdf(user_password: bytes):
    error = refusal(upload("protetto.pdf", encrypted_pdf_bytes(user_password=user_password)))
    assert error.code == "encrypted_pdf"
    assert "protetto.pdf is password-protected" in str(error.message)


def test_it_refuses_an_empty_file():
    error = refusal(upload("vuoto.pdf", b""))
    assert (error.code, str(error.message)) == ("empty_file", "vuoto.pdf is empty.")


def test_it_refuses_an_empty_batch():
    assert refusal().code == "empty_batch"


def test_a_name_with_path_parts_and_control_characters_is_made_safe_in_the_message_and_the_result():
    hostile = "../../etc/\x00pass\u202ewd\r\n.pdf"
    error = refusal(upload(hostile, b"not a pdf"))
    assert str(error.message) == "passwd.pdf is not a PDF file."
    (document,) = pdf_intake(files=[(hostile, pdf_bytes())])
    assert document.name == "passwd.pdf"


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("C:\\Users\\prof\\verbale.pdf", "verbale.pdf"),
        ("../", "documento.pdf"),
        ("", "documento.pdf"),
        (None, "documento.pdf"),
        ("  .. verbale   finale.pdf ", "verbale finale.pdf"),
        ("Verbale d'esame – Analisi I.pdf", "Verbale d'esame – Analisi I.pdf"),
    ],
)
def test_safe_display_name(raw: str | None, safe: str):
    assert safe_display_name(raw) == safe


def test_a_long_name_is_capped_and_keeps_its_extension():
    name = safe_display_name("v" * 500 + ".pdf")
    assert len(name) <= DISPLAY_NAME_MAX_LENGTH
    assert name.endswith("….pdf")


@override_settings(SIGNING_MAX_FILE_BYTES=2048)
def test_it_refuses_a_file_over_the_size_limit_without_parsing_it():
    big = pdf_bytes() + b"%" + b"x" * 2048
    error = refusal(upload("grande.pdf", big))
    assert error.code == "file_too_large"
    assert str(error.message) == "grande.pdf is larger than 2.0\xa0KB, the largest file that can be signed."
    assert pdf_document_check(name="piccolo.pdf", data=pdf_bytes()).name == "piccolo.pdf"


@override_settings(SIGNING_MAX_BATCH_FILES=2)
def test_it_refuses_more_files_than_a_batch_may_hold():
    error = refusal(*(upload(f"v{i}.pdf", pdf_bytes()) for i in range(3)))
    assert error.code == "too_many_files"
    assert str(error.message) == "You chose 3 files: at most 2 files can be signed at once."


@override_settings(SIGNING_MAX_BATCH_BYTES=2000)
def test_it_refuses_a_batch_over_the_total_size_limit_before_parsing_anything():
    # The third file is not a PDF, but the total is over the limit first: the batch error wins.
    assert len(pdf_bytes()) * 2 + 600 > 2000
    error = refusal(upload("a.pdf", pdf_bytes()), upload("b.pdf", pdf_bytes()), upload("c.pdf", b"x" * 600))
    assert error.code == "batch_too_large"


def test_one_bad_file_refuses_the_whole_batch():
    error = refusal(upload("buono.pdf", pdf_bytes()), upload("cattivo.pdf", zip_bytes()))
    assert "cattivo.pdf" in str(error.message)
