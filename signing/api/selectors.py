"""Reads of tenant data for API clients: everything through the client, confined to its organization.

A holder or credential of another organization is answered exactly like one that does not exist.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import ApiClient, Holder
from certificates.models import Certificate, CertificateState
from core.errors import ApplicationError
from core.usernames import USERNAME_MAX_LENGTH, normalize_username
from otp.models import DeviceKind, DeviceState, OtpDevice
from otp.selectors import sms_code_live
from signing.models import SigningJob

# Credentials the CSC API shows: certificates with a live key. Suspended ones are listed by
# credentials/info with key status "disabled"; final states (revoked, blocked, expired) are gone.
CREDENTIAL_STATES = (CertificateState.ACTIVE, CertificateState.SUSPENDED)


def holder_get_for_api_client(*, client: ApiClient, username: str) -> Holder:
    """The holder of the client's organization with this username; ``Holder.DoesNotExist`` otherwise."""
    if len(str(username or "").strip()) > USERNAME_MAX_LENGTH:  # refused, never truncated into a match
        raise Holder.DoesNotExist
    username = normalize_username(username)
    if not username:
        raise Holder.DoesNotExist
    return Holder.objects.select_related("user", "organization").get(
        organization=client.organization, organization__is_active=True, user__username=username,
        user__is_active=True,
    )


def credential_list_for_api_client(
    *, client: ApiClient, holder: Holder, only_valid: bool = True
) -> QuerySet[Certificate]:
    """The holder's credentials a CSC client may see: the active certificates that can sign now
    (``only_valid``), or also the suspended ones and the active ones past their validity, as
    ``credentials/info`` describes them (key disabled)."""
    listed = Certificate.objects.filter(organization=client.organization, holder=holder)
    if only_valid:
        listed = listed.filter(state=CertificateState.ACTIVE).filter(
            Q(not_after__isnull=True) | Q(not_after__gt=timezone.now())
        )
    else:
        listed = listed.filter(state__in=CREDENTIAL_STATES)
    return listed.order_by("-issued_at", "-pk")


def credential_get_for_api_client(*, client: ApiClient, credential_id: str) -> Certificate:
    """A credential (certificate IUT) of the client's organization; ``Certificate.DoesNotExist`` otherwise."""
    credential_id = (credential_id or "").strip()
    if not credential_id or len(credential_id) > 32:
        raise Certificate.DoesNotExist
    return Certificate.objects.select_related("holder", "holder__user", "issuer", "issuer__issuer").get(
        organization=client.organization, organization__is_active=True, iut=credential_id,
        state__in=CREDENTIAL_STATES, holder__user__is_active=True,
    )


def credential_is_usable(certificate: Certificate) -> bool:
    """Can this credential sign now: an active certificate within its validity (a suspended one is
    still shown by credentials/info, with its key "disabled")."""
    return certificate.state == CertificateState.ACTIVE and (
        certificate.not_after is None or certificate.not_after > timezone.now()
    )


def credential_get_usable_for_api_client(*, client: ApiClient, credential_id: str) -> Certificate:
    """A credential of the client's organization that can sign now, for every API that signs.

    ``Certificate.DoesNotExist`` for a missing or foreign one (each API answers it its own way: CSC
    "Invalid parameter credentialID", the batch API 404); ``credential_is_disabled`` for one that
    exists but cannot sign (suspended, or past its validity).
    """
    certificate = credential_get_for_api_client(client=client, credential_id=credential_id)
    if certificate.not_after is not None and certificate.not_after <= timezone.now():
        raise ApplicationError("credential_expired", _("The certificate has expired: it cannot sign."))
    if not credential_is_usable(certificate):
        raise ApplicationError("credential_is_disabled", _("The credential is disabled (certificate not active)."))
    return certificate


def otp_devices_for_credential(*, certificate: Certificate) -> list[OtpDevice]:
    """The usable OTP devices of the credential's holder (not locked, active)."""
    return list(
        OtpDevice.objects.filter(holder=certificate.holder, state=DeviceState.ACTIVE, locked_at__isnull=True)
        .order_by("created_at", "pk")
    )


def sms_device_active(devices: list[OtpDevice]) -> OtpDevice | None:
    return next((d for d in devices if d.kind == DeviceKind.SMS), None)


def signing_job_get_for_api_client(*, client: ApiClient, job_id: str) -> SigningJob:
    """A job this very client submitted; ``SigningJob.DoesNotExist`` for any other (same answer)."""
    try:
        public_id = uuid.UUID(str(job_id))
    except ValueError:
        raise SigningJob.DoesNotExist from None
    return SigningJob.objects.get(public_id=public_id, client=client, organization=client.organization)


def otp_route_for_holder(*, holder: Holder, sms_first: bool = False) -> dict[str, Any]:
    """Which OTP the holder's code comes from: the first active token or app, else SMS codes (the
    arguments of ``signature_authorize`` that say so).

    A code is checked against the device that produced it: with ``sms_first`` (the client named the
    SMS factor) or while a signing code sent by ``credentials/sendOTP`` is still live, the code is the
    SMS one — checking it against the app would refuse it and count a failure against the app.
    """
    if sms_first or sms_code_live(holder=holder, purpose="sign"):
        if OtpDevice.objects.filter(holder=holder, state=DeviceState.ACTIVE, kind=DeviceKind.SMS).exists():
            return {"sms": True}
    device = (
        OtpDevice.objects.filter(holder=holder, state=DeviceState.ACTIVE).exclude(kind=DeviceKind.SMS)
        .order_by("created_at", "pk").first()
    )
    if device is not None:
        return {"otp_device": device}
    return {"sms": True}
