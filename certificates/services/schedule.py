"""The scheduled side of the lifecycle: what time alone changes. Run by Celery beat, idempotent:
each row is re-checked under its lock by the same service a person would call."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.utils import timezone

from accounts.models import Organization
from certificates.models import Certificate, CertificateState, RevocationReason
from certificates.services.lifecycle import certificate_expire, certificate_revoke
from core.errors import ApplicationError

logger = logging.getLogger(__name__)


def _each(ids: list[int], action: str, call: Callable[[Certificate], object]) -> int:
    done = 0
    for certificate in Certificate.objects.filter(pk__in=ids).order_by("pk"):
        try:
            call(certificate)
        except ApplicationError as exc:  # changed state meanwhile (reactivated, revoked…): nothing to do
            logger.info("%s skipped certificate %s: %s", action, certificate.pk, exc.code)
            continue
        done += 1
    return done


def certificates_expire_unactivated(*, now: datetime | None = None) -> int:
    """Issued certificates whose activation deadline passed become expired (key destroyed)."""
    now = now or timezone.now()
    ids = list(
        Certificate.objects.filter(state=CertificateState.ISSUED, activation_deadline__lte=now).values_list(
            "pk", flat=True
        )
    )
    return _each(ids, "expire_unactivated", lambda c: certificate_expire(certificate=c, now=now))


def certificates_expire_past_validity(*, now: datetime | None = None) -> int:
    """Certificates past their not_after become expired, whatever their non-final state."""
    now = now or timezone.now()
    ids = list(
        Certificate.objects.filter(
            state__in=[CertificateState.ISSUED, CertificateState.ACTIVE, CertificateState.SUSPENDED,
                       CertificateState.BLOCKED],
            not_after__lte=now,
        ).values_list("pk", flat=True)
    )
    return _each(ids, "expire_past_validity", lambda c: certificate_expire(certificate=c, now=now))


def certificates_auto_revoke_suspended(*, now: datetime | None = None) -> int:
    """Certificates suspended longer than their organization allows are revoked.

    The reason is cessationOfOperation: nobody asked for revocation, the holder stopped using it.
    """
    now = now or timezone.now()
    done = 0
    for organization in Organization.objects.all().only("pk", "suspended_auto_revoke_days"):
        cutoff = now - timedelta(days=organization.suspended_auto_revoke_days)
        ids = list(
            Certificate.objects.filter(
                organization=organization, state=CertificateState.SUSPENDED, suspended_at__lte=cutoff
            ).values_list("pk", flat=True)
        )

        def revoke(c: Certificate, cutoff: datetime = cutoff) -> object:
            return certificate_revoke(
                certificate=c, reason=RevocationReason.CESSATION_OF_OPERATION, suspended_before=cutoff
            )

        done += _each(ids, "auto_revoke_suspended", revoke)
    return done
