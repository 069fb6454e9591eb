"""PDF intake: what every uploaded document goes through before anything is signed or validated.

The panel, the batch API, CSC ``signDoc`` and the validation page and API all call
:func:`pdf_intake`; it reads nothing but the bytes it is given, writes nothing, and refuses — with an
:class:`ApplicationError` naming the file — whatever the signer should never see: empty files, files
over the limits, files that are not PDFs, PDFs that would cost a parser more than the bounds allow,
PDFs pyHanko cannot parse, encrypted PDFs (PAdES over an encrypted document needs its password, and
the holder would be signing content we cannot show them) and, for signing, PDFs with active content.

Two steps, both within ``SIGNING_PDF_MAX_SECONDS`` per file:

1. :func:`signing.pdf_scan.pdf_scan` reads the raw bytes, bounded (decompressed bytes, object bytes,
   objects, depth, time), before any parser is given them;
2. pyHanko, through :class:`BoundedPdfFileReader`, reads what the signer will read — the catalog,
   every node of the page tree, every form field, the document information and the XMP metadata —
   iteratively, each node once, no deeper than ``SIGNING_PDF_MAX_DEPTH``, the clock looked at before
   every object. A file that passes has shown that signing it is within the same bounds.

Active content (JavaScript, launch actions, XFA forms) is refused for signing: a qualified signature
must cover what the holder sees, and a script can change what a document shows after it is signed
(in Italy such a document loses the effect of a qualified signature: DPCM 22 February 2013, art. 4).
Validation reads such files (nothing in them runs here, and the report is about the signatures).

Limits (settings, read at call time): ``SIGNING_MAX_FILE_BYTES`` per file, ``SIGNING_MAX_BATCH_FILES``
and ``SIGNING_MAX_BATCH_BYTES`` per batch, ``SIGNING_PDF_MAX_*`` per file.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfReadError, PdfStreamError
from pyhanko.pdf_utils.reader import PdfFileReader

from core.errors import ApplicationError
from signing.pdf_scan import ScanLimits, ScanRefusal, pdf_scan

logger = logging.getLogger(__name__)

PDF_MAGIC = b"%PDF-"
# Long enough for any real document title, short enough for a table cell, a zip entry and a
# Content-Disposition header.
DISPLAY_NAME_MAX_LENGTH = 120
DEFAULT_DISPLAY_NAME = "documento.pdf"


class UploadedFileLike(Protocol):
    """What Django's ``UploadedFile`` offers and the intake uses."""

    name: str | None
    size: int | None

    def read(self, size: int = -1) -> bytes: ...

    def seek(self, offset: int, whence: int = 0) -> int: ...


@dataclass(frozen=True)
class PdfDocument:
    """A PDF that passed the intake: its bytes, a name safe to show and to put in a file name, its hash."""

    data: bytes
    name: str
    sha256: str  # hex, lowercase
    page_count: int


def safe_display_name(raw: str | None) -> str:
    """The last path component of ``raw``, without control or format characters, capped in length.

    Browsers send only the base name, but a client may send ``../../etc/passwd`` or ``C:\\x\\y.pdf``;
    format characters (U+202E RIGHT-TO-LEFT OVERRIDE…) would let ``gpj.pdf`` display as ``pdf.jpg``.
    """
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = " ".join(name.split()).strip(" .")
    if len(name) > DISPLAY_NAME_MAX_LENGTH:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 8:
            name = stem[: DISPLAY_NAME_MAX_LENGTH - len(extension) - 2].rstrip(" .") + "…." + extension
        else:
            name = name[: DISPLAY_NAME_MAX_LENGTH - 1].rstrip(" .") + "…"
    return name or DEFAULT_DISPLAY_NAME


def _limits() -> tuple[int, int, int]:
    return settings.SIGNING_MAX_FILE_BYTES, settings.SIGNING_MAX_BATCH_FILES, settings.SIGNING_MAX_BATCH_BYTES


