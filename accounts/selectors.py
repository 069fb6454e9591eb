"""Reads of tenant data. Every one takes the acting user and answers 404 for "missing" and "not yours" alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.models import ApiClient, Holder, Operator, Organization, User, UserKind
from accounts.policies import policy_changes_display
from audit.events import AuditEventType
from audit.models import AuditEvent

# What a view holds in request.user. The selectors taking it answer 404 to anyone whose data it is not,
# the anonymous visitor included.
RequestUser = User | AnonymousUser

# How long the console keeps showing an alert about an API client (the e-mail went out at once).
API_CLIENT_ALERT_HOURS = 24


def operator_for_user(*, user: RequestUser) -> Operator:
    if not user.is_authenticated or user.kind != UserKind.OPERATOR:
        raise Http404
    return get_object_or_404(Operator.objects.select_related("organization"), user=user)


def holder_for_user(*, user: RequestUser) -> Holder:
    if not user.is_authenticated or user.kind != UserKind.HOLDER:
        raise Http404
    holder = get_object_or_404(Holder.objects.select_related("organization"), user=user)
    # The request's own user object, its organization known: the page's other selectors scope by
    # ``user.organization``, which would otherwise read the holder and the organization again.
    holder.user = user
    user.__dict__.setdefault("organization", holder.organization)
    return holder


def holder_list_for_operator(*, user: RequestUser, search: str = "") -> QuerySet[Holder]:
    operator = operator_for_user(user=user)
    holders = Holder.objects.filter(organization=operator.organization).select_related("user")
    search = search.strip()[:100]
    if search:
        holders = holders.filter(
            Q(surname__icontains=search)
            | Q(given_name__icontains=search)
            | Q(codice_fiscale__iexact=search)
            | Q(user__username__iexact=search)
        )
    return holders.order_by("surname", "given_name", "pk")


def holder_get_for_operator(*, user: RequestUser, holder_id: int) -> Holder:
    operator = operator_for_user(user=user)
    return get_object_or_404(
        Holder.objects.select_related("user", "organization"), pk=holder_id, organization=operator.organization
    )


def organization_for_operator(*, user: User) -> Organization:
    return operator_for_user(user=user).organization


def api_client_list_for_operator(*, user: RequestUser) -> QuerySet[ApiClient]:
    """The API clients of the operator's organization (the console shows them to its admin only)."""
    operator = operator_for_user(user=user)
    return ApiClient.objects.filter(organization=operator.organization).select_related("application", "created_by")


def api_client_alerts_for_operator(*, user: RequestUser) -> list[AuditEvent]:
    """The last day's alerts of repeated failed token requests for the organization's API clients:
    to its admins only (the people who can revoke a client), newest first."""
    operator = operator_for_user(user=user)
    if not operator.is_organization_admin:
        return []
    since = timezone.now() - timedelta(hours=API_CLIENT_ALERT_HOURS)
    return list(
        AuditEvent.objects.filter(
            event_type=AuditEventType.API_CLIENT_TOKEN_FAILURES_ALERTED, organization_id=operator.organization_id,
            created_at__gte=since,
        ).order_by("-seq")[:5]
    )


def api_client_get_for_operator(*, user: RequestUser, api_client_id: int) -> ApiClient:
    return get_object_or_404(api_client_list_for_operator(user=user), pk=api_client_id)


def team_list_for_admin(*, user: RequestUser) -> list[TeamMember]:
    """The organization admin's own team (operators, admins, auditors) with what the list shows."""
    from accounts.services.staff import staff_has_enrolled

    organization = operator_for_user(user=user).organization
    members = Operator.objects.filter(organization=organization).select_related("user").order_by(
        "surname", "given_name", "pk"
    )
    return [TeamMember(operator=m, enrolled=staff_has_enrolled(m.user)) for m in members]


def team_member_get_for_admin(*, user: RequestUser, operator_id: int) -> Operator:
    """A member of the admin's organization; another organization's is the same 404 as a missing one."""
    organization = operator_for_user(user=user).organization
    return get_object_or_404(
        Operator.objects.select_related("user", "organization"), pk=operator_id, organization=organization
    )


@dataclass(frozen=True)
class TeamMember:
    operator: Operator
    enrolled: bool
def policy_changes_for_operator(*, user: RequestUser, limit: int = 20) -> list[dict[str, object]]:
    """The latest changes of the operator's organization's policies, newest first, from the audit trail:
    when, who (name and username) and each policy before and after."""
    operator = operator_for_user(user=user)
    events = list(
        AuditEvent.objects.filter(
            event_type=AuditEventType.ORGANIZATION_POLICIES_CHANGED, organization_id=operator.organization_id
        )
        .order_by("-seq")[:limit]
    )
    names: dict[int | None, str] = {
        person.user_id: person.full_name
        for person in Operator.objects.filter(user_id__in={event.actor_id for event in events if event.actor_id})
    }
    return [
        {
            "at": timezone.localtime(event.created_at),
            "actor_name": names.get(event.actor_id, ""),
            "actor_username": event.actor_username,
            "changes": policy_changes_display((event.details or {}).get("changes") or {}),
        }
        for event in events
    ]
