"""The organization's team, managed by its administrators: invite, roles, deactivate, reset factors."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.confirmation import confirmation_required
from accounts.decorators import acting_user, organization_admin_required
from accounts.forms import InviteForm, RoleForm
from accounts.selectors import operator_for_user, team_list_for_admin, team_member_get_for_admin
from accounts.services.staff import (
    invitation_resend,
    operator_deactivate,
    operator_invite,
    operator_reactivate,
    operator_role_change,
    staff_factor_reset,
)
from core.errors import ApplicationError
from core.ratelimit import client_ip


def _context(request: HttpRequest, **extra: object) -> dict:
    operator = operator_for_user(user=request.user)
    return {"operator": operator, "organization": operator.organization, "section": "team", **extra}


@organization_admin_required
@require_http_methods(["GET"])
def team_view(request: HttpRequest) -> HttpResponse:
    return render(request, "console/team.html", _context(request, members=team_list_for_admin(user=request.user)))


@organization_admin_required
@require_http_methods(["GET", "POST"])
@confirmation_required("operator_manage")
def team_invite_view(request: HttpRequest) -> HttpResponse:
    form = InviteForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            admin = operator_for_user(user=request.user)
            try:
                invited, _link = operator_invite(
                    actor=acting_user(request), organization=admin.organization, ip=client_ip(request),
                    **form.cleaned_data,
                )
            except ApplicationError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, str(exc.message))
            else:
                messages.success(
                    request, _("Invitation sent to %(email)s. The link is valid for a limited time and works once.")
                    % {"email": invited.email},
                )
                return redirect("console:team")
        status = 400
    return render(request, "console/team_invite.html", _context(request, form=form), status=status)


@organization_admin_required
@require_http_methods(["GET"])
def team_member_view(request: HttpRequest, operator_id: int) -> HttpResponse:
    member = team_member_get_for_admin(user=request.user, operator_id=operator_id)
    return render(
        request, "console/team_member.html",
        _context(request, member=member, role_form=RoleForm(initial={"role": member.role})),
    )


def _member_action(request: HttpRequest, operator_id: int, action: str) -> HttpResponse:
    member = team_member_get_for_admin(user=request.user, operator_id=operator_id)
    ip = client_ip(request)
    actor = acting_user(request)
    try:
        if action == "role":
            form = RoleForm(request.POST)
            if not form.is_valid():
                raise ApplicationError("invalid_role", _("Choose one of the roles."), field="role")
            operator_role_change(actor=actor, operator=member, role=form.cleaned_data["role"], ip=ip)
            done = _("The role was changed.")
        elif action == "deactivate":
            operator_deactivate(actor=actor, operator=member, ip=ip)
            done = _("The account was deactivated: it can no longer sign in.")
        elif action == "reactivate":
            operator_reactivate(actor=actor, operator=member, ip=ip)
            done = _("The account was reactivated.")
        elif action == "reset":
            if member.user_id == request.user.pk:
                raise ApplicationError(
                    "own_account", _("You cannot do this to your own account: ask another administrator.")
                )
            staff_factor_reset(actor=actor, user=member.user, ip=ip)
            done = _("The second factors were removed and a link to register a new one was e-mailed.")
        else:  # resend
            invitation_resend(actor=actor, operator=member, ip=ip)
            done = _("A new invitation was sent; the earlier link no longer works.")
    except ApplicationError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, done)
    return redirect("console:team_member", operator_id=member.pk)


@organization_admin_required
@require_POST
@confirmation_required("operator_manage")
def team_member_action_view(request: HttpRequest, operator_id: int, action: str) -> HttpResponse:
    if action not in ("role", "deactivate", "reactivate", "reset", "resend"):
        return redirect("console:team_member", operator_id=operator_id)
    return _member_action(request, operator_id, action)