def _read_capped(upload: UploadedFileLike | tuple[str, bytes], cap: int) -> tuple[str, bytes]:
    """The name and at most ``cap + 1`` bytes: enough to know a file is too large without reading it all."""
    if isinstance(upload, tuple):
        raw_name, data = upload
        return safe_display_name(raw_name), bytes(data[: cap + 1])
    name = safe_display_name(upload.name)
    if upload.size is not None and upload.size > cap:
        return name, b"\0" * (cap + 1)  # never read: the declared size is already too large
    upload.seek(0)
    return name, upload.read(cap + 1)


class ReadDeadline(Exception):  # noqa: N818  (a deadline reached is not an error of the file)
    """The time bound was reached while pyHanko was reading."""


class _Clock:
    """A deadline (``time.monotonic()``) shared by a reader and the byte streams it reads; None: off."""

    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline


class _ClockedBytes(io.BytesIO):
    """The bytes pyHanko parses, which look at the clock every few thousand reads: pyHanko reads a
    byte, a token, a line at a time, so the deadline holds inside the parsing of one object too."""

    def __init__(self, data: bytes, clock: _Clock) -> None:
        super().__init__(data)
        self._clock = clock
        self._reads = 0

    def read(self, size: int | None = -1) -> bytes:
        self._reads += 1
        if not self._reads & 0xFFF and self._clock.deadline is not None and time.monotonic() > self._clock.deadline:
            raise ReadDeadline
        return super().read(size)


class BoundedPdfFileReader(PdfFileReader):
    """pyHanko's reader (non-strict, as every reader here), with two changes:

    * an object stream's header is read once into an index, instead of from its start every time an
      object inside is looked up: pyHanko's way costs time in proportion to the object's place in the
      stream, quadratic over a document whose objects all sit in one stream — and that is how
      WeasyPrint writes them (a 370-page tagged PDF: 100,000 objects in one stream);
    * given a ``deadline`` (``time.monotonic()``), every read of the file's bytes and of an object
      stream's looks at the clock (every few thousand reads) and raises :class:`ReadDeadline` past it.
      :meth:`clock_stop` turns it off, for whoever reads on after the intake.
    """

    def __init__(self, data: bytes, *, deadline: float | None = None) -> None:
        self._object_stream_index: dict[int, dict[int, int]] = {}
        self._clock = _Clock(deadline)
        super().__init__(_ClockedBytes(data, self._clock) if deadline is not None else io.BytesIO(data), strict=False)

    def clock_stop(self) -> None:
        self._clock.deadline = None

    def _get_object_from_stream(self, idnum: int, stmnum: int, idx: int) -> Any:
        stream = generic.Reference(stmnum, 0, self).get_object()
        if not isinstance(stream, generic.StreamObject) or stream.get("/Type") != "/ObjStm":
            raise PdfReadError("an object stream reference does not lead to an object stream")
        index = self._object_stream_index.get(stmnum)
        if index is None:
            index = self._object_stream_index[stmnum] = _object_stream_header(stream)
        count, first = stream.get("/N"), stream.get("/First")
        offset = index.get(idnum)
        if not isinstance(count, int) or not isinstance(first, int) or not 0 <= idx < count or offset is None:
            return generic.NullObject()  # what pyHanko answers, not strict, for an object not there
        data = _ClockedBytes(stream.data, self._clock) if self._clock.deadline is not None else io.BytesIO(stream.data)
        data.seek(first + offset)
        try:
            obj = generic.read_object(data, generic.Reference(idnum, 0, self))
        except (PdfStreamError, PdfReadError) as exc:
            logger.warning("object %s in object stream %s cannot be read: %s", idnum, stmnum, exc)
            obj = generic.NullObject()
        return obj


def _object_stream_header(stream: generic.StreamObject) -> dict[int, int]:
    """Object number → offset, from the header pairs of an object stream, in order; the first pair of
    a number wins and the header ends at the first pair that is not two integers, as in pyHanko."""
    first, count = stream.get("/First"), stream.get("/N")
    if not isinstance(first, int) or not isinstance(count, int):
        return {}
    numbers = stream.data[:first].split()[: 2 * max(count, 0)]
    index: dict[int, int] = {}
    for number, offset in zip(numbers[0::2], numbers[1::2], strict=False):
        if not (number.isdigit() and offset.isdigit()):
            break
        index.setdefault(int(number), int(offset))
    return index


