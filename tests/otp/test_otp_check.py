"""One verifier for every kind of device: tokens and apps, SMS codes, refusals that check nothing."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from otp.models import DeviceKind, DeviceState, OtpDevice
from otp.oath import hotp
from otp.services import VerifyOutcome, device_create, otp_check
from tests.otp.test_sms_codes import issue, other, sms  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

SEED = b"12345678901234567890"


def token(holder) -> OtpDevice:
    return device_create(kind=DeviceKind.HARDWARE_HOTP, seed=SEED, holder=holder, serial="1234567890123")


def test_a_token_code_is_checked_on_the_device_once(world):
    holder = world.alpha.holder
    device = token(holder)
    assert otp_check(holder=holder, code=hotp(SEED, 0), purpose="sign", device=device).ok
    result = otp_check(holder=holder, code=hotp(SEED, 0), purpose="sign", device=device)
    assert result.outcome is VerifyOutcome.REPLAYED
    wrong = otp_check(holder=holder, code="000000", purpose="sign", device=device)
    assert wrong.outcome is VerifyOutcome.INVALID and wrong.failures_left is not None
    assert AuditEvent.objects.filter(event_type="otp.verify_succeeded").count() == 1
    assert AuditEvent.objects.filter(event_type="otp.code_replayed").count() == 1


def test_without_a_device_the_holders_sms_code_for_the_purpose_is_checked(world, sms):  # noqa: F811
    holder = world.alpha.holder
    _, code = issue(holder, purpose="sign")
    assert otp_check(holder=holder, code=other(code), purpose="sign").outcome is VerifyOutcome.INVALID
    assert otp_check(holder=holder, code=code, purpose="step_up").outcome is VerifyOutcome.INVALID
    assert otp_check(holder=holder, code=code, purpose="sign").ok
    assert otp_check(holder=holder, code=code, purpose="sign").outcome is VerifyOutcome.REPLAYED
    assert AuditEvent.objects.filter(event_type="otp.sms_code_verified").count() == 1


def test_an_active_sms_device_means_its_sms_codes(world, sms):  # noqa: F811
    holder = world.alpha.holder
    device = device_create(kind=DeviceKind.SMS, holder=holder)
    _, code = issue(holder, purpose="activation")
    assert otp_check(holder=holder, code=code, purpose="activation", device=device).ok


def test_a_retired_sms_device_or_someone_elses_device_checks_nothing(world, sms):  # noqa: F811
    holder = world.alpha.holder
    sms_device = device_create(kind=DeviceKind.SMS, holder=holder)
    OtpDevice.objects.filter(pk=sms_device.pk).update(state=DeviceState.RETIRED)
    sms_device.refresh_from_db()
    _, code = issue(holder, purpose="sign")
    result = otp_check(holder=holder, code=code, purpose="sign", device=sms_device)
    assert result.outcome is VerifyOutcome.NOT_USABLE
    foreign = token(world.beta.holder)
    assert otp_check(holder=holder, code=hotp(SEED, 0), purpose="sign", device=foreign).outcome is (
        VerifyOutcome.NOT_USABLE
    )
    foreign.refresh_from_db()
    assert foreign.counter == 0 and foreign.failure_count == 0
    assert otp_check(holder=holder, code=code, purpose="sign").ok
