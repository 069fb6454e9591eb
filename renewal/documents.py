"""The renewal form (modulo di rinnovo) and the general contract conditions, as PDF (WeasyPrint).

Both are generated once per request, when the holder confirms the data, and stored with their
SHA-256: the holder reads and downloads exactly those bytes, and signs exactly the form's bytes
(the signature activation is bound to its hash). They are documents, not pages: one template per
language (Italian, or English for an English-speaking holder), no translation catalogue between
the legal text and the reader.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

DOCUMENT_LANGUAGES = ("it", "en")
# Raised when the conditions' text changes: the form names the version the holder accepted.
CONDITIONS_VERSION = "2026.1"


@dataclass(frozen=True)
class RenewalDocuments:
    form_pdf: bytes
    form_sha256: str
    conditions_pdf: bytes
    conditions_sha256: str
    language: str


def document_language(preferred: str) -> str:
    return preferred if preferred in DOCUMENT_LANGUAGES else "it"


def _pdf(template: str, context: dict[str, Any]) -> bytes:
    # WeasyPrint logs every layout step at INFO.
    logging.getLogger("weasyprint").setLevel(logging.WARNING)
    import weasyprint  # loaded on first use: Pango is needed only by the processes that render documents

    html = render_to_string(template, context)
    return weasyprint.HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()


def renewal_documents_render(
    *, number: str, holder_data: dict[str, Any], organization_name: str, certificate: Any, language: str,
    generated_at: datetime | None = None,
) -> RenewalDocuments:
    """Render the conditions, then the form that names them by version and SHA-256."""
    language = document_language(language)
    generated_at = timezone.localtime(generated_at or timezone.now())
    common = {
        "provider": settings.CA_ORGANIZATION_NAME,
        "organization_name": organization_name,
        "conditions_version": CONDITIONS_VERSION,
        "generated_at": generated_at,
    }
    conditions_pdf = _pdf(f"renewal/pdf/conditions_{language}.html", common)
    conditions_sha256 = hashlib.sha256(conditions_pdf).hexdigest()
    form_pdf = _pdf(
        f"renewal/pdf/form_{language}.html",
        {
            **common,
            "number": number,
            "holder": holder_data,
            "iut": certificate.iut,
            "serial_hex": f"{int(certificate.serial):X}" if certificate.serial else "",
            "expires_on": timezone.localtime(certificate.not_after) if certificate.not_after else None,
            "conditions_sha256": conditions_sha256,
        },
    )
    return RenewalDocuments(
        form_pdf=form_pdf, form_sha256=hashlib.sha256(form_pdf).hexdigest(),
        conditions_pdf=conditions_pdf, conditions_sha256=conditions_sha256, language=language,
    )