def pdf_reader(data: bytes, *, deadline: float | None = None) -> BoundedPdfFileReader:
    """A reader over ``data``, which must have passed :func:`pdf_open` (every reader here is made by
    this function, so every one is the bounded one)."""
    return BoundedPdfFileReader(data, deadline=deadline)


def _corrupt(name: str) -> ApplicationError:
    return ApplicationError(
        "corrupt_pdf", _("%(name)s is damaged or is not a valid PDF file.") % {"name": name}, field="documents"
    )


def _encrypted(name: str) -> ApplicationError:
    return ApplicationError(
        "encrypted_pdf",
        _("%(name)s is password-protected (encrypted): remove the protection and upload it again.") % {"name": name},
        field="documents",
    )


def _too_complex(name: str, reason: str, limit: float) -> ApplicationError:
    """The refusal of a file over one of the intake's bounds: which bound, and its value."""
    values = {"name": name}
    if reason == "decompressed":
        message = _("%(name)s expands to more than %(limit)s once decompressed: it cannot be accepted.")
        values["limit"] = filesizeformat(limit)
    elif reason == "object_bytes":
        message = _("%(name)s contains a PDF object larger than %(limit)s: it cannot be accepted.")
        values["limit"] = filesizeformat(limit)
    elif reason == "objects":
        message = _("%(name)s contains more than %(limit)s PDF objects: it cannot be accepted.")
        values["limit"] = number_format(int(limit), force_grouping=True)
    elif reason == "depth":
        message = _("%(name)s nests its contents more than %(limit)s levels deep: it cannot be accepted.")
        values["limit"] = str(int(limit))
    else:
        message = _("%(name)s could not be checked within %(limit)s seconds: it is too complex to be accepted.")
        values["limit"] = number_format(limit)
    return ApplicationError("pdf_too_complex", message % values, field="documents")


def _active_content(name: str) -> ApplicationError:
    return ApplicationError(
        "active_content",
        _("%(name)s contains active content (JavaScript, an action that starts a program, or an XFA form), "
          "which can change what the document shows after it is signed: it cannot be signed. Save it again "
          "without it (for example by printing it to PDF) and upload it again.") % {"name": name},
        field="documents",
    )


class _DepthExceeded(Exception):  # noqa: N818
    """A page tree or a form field tree deeper than ``SIGNING_PDF_MAX_DEPTH``."""


def _walk_page_tree(reader: PdfFileReader, depth_bound: int) -> int:
    """Every node of the page tree once, iteratively, no deeper than ``depth_bound``: the page count.

    pyHanko walks the tree by recursion, trusting every ``/Count`` to find a page: a tree that is
    deeper than the bound, contains itself, lists a page twice or miscounts is refused here."""
    root = reader.root.raw_get("/Pages")
    if not isinstance(root, generic.IndirectObject):
        raise ValueError("the page tree root is not an indirect object")
    seen: set[tuple[int, int]] = set()
    pages = 0
    stack: list[tuple[Any, int]] = [(root, 1)]  # (node, its depth); every /Count is checked at the end
    declared: dict[tuple[int, int], int] = {}
    children: dict[tuple[int, int], list[tuple[int, int]]] = {}
    order: list[tuple[int, int]] = []
    while stack:
        node_ref, depth = stack.pop()
        if not isinstance(node_ref, generic.IndirectObject):
            raise ValueError("a page tree node is not an indirect object")
        key = (node_ref.idnum, node_ref.generation)
        if key in seen:
            raise ValueError("a page tree node appears twice")
        if depth > depth_bound:
            raise _DepthExceeded
        seen.add(key)
        node = node_ref.get_object()
        kind = node.get("/Type")
        if kind == "/Pages":
            kids = node.raw_get("/Kids")
            kids = kids.get_object() if isinstance(kids, generic.IndirectObject) else kids
            count = node.get("/Count")
            if not isinstance(kids, list) or not isinstance(count, int):
                raise ValueError("a page tree node without /Kids or /Count")
            declared[key] = count
            children[key] = [(k.idnum, k.generation) for k in kids if isinstance(k, generic.IndirectObject)]
            order.append(key)
            stack.extend((kid, depth + 1) for kid in reversed(kids))
        elif kind == "/Page":
            declared[key] = 1
            pages += 1
        else:
            raise ValueError("a page tree node that is neither /Pages nor /Page")
    for key in reversed(order):  # children before parents
        if sum(declared[child] for child in children[key]) != declared[key]:
            raise ValueError("a page tree node's /Count is not the number of its pages")
    return pages


