"""The holder's certificate in the panel: status, downloads, PIN change, suspend,
reactivate, revoke — each sensitive action after a step-up OTP — and the same suspension or
revocation without login (the certificate must stop at once)."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts.decorators import holder_required
from accounts.selectors import holder_for_user
from certificates.forms import HolderRevokeForm, PinChangeForm, WithoutLoginForm
from certificates.models import Certificate, CertificateState
from certificates.selectors import certificate_current_for_holder, certificate_list_for_holder
from certificates.services import (
    certificate_pin_change,
    certificate_reactivate,
    certificate_revoke,
    certificate_suspend,
)
from certificates.services.holder_requests import certificate_change_without_login
from core.errors import ApplicationError
from core.ratelimit import client_ip, consume_or_429
from core.usernames import normalize_username
from otp.stepup import stepup_consume, stepup_required

DOWNLOADS = {"pem", "der", "catena"}


def _render(request: HttpRequest, template: str, status: int = 200, **context: object) -> HttpResponse:
    return render(
        request, template, {"holder": holder_for_user(user=request.user), "section": "certificate", **context},
        status=status,
    )


def _current(request: HttpRequest, *states: str) -> Certificate:
    """The holder's current certificate, which must be in one of ``states``; 404 otherwise."""
    certificate = certificate_current_for_holder(user=request.user)
    if certificate is None or (states and certificate.state not in states):
        raise Http404
    return certificate


@holder_required
def certificate_view(request: HttpRequest) -> HttpResponse:
    certificate = certificate_current_for_holder(user=request.user)
    history = list(certificate_list_for_holder(user=request.user).exclude(state=CertificateState.REQUESTED))
    return _render(request, "certificates/panel_certificate.html", certificate=certificate, history=history)


@never_cache  # said here, not left to the session middleware: a certificate file is never stored
@holder_required
def certificate_download_view(request: HttpRequest, kind: str) -> HttpResponse:
    """The certificate as PEM or DER, or its chain (issuing CA + root) as PEM — public data, the holder's own."""
    if kind not in DOWNLOADS:
        raise Http404
    certificate = _current(request)
    if not certificate.der:
        raise Http404
    name = f"certificato-{certificate.iut}"
    if kind == "der":
        response = HttpResponse(bytes(certificate.der), content_type="application/pkix-cert")
        filename = f"{name}.cer"
    else:
        ders = [bytes(certificate.der)]
        if kind == "catena":
            authority = certificate.issuer
            while authority is not None:
                ders.append(bytes(authority.der))
                authority = authority.issuer
        body = b"".join(x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM) for der in ders)
        response = HttpResponse(body, content_type="application/x-pem-file")
        filename = f"{name}-catena.pem" if kind == "catena" else f"{name}.pem"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@sensitive_post_parameters("current_pin", "new_pin", "new_pin_confirm")
@never_cache
@holder_required
@stepup_required("pin_change")
@require_http_methods(["GET", "POST"])
def pin_change_view(request: HttpRequest) -> HttpResponse:
    certificate = _current(request, CertificateState.ACTIVE)
    form = PinChangeForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                certificate_pin_change(
                    certificate=certificate, current_pin=form.cleaned_data["current_pin"],
                    new_pin=form.cleaned_data["new_pin"], actor=request.user, ip=client_ip(request),
                )
            except ApplicationError as exc:
                # weak_pin/same_pin are about the new PIN; invalid_pin/locked_pin about the current one.
                field = {"weak_pin": "new_pin", "same_pin": "new_pin", "invalid_pin": "current_pin"}.get(exc.code)
                form.add_error(field, str(exc.message))
            else:
                stepup_consume(request=request, operation="pin_change")
                messages.success(request, _("Your signing PIN has been changed. Use the new PIN from now on."))
                return redirect("panel:certificate")
    return _render(request, "certificates/pin_change.html", status, form=form, certificate=certificate)


def _transition(request: HttpRequest, operation: str, states: tuple[str, ...], template: str) -> HttpResponse:
    certificate = _current(request, *states)
    form = HolderRevokeForm(request.POST) if operation == "certificate_revoke" and request.method == "POST" else (
        HolderRevokeForm() if operation == "certificate_revoke" else None
    )
    if request.method == "POST":
        if form is not None and not form.is_valid():
            return _render(request, template, 400, certificate=certificate, form=form)
        try:
            if operation == "certificate_suspend":
                certificate_suspend(certificate=certificate, actor=request.user, note="panel", ip=client_ip(request))
                text = _("Your certificate is suspended: it cannot sign until it is reactivated.")
            elif operation == "certificate_reactivate":
                certificate_reactivate(certificate=certificate, actor=request.user, ip=client_ip(request))
                text = _("Your certificate is active again.")
            else:
                assert form is not None
                certificate_revoke(certificate=certificate, reason=form.cleaned_data["reason"], actor=request.user,
                                   ip=client_ip(request))
                text = _("Your certificate is revoked. To sign again you need a new certificate.")
        except ApplicationError as exc:
            messages.error(request, str(exc.message))
        else:
            stepup_consume(request=request, operation=operation)
            messages.success(request, text)
        return redirect("panel:certificate")
    return _render(request, template, certificate=certificate, form=form)


@never_cache
@holder_required
@stepup_required("certificate_suspend")
@require_http_methods(["GET", "POST"])
def suspend_view(request: HttpRequest) -> HttpResponse:
    return _transition(request, "certificate_suspend", (CertificateState.ACTIVE,), "certificates/suspend.html")


@never_cache
@holder_required
@stepup_required("certificate_reactivate")
@require_http_methods(["GET", "POST"])
def reactivate_view(request: HttpRequest) -> HttpResponse:
    return _transition(request, "certificate_reactivate", (CertificateState.SUSPENDED,), "certificates/reactivate.html")


@never_cache
@holder_required
@stepup_required("certificate_revoke")
@require_http_methods(["GET", "POST"])
def revoke_view(request: HttpRequest) -> HttpResponse:
    return _transition(
        request, "certificate_revoke", (CertificateState.ACTIVE, CertificateState.SUSPENDED),
        "certificates/revoke.html",
    )


@sensitive_post_parameters("user_code", "otp_code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def without_login_view(request: HttpRequest) -> HttpResponse:
    """Suspend (or revoke) with username + user code + OTP, without a session."""
    form = WithoutLoginForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        account = "certificate:" + normalize_username(request.POST.get("username", ""))
        limited = consume_or_429(request, "recovery_ip") or consume_or_429(request, "recovery_account", key=account)
        if limited is not None:
            return limited
        status = 400
        if form.is_valid():
            try:
                certificate = certificate_change_without_login(
                    username=form.cleaned_data["username"], user_code=form.cleaned_data["user_code"],
                    otp_code=form.cleaned_data["otp_code"], action=form.cleaned_data["action"],
                    reason=form.cleaned_data.get("reason") or "", ip=client_ip(request),
                )
            except ApplicationError as exc:
                form.add_error(None, str(exc.message))
            else:
                return render(request, "certificates/without_login_done.html", {"certificate": certificate})
    return render(request, "certificates/without_login.html", {"form": form}, status=status)
