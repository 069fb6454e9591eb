"""The holder's renewal wizard in the panel: Riepilogo dati → Consensi → Firma del modulo → Esito, then the
new certificate's activation. Every step is recorded on the request (never in the browser): a page
of a later step asked for too early sends the holder back to the step that is due."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from accounts.confirmation import user_password_reconfirm
from accounts.decorators import acting_user, holder_required
from accounts.selectors import holder_for_user
from accounts.services.people import holder_residence_update
from certificates.selectors import certificate_current_for_holder
from core.errors import ApplicationError
from core.http import file_disposition
from core.ratelimit import client_ip, consume_or_429
from otp.forms import SMS_CHOICE, code_device_choices
from otp.selectors import device_get_for_holder
from otp.stepup import stepup_consume, stepup_required
from otp.views.panel import signing_code_post
from renewal.forms import ActivateForm, ConsentsForm, RenewalSignForm, ResidenceForm
from renewal.models import RenewalRequest, RenewalState
from renewal.selectors import renewal_current_for_holder, renewal_eligibility, renewal_get_for_holder
from renewal.services import (
    DATA_FIELD_LABELS,
    DATA_FIELDS,
    data_changes,
    holder_data,
    renewal_activate,
    renewal_cancel,
    renewal_consents_accept,
    renewal_data_confirm,
    renewal_start,
    renewal_submit,
)

# Engine error codes that belong to one field of the signing form.
FIELD_OF_ERROR = {
    "invalid_pin": "pin", "locked_pin": "pin", "weak_pin": "pin",
    "invalid_otp": "code", "locked_otp": "code", "otp_replayed": "code",
}
DOCUMENTS = {"modulo": "form", "condizioni": "conditions", "modulo-firmato": "signed_form"}


def _render(request: HttpRequest, template: str, status: int = 200, **context: Any) -> HttpResponse:
    holder = holder_for_user(user=request.user)
    return render(request, template, {"holder": holder, "section": "renewal", **context}, status=status)


def _own(request: HttpRequest, request_id: int) -> RenewalRequest:
    try:
        return renewal_get_for_holder(user=request.user, request_id=request_id)
    except RenewalRequest.DoesNotExist as exc:
        raise Http404 from exc


def _due_step(renewal: RenewalRequest) -> str:
    """The page the holder should be on for this request."""
    if renewal.state == RenewalState.DRAFT:
        if renewal.data_confirmed_at is None:
            return "renewal:data"
        if renewal.consent_conditions_at is None:
            return "renewal:consents"
        return "renewal:sign"
    if renewal.state == RenewalState.ISSUED:
        return "renewal:activate"
    return "renewal:outcome"


def _elsewhere(request: HttpRequest, renewal: RenewalRequest, here: str) -> HttpResponse | None:
    """Redirect to the due step when ``here`` is not it (a step skipped, or one already done)."""
    due = _due_step(renewal)
    if due == here:
        return None
    if request.method == "POST":
        messages.warning(request, _("That step is not available now: continue from here."))
    return redirect(due, request_id=renewal.pk)


def _steps(current: int) -> list[dict[str, Any]]:
    names = [_("Data review"), _("Consents"), _("Form signature"), _("Outcome")]
    return [{"number": i, "name": name, "done": i < current, "current": i == current}
            for i, name in enumerate(names, start=1)]


def _rows(data: dict[str, str], changes: list[dict[str, str]] | None = None) -> list[dict[str, Any]]:
    changed = {change["field"] for change in changes or []}
    return [
        {"field": field, "label": DATA_FIELD_LABELS[field], "value": data.get(field, ""), "changed": field in changed}
        for field in DATA_FIELDS
    ]


# --------------------------------------------------------------------------------------------- start


@holder_required
@never_cache
@require_http_methods(["GET"])
def home_view(request: HttpRequest) -> HttpResponse:
    """"Rinnova firma digitale": the expiry date and the button, or why renewal is not possible."""
    current = renewal_current_for_holder(user=request.user)
    if current is not None and current.is_open:
        return redirect(_due_step(current), request_id=current.pk)
    certificate = certificate_current_for_holder(user=request.user)
    eligibility = renewal_eligibility(certificate=certificate)
    return _render(request, "renewal/home.html", certificate=certificate, eligibility=eligibility, last=current,
                   organization=holder_for_user(user=request.user).organization)


@holder_required
@require_POST
def start_view(request: HttpRequest) -> HttpResponse:
    holder = holder_for_user(user=request.user)
    certificate = certificate_current_for_holder(user=request.user)
    if certificate is None:
        messages.error(request, _("You have no certificate to renew."))
        return redirect("renewal:home")
    try:
        renewal = renewal_start(holder=holder, certificate=certificate, ip=client_ip(request))
    except ApplicationError as exc:
        messages.error(request, str(exc.message))
        return redirect("renewal:home")
    return redirect(_due_step(renewal), request_id=renewal.pk)


# ---------------------------------------------------------------------------------------- data review


@holder_required
@never_cache
@require_http_methods(["GET", "POST"])
def data_view(request: HttpRequest, request_id: int) -> HttpResponse:
    """Riepilogo dati: contacts may be changed (password + SMS code), role data only with a new certificate."""
    renewal = _own(request, request_id)
    if renewal.state != RenewalState.DRAFT:
        return redirect(_due_step(renewal), request_id=renewal.pk)
    current = holder_data(holder_for_user(user=request.user))
    error, status = "", 200
    if request.method == "POST":
        try:
            renewal_data_confirm(request=renewal, ip=client_ip(request))
        except ApplicationError as exc:
            error, status = str(exc.message), 400
        else:
            return redirect("renewal:consents", request_id=renewal.pk)

    return _render(
        request, "renewal/data.html", status=status, renewal=renewal, steps=_steps(1), error=error,
        rows=_rows(current, data_changes(renewal.data_on_record, current)), next_path=request.path,
    )


@sensitive_post_parameters("current_password")
@holder_required
@stepup_required("change_residence")
@require_http_methods(["GET", "POST"])
def residence_view(request: HttpRequest, request_id: int) -> HttpResponse:
    renewal = _own(request, request_id)
    if renewal.state != RenewalState.DRAFT:
        return redirect(_due_step(renewal), request_id=renewal.pk)
    holder = holder_for_user(user=request.user)
    initial = {f: getattr(holder, f) for f in ("residence_address", "residence_postal_code", "residence_city",
                                               "residence_province")}
    form = ResidenceForm(request.POST if request.method == "POST" else None, initial=initial)
    status = 200
    if request.method == "POST":
        limited = consume_or_429(request, "password_change_user", key=str(request.user.pk))
        if limited is not None:
            return limited
        if form.is_valid():
            if not user_password_reconfirm(user=acting_user(request), password=form.cleaned_data["current_password"],
                                           purpose="change_residence", ip=client_ip(request)):
                form.add_error("current_password", _("The password is not correct."))
            else:
                fields = {k: v for k, v in form.cleaned_data.items() if k != "current_password"}
                try:
                    holder_residence_update(holder=holder, actor=acting_user(request), ip=client_ip(request), **fields)
                except ApplicationError as exc:
                    form.add_error(exc.field if exc.field in form.fields else None, str(exc.message))
                else:
                    stepup_consume(request=request, operation="change_residence")
                    messages.success(request, _("Your residence address has been updated."))
                    return redirect("renewal:data", request_id=renewal.pk)
        status = 400
    return _render(request, "renewal/residence.html", status=status, renewal=renewal, form=form, steps=_steps(1))


# ------------------------------------------------------------------------------------------- consents


@holder_required
@never_cache
@require_http_methods(["GET", "POST"])
def consents_view(request: HttpRequest, request_id: int) -> HttpResponse:
    renewal = _own(request, request_id)
    if renewal.state == RenewalState.DRAFT and renewal.data_confirmed_at is not None:
        pass  # consents may be given again until the form is signed
    else:
        elsewhere = _elsewhere(request, renewal, "renewal:consents")
        if elsewhere is not None:
            return elsewhere
    form = ConsentsForm(request.POST if request.method == "POST" else None,
                        initial={"form_sha256": renewal.form_sha256})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                renewal_consents_accept(
                    request=renewal, form_sha256=form.cleaned_data["form_sha256"],
                    data_still_valid=form.cleaned_data["data_still_valid"],
                    conditions_accepted=form.cleaned_data["conditions_accepted"], ip=client_ip(request),
                )
            except ApplicationError as exc:
                form.add_error(None, str(exc.message))
            else:
                return redirect("renewal:sign", request_id=renewal.pk)
        status = 400
    return _render(request, "renewal/consents.html", status=status, renewal=renewal, form=form, steps=_steps(2),
                   certificate=renewal.old_certificate)


@holder_required
@require_http_methods(["GET"])
def document_view(request: HttpRequest, request_id: int, document: str) -> HttpResponse:
    renewal = _own(request, request_id)
    kind = DOCUMENTS.get(document)
    data = getattr(renewal, f"{kind}_pdf", None) if kind else None
    if not data:
        raise Http404
    response = HttpResponse(bytes(data), content_type="application/pdf")
    filename = f"{renewal.number}-{document}.pdf"
    inline = request.GET.get("inline") == "1"
    response["Content-Disposition"] = file_disposition(filename, as_attachment=not inline)
    response["Cache-Control"] = "no-store"
    return response


# --------------------------------------------------------------------------------------------- sign


@sensitive_variables("pin", "code")
@sensitive_post_parameters("pin", "code")
@holder_required
@never_cache
@require_http_methods(["GET", "POST"])
def sign_view(request: HttpRequest, request_id: int) -> HttpResponse:
    """Firma del modulo: PIN + OTP with the certificate being renewed; wrong entries count towards blocking it."""
    renewal = _own(request, request_id)
    elsewhere = _elsewhere(request, renewal, "renewal:sign")
    if elsewhere is not None:
        return elsewhere
    holder = holder_for_user(user=request.user)
    choices, sms_device = code_device_choices(holder)
    sending = request.method == "POST" and "send_sms" in request.POST
    form = RenewalSignForm(request.POST if request.method == "POST" and not sending else None, devices=choices,
                           initial={"device": SMS_CHOICE} if sending else None)
    status, sms_notice, sms_error = 200, "", ""
    if request.method == "POST":
        start = signing_code_post(request, holder, sms_device=sms_device, sending=sending)
        if start.response is not None:
            return start.response
        status, sms_notice, sms_error = start.status, start.sms_notice, start.sms_error
        if sending:
            pass  # "send me a code by SMS": its notice or error is shown, the form stays unbound
        elif form.is_valid():
            data = form.cleaned_data
            by_sms = data["device"] == SMS_CHOICE
            # The choice field lists only the holder's own devices: a foreign id never gets here.
            device = None if by_sms else device_get_for_holder(holder=holder, public_id=data["device"])
            try:
                renewal_submit(request=renewal, pin=data["pin"], otp_code=data["code"], otp_device=device, sms=by_sms,
                               ip=client_ip(request))
            except ApplicationError as exc:
                field = exc.field if exc.field in form.fields else FIELD_OF_ERROR.get(exc.code)
                form.add_error(field, str(exc.message))
                status = 400
            else:
                return redirect("renewal:outcome", request_id=renewal.pk)
        else:
            status = 400
    return _render(
        request, "renewal/sign.html", status=status, renewal=renewal, form=form, steps=_steps(3),
        has_devices=bool(choices), sms_usable=sms_device is not None, sms_notice=sms_notice, sms_error=sms_error,
        certificate=renewal.old_certificate,
    )


# ---------------------------------------------------------------------------------------- outcome


@holder_required
@never_cache
@require_http_methods(["GET"])
def outcome_view(request: HttpRequest, request_id: int) -> HttpResponse:
    renewal = _own(request, request_id)
    if renewal.state == RenewalState.DRAFT:
        return redirect(_due_step(renewal), request_id=renewal.pk)
    return _render(request, "renewal/outcome.html", renewal=renewal, steps=_steps(4),
                   organization=renewal.organization)


@holder_required
@require_POST
def cancel_view(request: HttpRequest, request_id: int) -> HttpResponse:
    renewal = _own(request, request_id)
    try:
        renewal_cancel(request=renewal, ip=client_ip(request))
    except ApplicationError as exc:
        messages.error(request, str(exc.message))
        return redirect(_due_step(renewal), request_id=renewal.pk)
    messages.success(request, _("The renewal request has been cancelled. Your current certificate is unchanged."))
    return redirect("renewal:home")


# --------------------------------------------------------------------------------------- activation


@sensitive_variables("pin")
@sensitive_post_parameters("new_pin", "new_pin_confirm", "current_pin")
@holder_required
@stepup_required("renewal_activate")
@never_cache
@require_http_methods(["GET", "POST"])
def activate_view(request: HttpRequest, request_id: int) -> HttpResponse:
    """Attiva il certificato: a new signing PIN, or the current one confirmed (after an OTP, the step-up)."""
    renewal = _own(request, request_id)
    if renewal.state != RenewalState.ISSUED:
        return redirect(_due_step(renewal), request_id=renewal.pk)
    form = ActivateForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        limited = consume_or_429(request, "otp_verify_user", key=str(request.user.pk))
        if limited is not None:
            return limited
        if form.is_valid():
            keep = form.cleaned_data["choice"] == ActivateForm.KEEP
            try:
                renewal_activate(
                    request=renewal,
                    new_pin=None if keep else form.cleaned_data["new_pin"],
                    current_pin=form.cleaned_data["current_pin"] if keep else None,
                    ip=client_ip(request),
                )
            except ApplicationError as exc:
                field = exc.field if exc.field in form.fields else None
                if field == "pin":
                    field = "current_pin" if keep else "new_pin"
                form.add_error(field, str(exc.message))
            else:
                stepup_consume(request=request, operation="renewal_activate")
                messages.success(request, _("Your new certificate is active. The previous one has been revoked as "
                                            "superseded; documents you signed with it remain valid."))
                return redirect("renewal:outcome", request_id=renewal.pk)
        status = 400
    return _render(request, "renewal/activate.html", status=status, renewal=renewal, form=form,
                   certificate=renewal.new_certificate)