def _walk_form_fields(reader: PdfFileReader, depth_bound: int) -> None:
    """Every form field once, iteratively, no deeper than ``depth_bound`` (pyHanko enumerates them by
    recursion when it looks for signature fields)."""
    form = reader.root.get("/AcroForm")
    if not isinstance(form, generic.DictionaryObject):
        return
    fields = form.get("/Fields")
    if not isinstance(fields, list):
        return
    stack: list[tuple[Any, int]] = [(field, 1) for field in fields]
    seen: set[tuple[int, int]] = set()
    while stack:
        field_ref, depth = stack.pop()
        if depth > depth_bound:
            raise _DepthExceeded
        if isinstance(field_ref, generic.IndirectObject):
            key = (field_ref.idnum, field_ref.generation)
            if key in seen:
                continue  # pyHanko skips a field it has seen, too
            seen.add(key)
        field = field_ref.get_object()
        if not isinstance(field, generic.DictionaryObject):
            continue
        kids = field.get("/Kids")
        if isinstance(kids, list):
            stack.extend((kid, depth + 1) for kid in kids)


def _read_what_signing_reads(reader: PdfFileReader, depth_bound: int) -> int:
    """The page count, after reading what the signer reads: page tree, form fields, document
    information, XMP metadata (parsed as pyHanko will parse it to update it)."""
    pages = _walk_page_tree(reader, depth_bound)
    _walk_form_fields(reader, depth_bound)
    info = reader.trailer.raw_get("/Info") if "/Info" in reader.trailer else None
    if info is not None:
        info.get_object()
    if "/Metadata" in reader.root:
        metadata = reader.root["/Metadata"]
        xmp = getattr(metadata, "xmp", None)  # a MetadataStream parses its XML here
        if xmp is None and not isinstance(metadata, generic.StreamObject):
            raise ValueError("/Metadata is not a stream")
    return pages


def pdf_open(*, name: str, data: bytes, allow_active_content: bool = False) -> tuple[PdfFileReader, int]:
    """Scan ``data``, then read it as the signer will, within the time bound: the reader and the page
    count, or an :class:`ApplicationError` naming ``name`` (see the module's docstring)."""
    limits = ScanLimits.from_settings()
    deadline = time.monotonic() + limits.seconds
    if not data.startswith(PDF_MAGIC):
        raise ApplicationError("not_a_pdf", _("%(name)s is not a PDF file.") % {"name": name}, field="documents")
    try:
        report = pdf_scan(data, limits, deadline=deadline)
    except ScanRefusal as refusal:
        if refusal.reason == "corrupt":
            raise _corrupt(name) from refusal
        raise _too_complex(name, refusal.reason, refusal.limit) from refusal
    if report.encrypted:
        raise _encrypted(name)
    if report.active_content and not allow_active_content:
        raise _active_content(name)
    try:
        reader = pdf_reader(data, deadline=deadline)
        if reader.encrypted:
            raise _encrypted(name)
        count = _read_what_signing_reads(reader, limits.depth)
        if count < 1:
            raise _corrupt(name)
    except ApplicationError:
        raise
    except ReadDeadline as exc:
        raise _too_complex(name, "time", limits.seconds) from exc
    except _DepthExceeded as exc:
        raise _too_complex(name, "depth", limits.depth) from exc
    except Exception as exc:  # noqa: BLE001 — hostile input: any parser failure is "damaged", never a 500
        raise _corrupt(name) from exc
    reader.clock_stop()  # the intake's time ends here; whoever reads on is the caller
    return reader, count


def _check_size(*, name: str, data: bytes, max_file: int) -> None:
    if not data:
        raise ApplicationError("empty_file", _("%(name)s is empty.") % {"name": name}, field="documents")
    if len(data) > max_file:
        raise ApplicationError(
            "file_too_large",
            _("%(name)s is larger than %(limit)s, the largest file that can be signed.")
            % {"name": name, "limit": filesizeformat(max_file)},
            field="documents",
        )


