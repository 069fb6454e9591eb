"""The operator console: each operator sees only their own organization."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.confirmation import confirmation_required
from accounts.decorators import operator_required, organization_admin_required
from accounts.forms import HolderSearchForm, OrganizationPoliciesForm
from accounts.models import PolicyBounds
from accounts.selectors import (
    api_client_alerts_for_operator,
    holder_get_for_operator,
    holder_list_for_operator,
    operator_for_user,
    policy_changes_for_operator,
)
from accounts.services.authentication import login_locked_until, login_throttle_reset
from accounts.services.policies import organization_policies_update
from certificates.forms import DeviceChoiceForm, SuspendForm
from certificates.selectors import (
    EXPIRING_DAYS,
    certificate_awaiting_activation_for_operator,
    certificate_expiring_for_operator,
    certificate_issue_allowed,
    certificate_list_for_operator,
)
from core.errors import ApplicationError
from core.ratelimit import client_ip
from notifications.selectors import message_list_failed_for_operator
from otp.models import DeviceKind, DeviceState
from otp.selectors import device_list_for_operator
from otp.views_console import TokenAssignForm
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
                "undelivered": message_list_failed_for_operator(user=request.user).count(),
            },
            "expiring_days": EXPIRING_DAYS,
            "section": "holders",
        },
    )


@operator_required
def holder_detail_view(request: HttpRequest, holder_id: int) -> HttpResponse:
    operator = operator_for_user(user=request.user)
    holder = holder_get_for_operator(user=request.user, holder_id=holder_id)
    devices = list(device_list_for_operator(user=request.user, holder_id=holder.pk))
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


@operator_required
@confirmation_required("login_unlock")
@require_POST
def holder_unlock_view(request: HttpRequest, holder_id: int) -> HttpResponse:
    holder = holder_get_for_operator(user=request.user, holder_id=holder_id)
    login_throttle_reset(actor=request.user, user=holder.user, ip=client_ip(request))
    messages.success(request, _("The account can log in again."))
    return redirect("console:holder_detail", holder_id=holder.pk)


def _organization_page(
    request: HttpRequest, form: OrganizationPoliciesForm | None, *, status: int = 200
) -> HttpResponse:
    operator = operator_for_user(user=request.user)
    return render(
        request,
        "console/organization.html",
        {
            "operator": operator,
            "organization": operator.organization,
            "form": form,
            "changes": policy_changes_for_operator(user=request.user),
            "section": "organization",
        },
        status=status,
    )


@operator_required
@require_http_methods(["GET", "HEAD", "POST"])
def organization_view(request: HttpRequest) -> HttpResponse:
    """Every member reads the policies; the organization's admins change them here (no id in the
    address: an admin only ever changes their own organization)."""
    if request.method == "POST":
        return organization_policies_update_view(request)
    operator = operator_for_user(user=request.user)
    form = (
        OrganizationPoliciesForm(organization=operator.organization, bounds=PolicyBounds.current())
        if operator.is_organization_admin
        else None
    )
    return _organization_page(request, form)


@organization_admin_required
@confirmation_required("policy_change")
def organization_policies_update_view(request: HttpRequest) -> HttpResponse:
    organization = operator_for_user(user=request.user).organization
    form = OrganizationPoliciesForm(request.POST, organization=organization, bounds=PolicyBounds.current())
    if form.is_valid():
        try:
            changed = organization_policies_update(
                actor=request.user, organization=organization, changes=form.changes, ip=client_ip(request)
            )
        except ApplicationError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc.message))
        else:
            if changed:
                messages.success(request, _("The organization's policies were saved."))
            else:
                messages.info(request, _("Nothing was changed: the policies are as they were."))
            return redirect("console:organization")
    return _organization_page(request, form, status=400)
