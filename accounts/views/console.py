"""The operator console's own account pages: unlocking a holder's login, the organization's policies.
Each operator sees only their own organization."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.confirmation import confirmation_required
from accounts.decorators import acting_user, operator_required, organization_admin_required
from accounts.forms import OrganizationPoliciesForm
from accounts.models import PolicyBounds
from accounts.selectors import holder_get_for_operator, operator_for_user, policy_changes_for_operator
from accounts.services.authentication import login_throttle_reset
from accounts.services.policies import organization_policies_update
from core.errors import ApplicationError
from core.ratelimit import client_ip


@operator_required
@confirmation_required("login_unlock")
@require_POST
def holder_unlock_view(request: HttpRequest, holder_id: int) -> HttpResponse:
    holder = holder_get_for_operator(user=request.user, holder_id=holder_id)
    login_throttle_reset(actor=acting_user(request), user=holder.user, ip=client_ip(request))
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
                actor=acting_user(request), organization=organization, changes=form.changes, ip=client_ip(request)
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
