"""Console pages for certificates: register a holder and issue, issue again, resend the activation,
suspend, reactivate, revoke (with a confirmation step). Every object comes through a tenant selector:
another organization's holder or certificate answers 404 like a missing one.

Issuing (on its own or with a new holder), revoking and reactivating need a fresh second factor for
that action (:mod:`accounts.confirmation`); suspending does not: it only protects the holder."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.confirmation import confirmation_required
from accounts.decorators import acting_user, operator_required
from accounts.models import Holder
from accounts.selectors import holder_get_for_operator, operator_for_user
from certificates.forms import DeviceChoiceForm, HolderRegistrationForm, RevokeForm, SuspendForm
from certificates.models import Certificate
from certificates.selectors import certificate_get_for_operator
from certificates.services.issuance import activation_resend, certificate_issue_for_holder, holder_register_and_issue
from certificates.services.lifecycle import certificate_reactivate, certificate_revoke, certificate_suspend
from core.errors import ApplicationError
from core.ratelimit import client_ip

_IDENTITY_FIELDS = (
    "birth_date", "birth_place", "id_document_type", "id_document_number", "id_document_issuer",
    "id_document_expiry", "residence_address", "residence_postal_code", "residence_city", "residence_province",
    "role_organization", "role_title",
)


def _certificate_of(request: HttpRequest, holder_id: int, certificate_id: int) -> tuple[Holder, Certificate]:
    holder = holder_get_for_operator(user=request.user, holder_id=holder_id)
    try:
        certificate = certificate_get_for_operator(user=request.user, certificate_id=certificate_id)
    except Certificate.DoesNotExist as exc:
        raise Http404 from exc
    if certificate.holder_id != holder.pk:
        raise Http404
    return holder, certificate


def _form_error(form: HolderRegistrationForm | DeviceChoiceForm, exc: ApplicationError) -> None:
    field = {"email": "email", "mobile": "mobile", "serial": "token_serial"}.get(exc.field or "", exc.field)
    form.add_error(field if field in form.fields else None, str(exc.message))


@operator_required
@confirmation_required("certificate_issue")
@require_http_methods(["GET", "POST"])
def holder_new_view(request: HttpRequest) -> HttpResponse:
    """"Nuovo titolare / Emissione certificato": the request form filled in at the counter."""
    operator = operator_for_user(user=request.user)
    organization = operator.organization
    form = HolderRegistrationForm(request.POST if request.method == "POST" else None, organization=organization)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                certificate = holder_register_and_issue(
                    organization=organization,
                    actor=acting_user(request),
                    given_name=data["given_name"],
                    surname=data["surname"],
                    codice_fiscale=data["codice_fiscale"],
                    email=data["email"],
                    mobile=data["mobile"],
                    otp_choice=data["otp_choice"],
                    token_serial=data["token_serial"],
                    ip=client_ip(request),
                    **{name: data[name] for name in _IDENTITY_FIELDS},
                )
            except ApplicationError as exc:
                _form_error(form, exc)
            else:
                messages.success(
                    request,
                    _("Certificate issued. The activation e-mail and the SMS with the temporary password are on "
                      "their way to the holder."),
                )
                return redirect("console:holder_detail", holder_id=certificate.holder_id)
    return render(
        request, "console/holder_new.html",
        {"operator": operator, "organization": organization, "form": form, "section": "holder_new"},
        status=status,
    )


@operator_required
@confirmation_required("certificate_issue")
@require_POST
def certificate_issue_view(request: HttpRequest, holder_id: int) -> HttpResponse:
    """A new certificate for a registered holder (after revocation or expiry)."""
    holder = holder_get_for_operator(user=request.user, holder_id=holder_id)
    form = DeviceChoiceForm(request.POST, organization=holder.organization, prefix="issue")
    if form.is_valid():
        try:
            certificate_issue_for_holder(
                holder=holder, actor=acting_user(request), otp_choice=form.cleaned_data["otp_choice"],
                token_serial=form.cleaned_data["token_serial"], ip=client_ip(request),
            )
        except ApplicationError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(
                request,
                _("Certificate issued. The activation e-mail and the SMS with the temporary password are on "
                  "their way to the holder."),
            )
    else:
        messages.error(request, _("Choose the OTP device."))
    return redirect("console:holder_detail", holder_id=holder.pk)


@operator_required
@require_POST
def activation_resend_view(request: HttpRequest, holder_id: int, certificate_id: int) -> HttpResponse:
    holder, certificate = _certificate_of(request, holder_id, certificate_id)
    try:
        activation_resend(certificate=certificate, actor=acting_user(request), ip=client_ip(request))
    except ApplicationError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(
            request,
            _("Activation sent again: a new e-mail and a new temporary password by SMS. The earlier link and "
              "temporary password no longer work."),
        )
    return redirect("console:holder_detail", holder_id=holder.pk)


@operator_required
@require_POST
def certificate_suspend_view(request: HttpRequest, holder_id: int, certificate_id: int) -> HttpResponse:
    holder, certificate = _certificate_of(request, holder_id, certificate_id)
    form = SuspendForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        certificate_suspend(certificate=certificate, actor=request.user, note=note, ip=client_ip(request))
    except ApplicationError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("The certificate is suspended."))
    return redirect("console:holder_detail", holder_id=holder.pk)


@operator_required
@confirmation_required("certificate_reactivate")
@require_POST
def certificate_reactivate_view(request: HttpRequest, holder_id: int, certificate_id: int) -> HttpResponse:
    holder, certificate = _certificate_of(request, holder_id, certificate_id)
    try:
        certificate_reactivate(certificate=certificate, actor=request.user, ip=client_ip(request))
    except ApplicationError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("The certificate is active again."))
    return redirect("console:holder_detail", holder_id=holder.pk)


@operator_required
@confirmation_required("certificate_revoke")
@require_http_methods(["GET", "POST"])
def certificate_revoke_view(request: HttpRequest, holder_id: int, certificate_id: int) -> HttpResponse:
    """Revocation asks for a reason and an explicit confirmation: it is irreversible."""
    holder, certificate = _certificate_of(request, holder_id, certificate_id)
    operator = operator_for_user(user=request.user)
    form = RevokeForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                certificate_revoke(certificate=certificate, reason=form.cleaned_data["reason"], actor=request.user,
                                   ip=client_ip(request))
            except ApplicationError as exc:
                form.add_error("reason" if exc.field == "reason" else None, str(exc.message))
            else:
                messages.success(request, _("The certificate is revoked."))
                return redirect("console:holder_detail", holder_id=holder.pk)
    return render(
        request, "console/certificate_revoke.html",
        {"operator": operator, "organization": operator.organization, "holder": holder, "certificate": certificate,
         "form": form, "section": "holders"},
        status=status,
    )

