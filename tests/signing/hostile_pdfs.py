"""Hostile PDFs, written byte by byte: the corpus every entry point of the signing engine is tried with.

Each one is small (the largest is a few hundred KB), deterministic and made here, so no binary fixture
goes stale. What each tries, and what the product does with it, is in :data:`CORPUS`; the reasons are
in ``signing/pdf_input.py``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from tests.signing.pdfs import encrypted_pdf_bytes

HEADER = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
MIB = 1024 * 1024
DEEP = 100_000  # far past any recursion limit: the depth that made signing raise RecursionError
BOMB = 144 * MIB  # past SIGNING_PDF_MAX_DECOMPRESSED_BYTES (128 MiB)


def stream(entries: bytes, data: bytes) -> bytes:
    """A stream object's body: ``<<entries /Length n>> stream … endstream``."""
    return b"<<" + entries + b" /Length %d>>\nstream\n" % len(data) + data + b"\nendstream"


def deflated(entries: bytes, data: bytes) -> bytes:
    return stream(entries + b" /Filter /FlateDecode", zlib.compress(data, 9))


@cache
def _deflated_blanks(size: int) -> bytes:
    """``size`` blanks, deflated a MiB at a time (never held whole): about a thousandth of ``size``."""
    compressor = zlib.compressobj(9)
    chunk = b" " * MIB
    parts = [compressor.compress(chunk) for _ in range(size // MIB)]
    return b"".join([*parts, compressor.flush()])


def _body(objects: dict[int, bytes]) -> tuple[bytes, dict[int, int]]:
    parts, offsets, at = [], {}, len(HEADER)
    for number in sorted(objects):
        part = b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
        offsets[number] = at
        parts.append(part)
        at += len(part)
    return b"".join(parts), offsets


def _xref_table(offsets: dict[int, int], size: int) -> bytes:
    rows = [b"0000000000 65535 f \n"]
    rows += [b"%010d 00000 n \n" % offsets[n] if n in offsets else b"0000000000 65535 f \n" for n in range(1, size)]
    return b"xref\n0 %d\n" % size + b"".join(rows)


def pdf(objects: dict[int, bytes], *, trailer: bytes = b"/Root 1 0 R") -> bytes:
    """A whole PDF with a classic cross-reference table."""
    body, offsets = _body(objects)
    size = max(objects) + 1
    start = len(HEADER) + len(body)
    return HEADER + body + _xref_table(offsets, size) + b"trailer\n<</Size %d %s>>\nstartxref\n%d\n%%%%EOF\n" % (
        size, trailer, start)


def pdf_with_object_stream(objects: dict[int, bytes], packed: dict[int, bytes], *, objstm: bytes | None = None,
                           trailer: bytes = b"/Root 1 0 R", predictor: bool = False,
                           point: dict[int, int] | None = None) -> bytes:
    """A PDF 1.5 whose ``packed`` objects sit in one object stream, found through a cross-reference stream.

    ``objstm`` replaces the object stream's decoded content (what a bomb puts there); ``predictor``
    encodes the cross-reference rows with the PNG "Up" predictor, as Acrobat and many others do;
    ``point`` gives objects another offset than their own (what a hostile file does)."""
    numbers = sorted(packed)
    header_parts, content_parts, at = [], [], 0
    for number in numbers:
        header_parts.append(b"%d %d " % (number, at))
        content_parts.append(packed[number] + b"\n")
        at += len(packed[number]) + 1
    header, content = b"".join(header_parts), b"".join(content_parts)
    objstm_number = max([*objects, *packed]) + 1
    decoded = objstm if objstm is not None else header + content
    all_objects = {**objects, objstm_number: deflated(
        b"/Type /ObjStm /N %d /First %d" % (len(numbers), len(header)), decoded)}
    body, offsets = _body(all_objects)
    xref_number = objstm_number + 1
    size = xref_number + 1
    offsets[xref_number] = len(HEADER) + len(body)
    offsets.update(point or {})
    index = {number: position for position, number in enumerate(numbers)}
    rows = []
    for number in range(size):
        if number in offsets:
            rows.append(b"\x01" + offsets[number].to_bytes(4, "big") + bytes(4))
        elif number in index:
            rows.append(b"\x02" + objstm_number.to_bytes(4, "big") + index[number].to_bytes(4, "big"))
        else:
            rows.append(bytes(5) + b"\x00\x00\xff\xff")
    parameters = b""
    if predictor:
        previous, encoded = bytes(9), []
        for row in rows:
            encoded.append(b"\x02" + bytes((a - b) & 0xFF for a, b in zip(row, previous, strict=True)))
            previous = row
        rows, parameters = encoded, b" /DecodeParms <</Predictor 12 /Columns 9>>"
    xref = deflated(b"/Type /XRef /Size %d /W [1 4 4]%s %s" % (size, parameters, trailer), b"".join(rows))
    return HEADER + body + b"%d 0 obj\n" % xref_number + xref + b"\nendobj\nstartxref\n%d\n%%%%EOF\n" % (
        offsets[xref_number])


def incremental_update(base: bytes, objects: dict[int, bytes], *, root: int = 1) -> bytes:
    """``base`` with one more revision that replaces (or adds) ``objects``; a classic xref section."""
    start = base.rindex(b"startxref")
    previous = int(base[start + len(b"startxref"):].split()[0])
    out = base if base.endswith(b"\n") else base + b"\n"
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    xref_at = len(out)
    size = max(max(objects) + 1, _size_of(base))
    sections = b"".join(b"%d 1\n%010d 00000 n \n" % (n, offsets[n]) for n in sorted(objects))
    return out + b"xref\n" + sections + b"trailer\n<</Size %d /Root %d 0 R /Prev %d>>\nstartxref\n%d\n%%%%EOF\n" % (
        size, root, previous, xref_at)


def _size_of(data: bytes) -> int:
    at = data.rfind(b"/Size")
    return int(data[at + 5:].split(b"/")[0].split(b">")[0].split()[0]) if at >= 0 else 1


# --- A good document, and the parts the hostile ones change ---------------------------------------------

PAGE_TEXT = b"BT /F1 18 Tf 72 760 Td (Verbale d'esame) Tj ET"
CATALOG = b"<</Type /Catalog /Pages 2 0 R%s>>"
PAGES = b"<</Type /Pages /Kids [3 0 R] /Count 1>>"
PAGE = b"<</Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources <</Font <</F1 5 0 R>>>>%s>>"
FONT = b"<</Type /Font /Subtype /Type1 /BaseFont /Helvetica>>"


def parts(*, catalog: bytes = b"", page: bytes = b"", contents: bytes | None = None) -> dict[int, bytes]:
    return {
        1: CATALOG % catalog, 2: PAGES, 3: PAGE % page,
        4: contents if contents is not None else stream(b"", PAGE_TEXT), 5: FONT,
    }


def good() -> bytes:
    return pdf(parts())


def nested_arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def nested_dictionaries(depth: int) -> bytes:
    return b"<</A " * depth + b"null" + b">>" * depth


# --- The corpus ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hostile:
    """A hostile file, and what the intake says about it: an error code, or ``None`` (signable)."""

    name: str
    make: Callable[[], bytes]
    refused_with: str | None
    why: str


def content_stream_bomb() -> bytes:
    # 144 MiB of page content in 140 KB.
    return pdf(parts(contents=stream(b"/Filter /FlateDecode", _deflated_blanks(BOMB))))


def object_stream_bomb() -> bytes:
    # The catalog sits in an object stream that inflates to 16 MiB, most of it blanks inside the
    # dictionary: pyHanko reads them one byte at a time.
    objects = parts()
    catalog = b"<</Type /Catalog" + b" " * (16 * MIB) + b"/Pages 2 0 R>>"
    packed = {1: objects.pop(1)}
    header = b"1 0 "
    return pdf_with_object_stream(objects, packed, objstm=header + catalog)


def metadata_bomb() -> bytes:
    # The XMP metadata stream, which pyHanko parses and rewrites on every signature, inflates to 144 MiB.
    objects = parts(catalog=b" /Metadata 6 0 R")
    objects[6] = stream(b"/Type /Metadata /Subtype /XML /Filter /FlateDecode", _deflated_blanks(BOMB))
    return pdf(objects)


def deep_metadata() -> bytes:
    # XMP nested 400 elements deep (XML parsers stop at 256).
    inner = b"<rdf:li>x</rdf:li>"
    for _ in range(100):
        inner = b"<rdf:li><rdf:Description><dc:x><rdf:Bag>" + inner + b"</rdf:Bag></dc:x></rdf:Description></rdf:li>"
    xmp = (b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#' "
           b"xmlns:dc='http://purl.org/dc/elements/1.1/'><rdf:Description rdf:about=''><dc:subject><rdf:Bag>"
           + inner + b"</rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>")
    objects = parts(catalog=b" /Metadata 6 0 R")
    objects[6] = deflated(b"/Type /Metadata /Subtype /XML", xmp)
    return pdf(objects)


def deep_arrays_in_acroform() -> bytes:
    objects = parts(catalog=b" /AcroForm 6 0 R")
    objects[6] = b"<</Fields [] /DA " + nested_arrays(DEEP) + b">>"
    return pdf(objects)


def deep_dictionaries_in_acroform() -> bytes:
    objects = parts(catalog=b" /AcroForm 6 0 R")
    objects[6] = b"<</Fields [] /DR " + nested_dictionaries(DEEP) + b">>"
    return pdf(objects)


def deep_arrays_in_info() -> bytes:
    objects = parts()
    objects[6] = b"<</Title (Verbale) /Keywords " + nested_arrays(DEEP) + b">>"
    return pdf(objects, trailer=b"/Root 1 0 R /Info 6 0 R")


def deep_dictionaries_in_info() -> bytes:
    objects = parts()
    objects[6] = b"<</Title (Verbale) /Custom " + nested_dictionaries(DEEP) + b">>"
    return pdf(objects, trailer=b"/Root 1 0 R /Info 6 0 R")


def deep_dictionaries_in_page() -> bytes:
    return pdf(parts(page=b" /PieceInfo " + nested_dictionaries(DEEP)))


def deep_page_tree() -> bytes:
    # Pages nodes nested by reference, 5,000 deep, the only page at the bottom.
    depth = 5000
    objects = {1: CATALOG % b"", 4: stream(b"", PAGE_TEXT), 5: FONT}
    first = 10
    for level in range(depth):
        number, child = first + level, first + level + 1
        parent = b" /Parent %d 0 R" % (number - 1) if level else b""
        objects[number] = b"<</Type /Pages /Kids [%d 0 R] /Count 1%s>>" % (child, parent)
    leaf = first + depth
    objects[leaf] = (PAGE % b"").replace(b"/Parent 2 0 R", b"/Parent %d 0 R" % (leaf - 1))
    objects[1] = b"<</Type /Catalog /Pages %d 0 R>>" % first
    return pdf(objects)


def page_tree_cycle() -> bytes:
    # The page tree's only kid is the tree itself.
    objects = parts()
    objects[2] = b"<</Type /Pages /Kids [2 0 R] /Count 1>>"
    return pdf(objects)


def huge_page_tree() -> bytes:
    # 150,000 pages in three branches, every one a reference to the same page: a long walk.
    objects = parts()
    objects[2] = b"<</Type /Pages /Kids [6 0 R 7 0 R 8 0 R] /Count 150000>>"
    for number in (6, 7, 8):
        objects[number] = b"<</Type /Pages /Parent 2 0 R /Kids [" + b"3 0 R " * 50_000 + b"] /Count 50000>>"
    return pdf(objects)


def flat_page_tree_too_large() -> bytes:
    # The same 300,000 references in one /Kids array: one object of 1.8 MB.
    objects = parts()
    objects[2] = b"<</Type /Pages /Kids [" + b"3 0 R " * 300_000 + b"] /Count 300000>>"
    return pdf(objects)


def lying_page_count() -> bytes:
    objects = parts()
    objects[2] = b"<</Type /Pages /Kids [3 0 R] /Count 2147483647>>"
    return pdf(objects)


def many_objects() -> bytes:
    # An object stream that declares 3,000,001 objects (past SIGNING_PDF_MAX_OBJECTS) in a small file.
    objects = parts()
    data = pdf_with_object_stream(objects, {number: b"0" for number in range(10, 1010)})
    return data.replace(b"/N 1000 ", b"/N 3000001 ")


def broken_xref() -> bytes:
    # Every offset of the cross-reference table points 7 bytes off, and startxref points nowhere.
    data = good()
    start = data.rindex(b"xref\n0 ")
    table = data[start:]
    shifted = b"\n".join(
        b"%010d%s" % (int(row[:10]) + 7, row[10:]) if row[:10].isdigit() and b" n" in row else row
        for row in table.split(b"\n")
    )
    return (data[:start] + shifted).replace(b"startxref\n%d" % start, b"startxref\n999999")


def javascript_open_action() -> bytes:
    return pdf(parts(catalog=b" /OpenAction <</S /JavaScript /JS (app.alert\\(1\\))>>"))


def javascript_name_tree() -> bytes:
    # The document's scripts, every name spelled with #-escapes, which a filter on plain names misses.
    scripts = b" /Names <</Java#53cript <</Names [(a) <</#53 /Java#53cript /J#53 (this.print\\(\\))>>]>>>>"
    return pdf(parts(catalog=scripts))


def launch_action_on_a_page() -> bytes:
    return pdf(parts(page=b" /AA <</O <</S /Launch /F (calc.exe)>>>>"))


def javascript_in_an_object_stream() -> bytes:
    objects = parts(catalog=b" /OpenAction 6 0 R")
    packed = {6: b"<</S /JavaScript /JS (app.alert\\(1\\))>>"}
    return pdf_with_object_stream(objects, packed)


def stream_length_chain() -> bytes:
    # Each stream's /Length is the next stream: resolving one means resolving the next, 3,000 times.
    objects = parts()
    for number in range(10, 3010):
        objects[number] = b"<</Length %d 0 R>>\nstream\nx\nendstream" % (number + 1)
    objects[3010] = b"1"
    objects[1] = CATALOG % b" /Extra 10 0 R"
    return pdf(objects)


def xref_into_stream_data() -> bytes:
    # The cross-reference table sends object 6 (the /AcroForm) into the middle of a stream's data,
    # where a scan that skips stream data sees nothing — and a parser reads 100,000 nested arrays.
    hidden = b"6 0 obj\n<</Fields [] /DA " + nested_arrays(DEEP) + b">>\nendobj\n"
    objects = parts(catalog=b" /AcroForm 6 0 R")
    objects[6] = stream(b"", hidden)
    data = pdf(objects)
    at = data.index(hidden)
    start = data.rindex(b"xref\n0 ")
    rows = data[start:].split(b"\n")
    rows[2 + 6] = b"%010d 00000 n " % at
    return data[:start] + b"\n".join(rows)


def object_stream_offset_into_a_string() -> bytes:
    # Object 6 sits inside the string of object 7 of the same object stream, 100,000 arrays deep.
    objects = parts(catalog=b" /AcroForm 6 0 R")
    deep = b"<</Fields [] /DA " + nested_arrays(DEEP) + b">>"
    content = b"(" + deep + b")\n"
    header = b"7 0 6 1 "
    data = pdf_with_object_stream(objects, {6: b"null", 7: b"null"}, objstm=header + content)
    return data.replace(b"/First 8 ", b"/First %d " % len(header), 1)


def whitespace_flood() -> bytes:
    # 8 MB of blanks inside the catalog, uncompressed: pyHanko reads them one byte at a time.
    return pdf(parts(catalog=b" " * (8 * MIB)))


def xref_prev_loop() -> bytes:
    # The last revision's /Prev points at itself.
    data = good()
    at = data.rindex(b"xref\n0 ")
    return data.replace(b"/Root 1 0 R>>", b"/Root 1 0 R /Prev %d>>" % at)


def many_revisions() -> bytes:
    # 3,000 incremental updates, each replacing the Info dictionary.
    data = pdf(parts(), trailer=b"/Root 1 0 R")
    for number in range(3000):
        data = incremental_update(data, {6: b"<</Title (v%d)>>" % number})
    return data


def hidden_by_an_update() -> bytes:
    # Revision 1 says one thing; revision 2 replaces the page's content with another text. A viewer
    # shows revision 2, and that is what a signature over the whole file covers.
    original = pdf(parts(contents=stream(b"", b"BT /F1 18 Tf 72 760 Td (Voto: 18) Tj ET")))
    return incremental_update(original, {4: stream(b"", b"BT /F1 18 Tf 72 760 Td (Voto: 30) Tj ET")})


def encrypted() -> bytes:
    return encrypted_pdf_bytes()


CORPUS: tuple[Hostile, ...] = (
    Hostile("content-stream-bomb", content_stream_bomb, "pdf_too_complex", "inflates to 144 MiB"),
    Hostile("object-stream-bomb", object_stream_bomb, "pdf_too_complex", "a 16 MiB object"),
    Hostile("metadata-bomb", metadata_bomb, "pdf_too_complex", "inflates to 144 MiB"),
    Hostile("deep-metadata", deep_metadata, "corrupt_pdf", "XMP 400 elements deep"),
    Hostile("deep-arrays-in-acroform", deep_arrays_in_acroform, "pdf_too_complex", "100,000 nested arrays"),
    Hostile("deep-dictionaries-in-acroform", deep_dictionaries_in_acroform, "pdf_too_complex", "nested dicts"),
    Hostile("deep-arrays-in-info", deep_arrays_in_info, "pdf_too_complex", "100,000 nested arrays"),
    Hostile("deep-dictionaries-in-info", deep_dictionaries_in_info, "pdf_too_complex", "nested dicts"),
    Hostile("deep-dictionaries-in-page", deep_dictionaries_in_page, "pdf_too_complex", "nested dicts"),
    Hostile("deep-page-tree", deep_page_tree, "pdf_too_complex", "5,000 levels of page tree"),
    Hostile("page-tree-cycle", page_tree_cycle, "corrupt_pdf", "a tree that contains itself"),
    Hostile("huge-page-tree", huge_page_tree, "corrupt_pdf", "one page listed 150,000 times"),
    Hostile("flat-page-tree-too-large", flat_page_tree_too_large, "pdf_too_complex", "a 1.8 MB /Kids"),
    Hostile("lying-page-count", lying_page_count, "corrupt_pdf", "/Count says 2^31 - 1"),
    Hostile("many-objects", many_objects, "pdf_too_complex", "3,000,001 objects declared"),
    Hostile("broken-xref", broken_xref, "corrupt_pdf", "offsets that lead nowhere"),
    Hostile("encrypted", encrypted, "encrypted_pdf", "content we cannot show"),
    Hostile("javascript-open-action", javascript_open_action, "active_content", "JavaScript"),
    Hostile("javascript-name-tree", javascript_name_tree, "active_content", "JavaScript"),
    Hostile("launch-action", launch_action_on_a_page, "active_content", "launches a program"),
    Hostile("javascript-in-object-stream", javascript_in_an_object_stream, "active_content", "JavaScript"),
    Hostile("stream-length-chain", stream_length_chain, "corrupt_pdf", "/Length of a stream is a stream"),
    Hostile("xref-into-stream-data", xref_into_stream_data, "corrupt_pdf", "an object hidden in a stream"),
    Hostile("object-stream-offset-into-a-string", object_stream_offset_into_a_string, "corrupt_pdf",
            "an object hidden in a string"),
    Hostile("whitespace-flood", whitespace_flood, "pdf_too_complex", "8 MB of blanks in one object"),
    Hostile("xref-prev-loop", xref_prev_loop, "corrupt_pdf", "a /Prev chain that loops"),
    Hostile("many-revisions", many_revisions, None, "3,000 revisions, each read once"),
    Hostile("hidden-by-an-update", hidden_by_an_update, None, "the signature covers what a viewer shows"),
)


@cache
def corpus_bytes(name: str) -> bytes:
    """The bytes of the corpus entry ``name``, made once per test session."""
    return next(entry for entry in CORPUS if entry.name == name).make()
