"""PDF intake: what every uploaded document goes through before anything is signed or validated.

The panel, the batch API and the validation page all call :func:`pdf_intake`; it reads nothing but
the bytes it is given, writes nothing, and refuses — with an :class:`ApplicationError` naming the
file — whatever the signer should never see: empty files, files over the limits, files that are not
PDFs, PDFs pyHanko cannot parse, encrypted PDFs (PAdES over an encrypted document needs its password,
and the holder would be signing content we cannot show them).

Limits (settings, read at call time): ``SIGNING_MAX_FILE_BYTES`` per file, ``SIGNING_MAX_BATCH_FILES``
and ``SIGNING_MAX_BATCH_BYTES`` per batch.
"""

from __future__ import annotations

import hashlib
import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from pyhanko.pdf_utils.reader import PdfFileReader

from accounts.errors import ApplicationError

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


def _page_count(data: bytes, name: str) -> int:
    corrupt = ApplicationError(
        "corrupt_pdf", _("%(name)s is damaged or is not a valid PDF file.") % {"name": name}, field="documents"
    )
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            raise ApplicationError(
                "encrypted_pdf",
                _("%(name)s is password-protected (encrypted): remove the protection and upload it again.")
                % {"name": name},
                field="documents",
            )
        count = int(reader.root["/Pages"]["/Count"])
        if count < 1:
            raise corrupt
        # Resolve the first and the last page: a broken page tree or xref table shows up here.
        for index in {0, count - 1}:
            reader.find_page_for_modification(index)[0].get_object()
    except ApplicationError:
        raise
    except Exception as exc:  # noqa: BLE001 — hostile input: any parser failure is "damaged", never a 500
        raise corrupt from exc
    return count


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


def _check_content(*, name: str, data: bytes) -> PdfDocument:
    if not data.startswith(PDF_MAGIC):
        raise ApplicationError("not_a_pdf", _("%(name)s is not a PDF file.") % {"name": name}, field="documents")
    page_count = _page_count(data, name)
    return PdfDocument(data=data, name=name, sha256=hashlib.sha256(data).hexdigest(), page_count=page_count)


def pdf_document_check(*, name: str, data: bytes) -> PdfDocument:
    """One file: not empty, within the size limit, a PDF header, parsable, not encrypted."""
    name = safe_display_name(name)
    _check_size(name=name, data=data, max_file=settings.SIGNING_MAX_FILE_BYTES)
    return _check_content(name=name, data=data)


def pdf_intake(*, files: Sequence[UploadedFileLike | tuple[str, bytes]]) -> list[PdfDocument]:
    """Check a batch (one file is a batch of one) and return its documents in the order given.

    ``files`` are Django uploads or ``(name, bytes)`` pairs (the APIs decode base64 first). The first
    refusal stops the intake: nothing of the batch is signed unless all of it is acceptable.
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
    return [_check_content(name=name, data=data) for name, data in read]
