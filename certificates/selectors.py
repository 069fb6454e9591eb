"""Reads of certificates. Tenant data only through the acting user, filtered by their organization."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from django.db.models import Case, Count, IntegerField, Q, QuerySet, When
from django.utils import timezone

from accounts.models import Holder, UserKind
from certificates.models import (
    LIVE_STATES,
    AuthorityRole,
    Certificate,
    CertificateAuthority,
    CertificateKey,
    CertificateState,
    Crl,
)


class AuthorityMissing(Exception):
    """The CA has not been initialised (``manage.py ca_init``)."""


def _holder_scope(user: Any) -> QuerySet[Certificate]:
    if not getattr(user, "is_authenticated", False) or getattr(user, "kind", None) != UserKind.HOLDER:
        return Certificate.objects.none()
    organization = user.organization
    if organization is None:
        return Certificate.objects.none()
    return Certificate.objects.filter(organization=organization, holder__user=user)


def certificate_list_for_holder(*, user: Any) -> QuerySet[Certificate]:
    """The holder's own certificates, newest first."""
    return _holder_scope(user).order_by("-requested_at", "-pk")


def certificate_get_for_holder(*, user: Any, certificate_id: int) -> Certificate:
    """One of the holder's certificates; someone else's raises ``DoesNotExist`` exactly like a missing one."""
    return _holder_scope(user).get(pk=certificate_id)


def certificate_current_for_holder(*, user: Any) -> Certificate | None:
    """The certificate the panel talks about: the newest one not yet in a final state, else the newest.

    During a renewal the holder has two: the one in use until the renewal is activated wins over the
    issued renewal (which the renewal page shows)."""
    scope = _holder_scope(user).exclude(state=CertificateState.REQUESTED)
    live = scope.filter(
        state__in=[
            CertificateState.ACTIVE, CertificateState.SUSPENDED, CertificateState.ISSUED, CertificateState.BLOCKED,
        ]
    )
    renewal_pending = Q(state=CertificateState.ISSUED, replaces__state__in=LIVE_STATES)
    ordered = live.annotate(pending=Case(When(renewal_pending, then=1), default=0, output_field=IntegerField()))
    certificate: Certificate | None = ordered.order_by("pending", "-issued_at", "-pk").first()
    if certificate is None:
        certificate = scope.order_by("-issued_at", "-pk").first()
    if certificate is not None:
        # The scope is the user's organization: the pages that read it (renewal eligibility) need not
        # query it again.
        certificate.organization = user.organization
    return certificate


def certificate_list_for_operator(*, user: Any) -> QuerySet[Certificate]:
    """Every certificate of the operator's organization."""
    if not getattr(user, "is_authenticated", False) or getattr(user, "kind", None) != UserKind.OPERATOR:
        return Certificate.objects.none()
    organization = user.organization
    if organization is None:
        return Certificate.objects.none()
    return Certificate.objects.filter(organization=organization).select_related("holder")


def certificate_get_for_operator(*, user: Any, certificate_id: int) -> Certificate:
    """A certificate of the operator's organization; a foreign one raises ``DoesNotExist`` like a missing one."""
    return certificate_list_for_operator(user=user).get(pk=certificate_id)


# The console home's horizon for "expiring soon".
EXPIRING_DAYS = 60


def certificate_expiring_for_operator(
    *, user: Any, days: int = EXPIRING_DAYS, now: datetime | None = None
) -> QuerySet[Certificate]:
    """The organization's certificates in use (active or suspended) that expire within ``days``, soonest first."""
    now = now or timezone.now()
    return (
        certificate_list_for_operator(user=user)
        .filter(
            state__in=(CertificateState.ACTIVE, CertificateState.SUSPENDED),
            not_after__gt=now,
            not_after__lte=now + timedelta(days=days),
        )
        .defer("der")
        .order_by("not_after", "pk")
    )


def certificate_awaiting_activation_for_operator(*, user: Any) -> QuerySet[Certificate]:
    """The organization's certificates issued but not activated yet, the nearest activation deadline first."""
    return (
        certificate_list_for_operator(user=user)
        .filter(state=CertificateState.ISSUED)
        .defer("der")
        .order_by("activation_deadline", "pk")
    )


# --- The CA's own objects (public by nature) -------------------------------------------------------


def authority_current(role: str) -> CertificateAuthority:
    authority = CertificateAuthority.objects.filter(role=role, is_current=True).first()
    if authority is None:
        raise AuthorityMissing(f"no current {role} authority: run manage.py ca_init")
    return authority


def authority_x509(authority: CertificateAuthority) -> x509.Certificate:
    return x509.load_der_x509_certificate(bytes(authority.der))


def crl_latest(*, role: str = AuthorityRole.ISSUING) -> Crl | None:
    return Crl.objects.filter(authority__role=role, authority__is_current=True).order_by("-number").first()


def certificates_counted_against_capacity(
    *, holder: Holder, states: tuple[str, ...], exclude: Certificate | None = None,
    renewing: Certificate | None = None,
) -> QuerySet[Certificate]:
    """The holder's certificates that count against the organization's "certificates per holder".

    A renewal and the certificate it renews count once: the old one is superseded when the new one is
    activated, so for a while the holder has both.
    """
    taken = Certificate.objects.filter(holder=holder, state__in=states)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
        if exclude.replaces_id is not None:
            taken = taken.exclude(pk=exclude.replaces_id)
    if renewing is not None:
        taken = taken.exclude(pk=renewing.pk)
    return taken


def certificate_issue_allowed(*, holder: Holder) -> bool:
    """Whether the organization's policy leaves room for one more certificate (what issuance checks)."""
    counted = certificates_counted_against_capacity(holder=holder, states=(CertificateState.REQUESTED, *LIVE_STATES))
    return counted.count() < holder.organization.max_active_certificates


def keys_awaiting_reseal_count() -> int:
    """Holder keys migrated into a device vault that wait for their holder's PIN to move in for good."""
    from certificates.vault import sealed_from_row, vault_get

    vault = vault_get()
    rows = CertificateKey.objects.filter(vault=vault.name, destroyed_at__isnull=True)
    return sum(1 for row in rows.iterator() if vault.needs_reseal_with_pin(sealed_from_row(row)))


# --- Platform-wide figures for monitoring (core/metrics.py): counts and dates, no certificate named --


def certificate_counts_by_state() -> dict[str, int]:
    """How many certificates of the whole platform are in each state (absent: none)."""
    rows = Certificate.objects.order_by().values_list("state").annotate(total=Count("pk"))
    return {str(state): int(total) for state, total in rows}


def certificate_expiring_count(*, within: timedelta, now: datetime | None = None) -> int:
    """Active certificates of the whole platform whose validity ends within ``within`` from now."""
    now = now or timezone.now()
    return Certificate.objects.filter(
        state=CertificateState.ACTIVE, not_after__gt=now, not_after__lte=now + within
    ).count()


def crl_next_update(*, role: str) -> datetime | None:
    """The nextUpdate of the latest CRL the current ``role`` authority published (None: none yet)."""
    value: datetime | None = (
        Crl.objects.filter(authority__role=role, authority__is_current=True)
        .order_by("-number")
        .values_list("next_update", flat=True)
        .first()
    )
    return value


def authority_not_after(*, role: str) -> datetime | None:
    """When the current ``role`` authority's certificate expires (None: no such authority)."""
    value: datetime | None = (
        CertificateAuthority.objects.filter(role=role, is_current=True).values_list("not_after", flat=True).first()
    )
    return value
