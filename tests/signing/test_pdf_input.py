"""The PDF intake refuses every hostile input with a message naming the file, and accepts a good batch."""

from __future__ import annotations

import hashlib
import time
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.utils import translation

from core.errors import ApplicationError
from signing.pdf_input import DISPLAY_NAME_MAX_LENGTH, pdf_document_check, pdf_intake, safe_display_name
from tests.signing.hostile_pdfs import (
    CORPUS,
    DEEP,
    Hostile,
    corpus_bytes,
    good,
    nested_arrays,
    nested_dictionaries,
    parts,
    pdf,
    pdf_with_object_stream,
    stream,
)
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


# --- Bounds: what a file may cost before anything parses it ---------------------------------------------


@pytest.mark.parametrize("hostile", CORPUS, ids=[entry.name for entry in CORPUS])
def test_every_hostile_pdf_is_answered_within_seconds_and_refused_with_its_name(hostile: Hostile):
    data = corpus_bytes(hostile.name)
    started = time.monotonic()
    if hostile.refused_with is None:
        (document,) = pdf_intake(files=[(f"{hostile.name}.pdf", data)])
        assert document.page_count == 1
    else:
        error = refusal(upload(f"{hostile.name}.pdf", data))
        assert error.code == hostile.refused_with
        assert str(error.message).startswith(f"{hostile.name}.pdf ")
    assert time.monotonic() - started < 5


def test_a_16_kb_pdf_whose_object_stream_inflates_to_16_mib_is_refused_before_it_is_parsed():
    data = corpus_bytes("object-stream-bomb")
    assert len(data) < 20_000
    error = refusal(upload("bomba.pdf", data))
    assert str(error.message) == "bomba.pdf contains a PDF object larger than 1.0\xa0MB: it cannot be accepted."


@override_settings(SIGNING_PDF_MAX_DECOMPRESSED_BYTES=1024 * 1024)
def test_the_decompressed_bytes_are_bounded_by_the_setting():
    two_mib = stream(b"/Filter /FlateDecode", zlib.compress(b"0 0 m\n" * 350_000))
    error = refusal(upload("grafico.pdf", pdf(parts(contents=two_mib))))
    assert error.code == "pdf_too_complex"
    assert str(error.message) == "grafico.pdf expands to more than 1.0\xa0MB once decompressed: it cannot be accepted."
    assert pdf_intake(files=[("piccolo.pdf", good())])


@override_settings(SIGNING_PDF_MAX_OBJECTS=1000)
def test_the_objects_are_bounded_by_the_setting():
    many = pdf(parts(catalog=b" /Extra [" + b"0 " * 1000 + b"]"))
    error = refusal(upload("tabella.pdf", many))
    assert str(error.message) == "tabella.pdf contains more than 1,000 PDF objects: it cannot be accepted."


@override_settings(SIGNING_PDF_MAX_DEPTH=8)
def test_the_depth_is_bounded_by_the_setting_in_the_file_and_in_its_object_streams():
    assert pdf_intake(files=[("sette.pdf", pdf(parts(catalog=b" /Extra " + nested_arrays(6))))])
    error = refusal(upload("nove.pdf", pdf(parts(catalog=b" /Extra " + nested_arrays(9)))))
    assert str(error.message) == "nove.pdf nests its contents more than 8 levels deep: it cannot be accepted."
    packed = parts(catalog=b" /Extra 6 0 R")
    in_stream = pdf_with_object_stream({4: packed.pop(4)}, {**packed, 6: nested_dictionaries(9)})
    assert refusal(upload("compresso.pdf", in_stream)).code == "pdf_too_complex"


@override_settings(SIGNING_PDF_MAX_OBJECT_BYTES=64 * 1024)
def test_the_size_of_one_object_is_bounded_by_the_setting():
    error = refusal(upload("titolo.pdf", pdf(parts(catalog=b" /Extra (" + b"x" * 70_000 + b")"))))
    assert str(error.message) == "titolo.pdf contains a PDF object larger than 64.0\xa0KB: it cannot be accepted."


@override_settings(SIGNING_PDF_MAX_SECONDS=0)
def test_the_time_is_bounded_by_the_setting():
    error = refusal(upload("lento.pdf", good()))
    assert str(error.message) == "lento.pdf could not be checked within 0 seconds: it is too complex to be accepted."


def test_a_refusal_is_explained_in_italian():
    with translation.override("it"):
        error = refusal(upload("bomba.pdf", corpus_bytes("object-stream-bomb")))
        assert str(error.message) == (
            "bomba.pdf contiene un oggetto PDF più grande di 1,0\xa0MB: non può essere accettato.")
        error = refusal(upload("script.pdf", corpus_bytes("javascript-open-action")))
        assert str(error.message).startswith("script.pdf contiene contenuti attivi")


def test_validation_reads_active_content_that_signing_refuses():
    data = corpus_bytes("javascript-open-action")
    assert refusal(upload("script.pdf", data)).code == "active_content"
    (document,) = pdf_intake(files=[("script.pdf", data)], allow_active_content=True)
    assert document.name == "script.pdf"


def test_object_streams_and_predicted_cross_reference_streams_are_read():
    packed = parts()
    data = pdf_with_object_stream({4: packed.pop(4)}, packed, predictor=True)
    assert pdf_intake(files=[("moderno.pdf", data)])[0].page_count == 1


def test_a_cross_reference_stream_that_points_into_stream_data_is_refused():
    hidden = b"6 0 obj\n<</Fields [] /DA " + nested_arrays(DEEP) + b">>\nendobj\n"
    packed = parts(catalog=b" /AcroForm 6 0 R")
    outside = {4: packed.pop(4), 7: stream(b"", hidden)}
    honest = pdf_with_object_stream(outside, {**packed, 6: b"<</Fields []>>"}, predictor=True)
    assert pdf_intake(files=[("onesto.pdf", honest)])
    hostile = pdf_with_object_stream(outside, {**packed}, predictor=True, point={6: honest.index(hidden)})
    assert refusal(upload("nascosto.pdf", hostile)).code == "corrupt_pdf"
