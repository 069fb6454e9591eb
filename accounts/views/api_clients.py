"""API clients in the operator console: the organization admin lists, creates and revokes them."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.confirmation import confirmation_consume, confirmation_required
from accounts.decorators import acting_user, organization_admin_required
from accounts.forms import ApiClientForm
from accounts.models import ApiScope
from accounts.selectors import (
    api_client_alerts_for_operator,
    api_client_get_for_operator,
    api_client_list_for_operator,
    operator_for_user,
)
from accounts.services.api_clients import api_client_create, api_client_revoke
from core.errors import ApplicationError
from core.ratelimit import client_ip


def _list_context(request: HttpRequest, form: ApiClientForm) -> dict[str, object]:
    operator = operator_for_user(user=request.user)
    return {
        "operator": operator,
        "organization": operator.organization,
        "clients": list(api_client_list_for_operator(user=request.user)),
        "api_client_alerts": api_client_alerts_for_operator(user=request.user),
        "form": form,
        "scope_labels": dict(ApiScope.choices),
        "section": "api_clients",
    }


@organization_admin_required
def api_clients_view(request: HttpRequest) -> HttpResponse:
    return render(request, "console/api_clients.html", _list_context(request, ApiClientForm()))


@organization_admin_required
@confirmation_required("api_client_create")
@require_POST
def api_client_create_view(request: HttpRequest) -> HttpResponse:
    form = ApiClientForm(request.POST)
    if form.is_valid():
        try:
            api_client, secret = api_client_create(
                actor=acting_user(request), name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"],
                redirect_uris=form.cleaned_data["redirect_uris"], ip=client_ip(request),
            )
        except ApplicationError as exc:
            form.add_error(exc.field if exc.field in ("name", "redirect_uris") else None, str(exc.message))
        else:
            # The secret exists in clear only in this response (never stored, never redirected
            # through a session); the page is not cached (PrivatePagesNotCachedMiddleware). The
            # answer is not a redirect, so the confirmation that allowed it is spent here.
            confirmation_consume(request=request, operation="api_client_create")
            operator = operator_for_user(user=request.user)
            return render(
                request,
                "console/api_client_created.html",
                {
                    "operator": operator,
                    "organization": operator.organization,
                    "api_client": api_client,
                    "client_secret": secret,
                    "scope_labels": dict(ApiScope.choices),
                    "token_url": request.build_absolute_uri(reverse("oauth2_token")),
                    "section": "api_clients",
                },
            )
    return render(request, "console/api_clients.html", _list_context(request, form), status=400)


@organization_admin_required
@confirmation_required("api_client_revoke")
@require_POST
def api_client_revoke_view(request: HttpRequest, api_client_id: int) -> HttpResponse:
    api_client = api_client_get_for_operator(user=request.user, api_client_id=api_client_id)
    try:
        api_client_revoke(actor=acting_user(request), api_client=api_client, ip=client_ip(request))
    except ApplicationError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("The API client was revoked: its tokens no longer work."))
    return redirect("console:api_clients")
