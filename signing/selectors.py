"""Reads of signing data. Tenant data only through the acting user, filtered by their organization."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.models import UserKind
from signing.models import SignatureRecord


def signature_list_for_holder(*, user: Any) -> QuerySet[SignatureRecord]:
    """The holder's own signatures, newest first."""
    if not getattr(user, "is_authenticated", False) or getattr(user, "kind", None) != UserKind.HOLDER:
        return SignatureRecord.objects.none()
    if user.organization is None:
        return SignatureRecord.objects.none()
    return (
        SignatureRecord.objects.filter(organization=user.organization, holder__user=user)
        .select_related("certificate")  # the history shows the signer's name from it
        .order_by("-signed_at", "-pk")
    )
