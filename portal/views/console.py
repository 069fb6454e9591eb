"""The operator console's composite pages: the home (the holders and what needs attention) and a
holder's page (their account, devices and certificates)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.decorators import operator_required
from accounts.forms import HolderSearchForm
from accounts.selectors import (
    api_client_alerts_for_operator,
    holder_get_for_operator,
    holder_list_for_operator,
    operator_for_user,
)
from accounts.services.authentication import login_locked_until
from certificates.forms import DeviceChoiceForm, SuspendForm
from certificates.selectors import (
    EXPIRING_DAYS,
    certificate_awaiting_activation_for_operator,
    certificate_expiring_for_operator,
    certificate_issue_allowed,
    certificate_list_for_operator,
)
from notifications.selectors import message_list_failed_for_organization
from otp.forms import TokenAssignForm
from otp.models import DeviceKind, DeviceState
from otp.selectors import device_list_for_operator
from renewal.selectors import renewal_queue_for_operator


@operator_required
def home_view(request: HttpRequest) -> HttpResponse:
    operator = operator_for_user(user=request.user)
    search_form = HolderSearchForm(request.GET)
    search = search_form.cleaned_data["q"] if search_form.is_valid() else ""
    page = Paginator(holder_list_for_operator(user=request.user, search=search), 25).get_page(request.GET.get("page"))
    return render(
        request,
        "console/home.html",
        {
            "operator": operator,
            "organization": operator.organization,
            "page": page,
            "search": search,
            "search_errors": search_form.errors.get("q", []),
            "api_client_alerts": api_client_alerts_for_operator(user=request.user),
            # What needs attention, each count linking to the list behind it.
            "attention": {
                "renewals": renewal_queue_for_operator(user=request.user).count(),
                "expiring": certificate_expiring_for_operator(user=request.user).count(),
                "to_activate": certificate_awaiting_activation_for_operator(user=request.user).count(),
                "undelivered": message_list_failed_for_organization(organization=operator.organization).count(),
            },
            "expiring_days": EXPIRING_DAYS,
            "section": "holders",
        },
    )


@operator_required
def holder_detail_view(request: HttpRequest, holder_id: int) -> HttpResponse:
    operator = operator_for_user(user=request.user)
    holder = holder_get_for_operator(user=request.user, holder_id=holder_id)
    devices = list(device_list_for_operator(holder=holder))
    certificates = list(
        certificate_list_for_operator(user=request.user).filter(holder=holder).order_by("-requested_at", "-pk")
    )
    return render(
        request,
        "console/holder_detail.html",
        {
            "operator": operator,
            "organization": operator.organization,
            "holder": holder,
            "locked_until": login_locked_until(user=holder.user),
            "devices": devices,
            "sms_active": any(d.kind == DeviceKind.SMS and d.state == DeviceState.ACTIVE for d in devices),
            "sms_pending": any(d.kind == DeviceKind.SMS and d.state == DeviceState.PENDING for d in devices),
            "token_form": TokenAssignForm(),
            "certificates": certificates,
            "can_issue": certificate_issue_allowed(holder=holder),
            "issue_form": DeviceChoiceForm(organization=operator.organization, prefix="issue"),
            "suspend_form": SuspendForm(),
            "section": "holders",
        },
    )
