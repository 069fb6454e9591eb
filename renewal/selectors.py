"""Reads of renewal requests, and whether a certificate may be renewed now (and if not, why, in words).

Tenant data only through the acting user: a holder sees their own requests, an operator their
organization's; anything else raises ``DoesNotExist`` exactly like a missing request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Case, IntegerField, QuerySet, When
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts.models import UserKind
from certificates.models import Certificate, CertificateState
from renewal.models import OPEN_STATES, UNDER_WAY_STATES, RenewalRequest, RenewalState

DEFAULT_WINDOW_DAYS = 60


class Verdict:
    ALLOWED = "allowed"
    NOT_RENEWABLE = "not_renewable"
    NO_CERTIFICATE = "no_certificate"
    NOT_ACTIVE = "not_active"
    EXPIRED = "expired"
    TOO_EARLY = "too_early"
    UNDER_WAY = "under_way"


@dataclass(frozen=True)
class Eligibility:
    """Whether ``certificate`` can be renewed now; ``message`` says why not, for the holder."""

    verdict: str
    message: Any = ""
    opens_on: date | None = None
    expires_on: date | None = None
    open_request: RenewalRequest | None = None

    @property
    def allowed(self) -> bool:
        return self.verdict == Verdict.ALLOWED


_NOT_ACTIVE: dict[str, Promise] = {
    CertificateState.SUSPENDED: _(
        "Your certificate is suspended: reactivate it before renewing it."
    ),
    CertificateState.ISSUED: _("Your certificate has not been activated yet: activate it first."),
    CertificateState.REQUESTED: _("Your certificate has not been issued yet."),
}
_ENDED = _(
    "This certificate can no longer be renewed: a new certificate is needed. Ask your registration office for "
    "one; you will be identified again."
)


def renewal_window_opens(certificate: Certificate) -> date | None:
    """The first day (Europe/Rome) on which ``certificate`` may be renewed."""
    if certificate.not_after is None:
        return None
    days = certificate.organization.renewal_window_days or DEFAULT_WINDOW_DAYS
    return timezone.localdate(certificate.not_after) - timedelta(days=days)


def renewal_eligibility(*, certificate: Certificate | None, now: datetime | None = None) -> Eligibility:
    """Every rule that decides whether a renewal may start (or continue) now."""
    if certificate is None:
        return Eligibility(Verdict.NO_CERTIFICATE, _("You have no certificate to renew."))
    now = now or timezone.now()
    organization = certificate.organization
    expires_on = timezone.localdate(certificate.not_after) if certificate.not_after else None
    if not organization.renewable:
        return Eligibility(
            Verdict.NOT_RENEWABLE,
            _(
                "Certificates of your organization cannot be renewed. Before your certificate expires, ask your "
                "registration office for a new one: you will be identified again and a new certificate issued."
            ),
            expires_on=expires_on,
        )
    if certificate.state == CertificateState.EXPIRED or (
        certificate.not_after is not None and now >= certificate.not_after
    ):
        return Eligibility(
            Verdict.EXPIRED,
            _(
                "Your certificate has expired, and an expired certificate cannot be renewed: a new certificate is "
                "needed. Ask your registration office for one; you will be identified again."
            ),
            expires_on=expires_on,
        )
    if certificate.state in (CertificateState.REVOKED, CertificateState.BLOCKED):
        return Eligibility(Verdict.NOT_ACTIVE, _ENDED, expires_on=expires_on)
    if certificate.state != CertificateState.ACTIVE:
        return Eligibility(Verdict.NOT_ACTIVE, _NOT_ACTIVE.get(certificate.state, _ENDED), expires_on=expires_on)
    opens_on = renewal_window_opens(certificate)
    if opens_on is not None and timezone.localdate(now) < opens_on:
        return Eligibility(
            Verdict.TOO_EARLY,
            _("Renewal opens on %(date)s, %(days)s days before your certificate expires.")
            % {"date": opens_on.strftime("%d/%m/%Y"), "days": organization.renewal_window_days or DEFAULT_WINDOW_DAYS},
            opens_on=opens_on, expires_on=expires_on,
        )
    open_request = RenewalRequest.objects.filter(old_certificate=certificate, state__in=OPEN_STATES).first()
    if open_request is not None and open_request.state != RenewalState.DRAFT:
        return Eligibility(
            Verdict.UNDER_WAY, _("A renewal of this certificate is already under way."),
            opens_on=opens_on, expires_on=expires_on, open_request=open_request,
        )
    return Eligibility(Verdict.ALLOWED, opens_on=opens_on, expires_on=expires_on, open_request=open_request)


# --- Holder ------------------------------------------------------------------------------------------


def _holder_scope(user: Any) -> QuerySet[RenewalRequest]:
    if not getattr(user, "is_authenticated", False) or getattr(user, "kind", None) != UserKind.HOLDER:
        return RenewalRequest.objects.none()
    organization = user.organization
    if organization is None:
        return RenewalRequest.objects.none()
    return RenewalRequest.objects.filter(organization=organization, holder__user=user)


def renewal_list_for_holder(*, user: Any) -> QuerySet[RenewalRequest]:
    return _holder_scope(user).select_related("old_certificate", "new_certificate").order_by("-created_at", "-pk")


def renewal_get_for_holder(*, user: Any, request_id: int) -> RenewalRequest:
    return renewal_list_for_holder(user=user).get(pk=request_id)


def renewal_open_for_holder(*, user: Any) -> RenewalRequest | None:
    """The holder's latest open request, with only what its state and number need (no documents, no
    certificates): what the renewal box of the profile and certificate pages shows."""
    return (
        _holder_scope(user).filter(state__in=OPEN_STATES).only("pk", "state", "created_at")
        .order_by("-created_at", "-pk").first()
    )


def renewal_current_for_holder(*, user: Any) -> RenewalRequest | None:
    """The holder's open request, else the latest one (the page shows how it ended)."""
    open_first = Case(When(state__in=OPEN_STATES, then=0), default=1, output_field=IntegerField())
    return renewal_list_for_holder(user=user).alias(closed=open_first).order_by("closed", "-created_at", "-pk").first()


