"""Reads of tenant data. Every one takes the acting user and answers 404 for "missing" and "not yours" alike."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.models import ApiClient, Holder, Operator, Organization, User, UserKind


def operator_for_user(*, user: User) -> Operator:
    if not user.is_authenticated or user.kind != UserKind.OPERATOR:
        raise Http404
    return get_object_or_404(Operator.objects.select_related("organization"), user=user)


def holder_for_user(*, user: User) -> Holder:
    if not user.is_authenticated or user.kind != UserKind.HOLDER:
        raise Http404
    return get_object_or_404(Holder.objects.select_related("organization", "user"), user=user)


def holder_list_for_operator(*, user: User, search: str = "") -> QuerySet[Holder]:
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


def holder_get_for_operator(*, user: User, holder_id: int) -> Holder:
    operator = operator_for_user(user=user)
    return get_object_or_404(
        Holder.objects.select_related("user", "organization"), pk=holder_id, organization=operator.organization
    )


def organization_for_operator(*, user: User) -> Organization:
    return operator_for_user(user=user).organization


def api_client_list_for_operator(*, user: User) -> QuerySet[ApiClient]:
    """The API clients of the operator's organization (the console shows them to its admin only)."""
    operator = operator_for_user(user=user)
    return ApiClient.objects.filter(organization=operator.organization).select_related("application", "created_by")


def api_client_get_for_operator(*, user: User, api_client_id: int) -> ApiClient:
    return get_object_or_404(api_client_list_for_operator(user=user), pk=api_client_id)
