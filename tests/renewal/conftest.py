"""Renewal tests: the CA of the certificate tests, a holder ready to renew (an active certificate
inside the renewal window and an HOTP token), and requests taken through the holder's wizard for
real (form generated, both consents, form signed with the certificate being renewed) up to
``submitted``."""

from __future__ import annotations

from itertools import count

import pytest

from accounts.models import Holder, Organization
from otp.models import DeviceKind
from otp.oath import hotp
from otp.services import device_create
from renewal.models import RenewalRequest
from renewal.services import renewal_consents_accept, renewal_data_confirm, renewal_start, renewal_submit
from tests.certificates.conftest import PIN, active, ca, ca_hierarchy  # noqa: F401  (fixtures)
from tests.signing.conftest import signer  # noqa: F401  (fixture)

HOTP_SEED = b"12345678901234567890"
_serials = count(4000000000101)


def renewal_window_wide(organization: Organization, days: int = 2000) -> None:
    """Open the renewal window wide enough that a certificate issued today may be renewed at once."""
    Organization.objects.filter(pk=organization.pk).update(renewal_window_days=days)
    organization.refresh_from_db()


@pytest.fixture
def renewable(world, signer):  # noqa: ANN001, F811
    """alpha's first holder (``signer``) with the renewal window opened wide enough for a fresh certificate."""
    renewal_window_wide(world.alpha.organization)
    signer.certificate.refresh_from_db()
    return signer


def submitted(holder: Holder, *, residence_address: str | None = None) -> RenewalRequest:
    """A request of ``holder`` waiting for the registration office: an active certificate (PIN ``PIN``),
    an HOTP token, the wizard done and the form signed. ``residence_address``: changed by the holder
    during the wizard (the request then lists the change)."""
    renewal_window_wide(holder.organization)
    certificate = active(holder)
    device = device_create(kind=DeviceKind.HARDWARE_HOTP, seed=HOTP_SEED, holder=holder, serial=str(next(_serials)))
    request = renewal_start(holder=holder, certificate=certificate)
    if residence_address is not None:
        Holder.objects.filter(pk=holder.pk).update(residence_address=residence_address)
    request = renewal_data_confirm(request=request)
    request = renewal_consents_accept(
        request=request, form_sha256=request.form_sha256, data_still_valid=True, conditions_accepted=True
    )
    return renewal_submit(request=request, pin=PIN, otp_code=hotp(HOTP_SEED, 0), otp_device=device)
