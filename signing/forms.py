"""Shape checks of the panel's signing and validation pages; every file goes through the PDF intake here,
so a refused file never reaches the PIN and OTP checks (a code is not spent on a batch that cannot be signed)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.forms import input_attrs
from certificates.forms import pin_field
from core.errors import ApplicationError
from otp.forms import code_field
from signing.pdf_input import PdfDocument, pdf_intake

PADES_LEVELS = [
    ("B-B", _("PAdES B-B: the signature only")),
    ("B-T", _("PAdES B-T: signature with a timestamp (recommended)")),
    ("B-LT", _("PAdES B-LT: timestamp and revocation data, verifiable in the long term")),
    ("B-LTA", _("PAdES B-LTA: as B-LT, with an archive timestamp")),
]
DEFAULT_PADES_LEVEL = "B-T"

# The visible signature's box when the holder does not draw one: (x1, y1, x2, y2) in PDF points from
# the lower-left corner of the page: the lower right of an A4 page (595 x 842 pt) inside 56 pt margins,
# where the sample exam records (signing/exam_records.py) leave the professor's signature space empty.
DEFAULT_SIGNATURE_BOX = (309, 60, 539, 130)

APPEARANCE_INVISIBLE = "invisible"
APPEARANCE_VISIBLE = "visible"
PDF_ACCEPT = "application/pdf,.pdf"


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.Field):
    """The files of a ``multiple`` file input, as a list; the PDF intake does every check on them.

    Django's ``FileField`` is not used: its own "empty file" and "no file name" messages would answer
    before the intake's, which name the file.
    """

    widget = MultipleFileInput

    def to_python(self, data: Any) -> list[Any]:
        if not data:
            return []
        files = data if isinstance(data, list | tuple) else [data]
        return [upload for upload in files if upload is not None]


class SingleFileField(forms.Field):
    widget = forms.FileInput


def _intake(files: list[Any], *, allow_active_content: bool = False) -> list[PdfDocument]:
    try:
        return pdf_intake(files=files, allow_active_content=allow_active_content)
    except ApplicationError as exc:
        raise ValidationError(str(exc.message), code=exc.code) from exc


def limits_text() -> str:
    count = settings.SIGNING_MAX_BATCH_FILES
    return ngettext(
        "PDF only. Up to %(count)d file, %(file)s each, %(batch)s in all.",
        "PDF only. Up to %(count)d files, %(file)s each, %(batch)s in all.",
        count,
    ) % {
        "count": count,
        "file": filesizeformat(settings.SIGNING_MAX_FILE_BYTES),
        "batch": filesizeformat(settings.SIGNING_MAX_BATCH_BYTES),
    }


class SigningForm(forms.Form):
    documents = MultipleFileField(
        label=_("PDF documents"),
        error_messages={"required": _("Choose at least one PDF file.")},
        widget=MultipleFileInput(attrs=input_attrs(accept=PDF_ACCEPT)),
    )
    level = forms.ChoiceField(
        label=_("Signature level"), choices=PADES_LEVELS, initial=DEFAULT_PADES_LEVEL, widget=forms.RadioSelect,
    )
    appearance = forms.ChoiceField(
        label=_("Appearance"),
        choices=[
            (APPEARANCE_INVISIBLE, _("Invisible: the signature is in the file, nothing is drawn on the page")),
            (APPEARANCE_VISIBLE, _("Visible: a box with your name and the signing time")),
        ],
        initial=APPEARANCE_INVISIBLE,
        widget=forms.RadioSelect,
    )
    page = forms.IntegerField(
        label=_("Page of the visible signature"), min_value=1, max_value=100_000, initial=1, required=False,
        help_text=_("The box is drawn at the bottom right of this page."),
        widget=forms.NumberInput(attrs=input_attrs(inputmode="numeric")),
    )
    reason = forms.CharField(
        label=_("Reason (optional)"), max_length=200, required=False,
        help_text=_("For example: approval of the exam record."),
        widget=forms.TextInput(attrs=input_attrs()),
    )
    location = forms.CharField(
        label=_("Location (optional)"), max_length=200, required=False,
        widget=forms.TextInput(attrs=input_attrs()),
    )
    pin = pin_field(_("Signing PIN"))
    device = forms.ChoiceField(label=_("OTP device"), widget=forms.Select(attrs={"class": "form-select"}))
    code = code_field(_("One-time code"))

    def __init__(self, *args: Any, devices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        device = self.fields["device"]
        assert isinstance(device, forms.ChoiceField)  # declared above
        device.choices = devices
        self.fields["documents"].help_text = limits_text()

    def clean_documents(self) -> list[PdfDocument]:
        return _intake(self.cleaned_data["documents"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        documents: list[PdfDocument] = cleaned.get("documents") or []
        if cleaned.get("appearance") == APPEARANCE_VISIBLE:
            page = cleaned.get("page")
            if page is None:
                if "page" not in self.errors:
                    self.add_error("page", _("Enter the page on which the signature box is drawn."))
            else:
                short = [document for document in documents if document.page_count < page]
                if short:
                    self.add_error("page", ngettext(
                        "%(name)s has only %(count)d page.", "%(name)s has only %(count)d pages.", short[0].page_count,
                    ) % {"name": short[0].name, "count": short[0].page_count})
        return cleaned

    def visible(self) -> dict[str, Any] | None:
        """The engine's ``visible`` argument: ``None``, or the 1-based page and the box in PDF points."""
        if self.cleaned_data.get("appearance") != APPEARANCE_VISIBLE:
            return None
        return {"page": self.cleaned_data["page"], "box": DEFAULT_SIGNATURE_BOX}


class ValidationForm(forms.Form):
    document = SingleFileField(
        label=_("Signed PDF document"),
        error_messages={"required": _("Choose the signed PDF file to verify.")},
        widget=forms.FileInput(attrs=input_attrs(accept=PDF_ACCEPT)),
    )

    def clean_document(self) -> PdfDocument:
        # Validation runs nothing it reads: a document with active content gets its report.
        return _intake([self.cleaned_data["document"]], allow_active_content=True)[0]