# --- Operator ----------------------------------------------------------------------------------------


def _operator_scope(user: Any) -> QuerySet[RenewalRequest]:
    if not getattr(user, "is_authenticated", False) or getattr(user, "kind", None) != UserKind.OPERATOR:
        return RenewalRequest.objects.none()
    organization = user.organization
    if organization is None:
        return RenewalRequest.objects.none()
    return RenewalRequest.objects.filter(organization=organization)


def renewal_queue_for_operator(*, user: Any) -> QuerySet[RenewalRequest]:
    """The organization's requests waiting for a decision, oldest first (index ``renewal_queue_idx``)."""
    return (
        _operator_scope(user)
        .filter(state=RenewalState.SUBMITTED)
        .select_related("holder", "old_certificate")
        .defer("form_pdf", "conditions_pdf", "signed_form_pdf", "old_certificate__der")
        .order_by("submitted_at", "id")
    )


def renewal_list_for_operator(*, user: Any) -> QuerySet[RenewalRequest]:
    return (
        _operator_scope(user)
        .select_related("holder", "old_certificate", "new_certificate", "decided_by")
        .defer("form_pdf", "conditions_pdf", "signed_form_pdf")
        .order_by("-created_at", "-pk")
    )


def renewal_get_for_operator(*, user: Any, request_id: int) -> RenewalRequest:
    return _operator_scope(user).select_related("holder", "old_certificate", "new_certificate").get(pk=request_id)


def renewal_decided_for_operator(*, user: Any) -> QuerySet[RenewalRequest]:
    """The organization's requests no longer waiting for a decision (decided, completed, cancelled,
    expired), the latest change first; drafts are the holders' own business until signed."""
    return (
        renewal_list_for_operator(user=user)
        .exclude(state__in=(RenewalState.DRAFT, RenewalState.SUBMITTED))
        .select_related("decided_by__operator")
        .order_by("-updated_at", "-pk")
    )


def renewal_under_way_by_certificate(*, user: Any, certificate_ids: list[int]) -> dict[int, RenewalRequest]:
    """The signed, open request of each of these certificates of the operator's organization, by certificate id."""
    requests = _operator_scope(user).filter(
        old_certificate_id__in=certificate_ids, state__in=UNDER_WAY_STATES
    ).defer("form_pdf", "conditions_pdf", "signed_form_pdf")
    return {request.old_certificate_id: request for request in requests}


def renewal_pending_count() -> int:
    """Renewal requests of the whole platform waiting for an operator's decision (for monitoring:
    a count, no request named; index ``renewal_queue_idx``)."""
    return RenewalRequest.objects.filter(state=RenewalState.SUBMITTED).count()