def _check_content(*, name: str, data: bytes, allow_active_content: bool = False) -> PdfDocument:
    _reader, page_count = pdf_open(name=name, data=data, allow_active_content=allow_active_content)
    return PdfDocument(data=data, name=name, sha256=hashlib.sha256(data).hexdigest(), page_count=page_count)


def pdf_document_check(*, name: str, data: bytes, allow_active_content: bool = False) -> PdfDocument:
    """One file: not empty, within the size limit, a PDF header, within the bounds, parsable, not
    encrypted, and (unless ``allow_active_content``) without active content."""
    name = safe_display_name(name)
    _check_size(name=name, data=data, max_file=settings.SIGNING_MAX_FILE_BYTES)
    return _check_content(name=name, data=data, allow_active_content=allow_active_content)


# The kinds of damage the intake tells apart, which whoever reads a document after the intake (the
# signing services, validation) answers with one code, ``invalid_document`` (the message stays the intake's).
_UNREADABLE = frozenset({"empty_file", "not_a_pdf", "corrupt_pdf", "encrypted_pdf"})


def pdf_document_read(*, name: str, data: bytes, allow_active_content: bool = False) -> PdfFileReader:
    """The parsed document, or the intake's refusal naming ``name``: the content checks and bounds
    of :func:`pdf_document_check` (not the size limit: a document read here was taken in before, or
    is validated where it was uploaded). Not a PDF, damaged or encrypted: ``invalid_document``; over
    a bound or with active content: the intake's own code."""
    name = safe_display_name(name)
    try:
        if not isinstance(data, bytes | bytearray):
            raise ApplicationError("not_a_pdf", _("%(name)s is not a PDF file.") % {"name": name})
        if not data:  # the intake's words for an empty file
            raise ApplicationError("empty_file", _("%(name)s is empty.") % {"name": name})
        reader, _pages = pdf_open(name=name, data=bytes(data), allow_active_content=allow_active_content)
    except ApplicationError as exc:
        if exc.code in _UNREADABLE:
            raise ApplicationError("invalid_document", exc.message) from exc
        raise
    return reader


def pdf_intake(
    *, files: Sequence[UploadedFileLike | tuple[str, bytes]], allow_active_content: bool = False
) -> list[PdfDocument]:
    """Check a batch (one file is a batch of one) and return its documents in the order given.

    ``files`` are Django uploads or ``(name, bytes)`` pairs (the APIs decode base64 first). The first
    refusal stops the intake: nothing of the batch is signed unless all of it is acceptable.
    ``allow_active_content``: for validation, which reads what it is given and runs none of it.
    """
    max_file, max_files, max_batch = _limits()
    if not files:
        raise ApplicationError("empty_batch", _("Choose at least one PDF file."), field="documents")
    if len(files) > max_files:
        raise ApplicationError(
            "too_many_files",
            ngettext_lazy(
                "You chose %(count)d files: at most %(limit)d file can be signed at once.",
                "You chose %(count)d files: at most %(limit)d files can be signed at once.",
                "limit",
            )
            % {"count": len(files), "limit": max_files},
            field="documents",
        )
    # Sizes first, all of them: a batch that is too large is refused before any parsing work.
    read: list[tuple[str, bytes]] = []
    total = 0
    for upload in files:
        name, data = _read_capped(upload, max_file)
        _check_size(name=name, data=data, max_file=max_file)
        total += len(data)
        if total > max_batch:
            raise ApplicationError(
                "batch_too_large",
                _("The chosen files are larger than %(limit)s in all: sign them in smaller batches.")
                % {"limit": filesizeformat(max_batch)},
                field="documents",
            )
        read.append((name, data))
    return [_check_content(name=name, data=data, allow_active_content=allow_active_content) for name, data in read]


def pdf_has_signatures(data: bytes) -> bool:
    """Does a document that passed the intake already carry a signature (or a document timestamp)?
    A certification signature can only be the first one."""
    reader = pdf_reader(bytes(data))
    return bool(reader.embedded_signatures) or bool(reader.embedded_timestamp_signatures)
