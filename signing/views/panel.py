"""The panel's "Firma" pages: sign PDFs with PIN + OTP, the signature history,
and the verification of a signed PDF. The work is the signing engine's (``signing.services``)."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts.decorators import holder_required
from accounts.selectors import holder_for_user
from certificates.models import CertificateState
from certificates.selectors import certificate_current_for_holder
from core.errors import ApplicationError
from core.http import file_disposition
from core.ratelimit import client_ip, consume_or_429
from otp.forms import SMS_CHOICE, code_device_choices
from otp.selectors import device_get_for_holder
from otp.views.panel import signing_code_post
from signing.forms import SigningForm, ValidationForm
from signing.models import Channel
from signing.pades import SignatureAppearance
from signing.pdf_input import PdfDocument
from signing.selectors import signature_list_for_holder
from signing.services import pdf_validate, signature_authorize, signature_sign_documents

SIGNED_SUFFIX = "-firmato"
ZIP_NAME = "documenti-firmati.zip"
# Engine error codes that belong to one field of the form; any other refusal is shown above the form.
FIELD_OF_ERROR = {
    "invalid_pin": "pin", "locked_pin": "pin",
    "invalid_otp": "code", "locked_otp": "code", "otp_replayed": "code",
}


# --------------------------------------------------------------------------------------------- sign


def signed_name(name: str) -> str:
    stem = name[:-4] if name.lower().endswith(".pdf") else name
    return f"{stem}{SIGNED_SUFFIX}.pdf"


def unique_names(names: list[str]) -> list[str]:
    """``a.pdf``, ``a (2).pdf``…: two uploads with one name must not overwrite each other in the zip."""
    used: set[str] = set()
    result = []
    for name in names:
        stem, extension = (name[:-4], name[-4:]) if name.lower().endswith(".pdf") else (name, "")
        candidate, number = name, 1
        while candidate.lower() in used:
            number += 1
            candidate = f"{stem} ({number}){extension}"
        used.add(candidate.lower())
        result.append(candidate)
    return result


def _download(documents: list[PdfDocument], signed: list[bytes]) -> HttpResponse:
    pairs = list(zip(documents, signed, strict=True))  # the engine returns one signed PDF per document
    if len(pairs) == 1:
        document, data = pairs[0]
        response = HttpResponse(data, content_type="application/pdf")
        filename = signed_name(document.name)
    else:
        buffer = io.BytesIO()
        names = unique_names([signed_name(document.name) for document, _data in pairs])
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, (_document, data) in zip(names, pairs, strict=True):
                archive.writestr(name, data)
        response = HttpResponse(buffer.getvalue(), content_type="application/zip")
        filename = ZIP_NAME
    response["Content-Disposition"] = file_disposition(filename)
    response["Cache-Control"] = "no-store"
    return response


@sensitive_post_parameters("pin", "code")
@holder_required
@require_http_methods(["GET", "POST"])
def signing_view(request: HttpRequest) -> HttpResponse:
    holder = holder_for_user(user=request.user)
    context: dict[str, Any] = {"holder": holder, "section": "signing"}
    certificate = certificate_current_for_holder(user=request.user)
    if certificate is None or certificate.state != CertificateState.ACTIVE:
        return render(
            request, "signing/sign.html", {**context, "certificate": certificate, "certificate_usable": False},
            status=400 if request.method == "POST" else 200,
        )
    choices, sms_device = code_device_choices(holder)
    sending = request.method == "POST" and "send_sms" in request.POST
    form = SigningForm(
        request.POST if request.method == "POST" and not sending else None,
        request.FILES if request.method == "POST" and not sending else None,
        devices=choices, initial={"device": SMS_CHOICE} if sending else None,
    )
    status = 200
    sms_notice = sms_error = ""
    if request.method == "POST":
        start = signing_code_post(request, holder, sms_device=sms_device, sending=sending)
        if start.response is not None:
            return start.response
        status, sms_notice, sms_error = start.status, start.sms_notice, start.sms_error
        if sending:
            pass  # "send me a code by SMS": its notice or error is shown, the form stays unbound
        elif form.is_valid():
            data = form.cleaned_data
            documents: list[PdfDocument] = data["documents"]
            by_sms = data["device"] == SMS_CHOICE
            device = None if by_sms else device_get_for_holder(holder=holder, public_id=data["device"])
            visible = form.visible()
            appearance = (
                SignatureAppearance(page=visible["page"] - 1, box=tuple(visible["box"])) if visible else None
            )
            try:
                _activation, sad_token = signature_authorize(
                    holder=holder, certificate=certificate, pin=data["pin"], otp_device=device, sms=by_sms,
                    otp_code=data["code"], num_signatures=len(documents), channel=Channel.PANEL,
                    ip=client_ip(request),
                )
                signed = signature_sign_documents(
                    sad_token=sad_token, documents=[d.data for d in documents], names=[d.name for d in documents],
                    level=data["level"], appearance=appearance, reason=data["reason"], location=data["location"],
                    certificate=certificate, ip=client_ip(request),
                )
            except ApplicationError as exc:
                field = exc.field if exc.field in form.fields else FIELD_OF_ERROR.get(exc.code)
                form.add_error(field, str(exc.message))
                status = 400
            else:
                return _download(documents, signed)
        else:
            status = 400
    return render(
        request, "signing/sign.html",
        {
            **context, "certificate": certificate, "certificate_usable": True, "form": form,
            "has_devices": bool(choices), "sms_usable": sms_device is not None,
            "sms_notice": sms_notice, "sms_error": sms_error,
        },
        status=status,
    )


# ------------------------------------------------------------------------------------------ history


@dataclass(frozen=True)
class HistoryRow:
    document_name: str
    document_sha256: str
    signed_at: datetime | None
    level: str
    channel: str
    # The person who signed, from the certificate signed with: its common name, and its subject's
    # serialNumber (the fiscal code, "TINIT-…") as the secondary detail.
    signer: str = ""
    signer_serial_number: str = ""


def history_row(record: Any) -> HistoryRow:
    """One ``SignatureRecord`` as the page shows it (the model belongs to the signing engine)."""
    channel_display = getattr(record, "get_channel_display", None)
    certificate = getattr(record, "certificate", None)
    signer = ""
    if certificate is not None:
        signer = certificate.subject_common_name or " ".join(
            part for part in (certificate.subject_given_name, certificate.subject_surname) if part
        )
    return HistoryRow(
        document_name=record.document_name,
        document_sha256=record.document_sha256,
        signed_at=record.signed_at,
        level=record.level,
        channel=channel_display() if callable(channel_display) else record.channel,
        signer=signer,
        signer_serial_number=certificate.subject_serial_number if certificate is not None else "",
    )


@holder_required
@require_http_methods(["GET"])
def history_view(request: HttpRequest) -> HttpResponse:
    holder = holder_for_user(user=request.user)
    context: dict[str, Any] = {"holder": holder, "section": "signing_history"}
    page = Paginator(signature_list_for_holder(user=request.user), 25).get_page(request.GET.get("page"))
    rows = [history_row(record) for record in page.object_list]
    return render(request, "signing/history.html", {**context, "page": page, "rows": rows})


# --------------------------------------------------------------------------------------- validation


@holder_required
@require_http_methods(["GET", "POST"])
def validation_view(request: HttpRequest) -> HttpResponse:
    holder = holder_for_user(user=request.user)
    context: dict[str, Any] = {"holder": holder, "section": "signing_validation"}
    form = ValidationForm(*((request.POST, request.FILES) if request.method == "POST" else ()))
    status, report, document = 200, None, None
    if request.method == "POST":
        limited = consume_or_429(request, "signature_validation_user", key=str(request.user.pk))
        if limited is not None:
            return limited
        if form.is_valid():
            document = form.cleaned_data["document"]
            try:
                report = pdf_validate(data=document.data, name=document.name)
            except ApplicationError as exc:
                form.add_error("document", str(exc.message))
                status = 400
        else:
            status = 400
    return render(
        request, "signing/validation.html",
        {**context, "form": form, "report": report, "document": document},
        status=status,
    )
