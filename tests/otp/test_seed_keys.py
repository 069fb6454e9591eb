"""Seed keys can be rotated: rows re-encrypted under the new key keep verifying; old keys can go."""

from __future__ import annotations

import base64
import io
import os

import pytest
from django.core.management import call_command

from otp.crypto import SeedDecryptionError, seed_open
from otp.models import DeviceKind, OtpDevice
from otp.oath import hotp
from otp.services import device_create, device_verify

pytestmark = pytest.mark.django_db
SEED = b"12345678901234567890"


def test_rotation_reencrypts_every_seed_and_the_old_key_can_be_removed(world, settings):
    old_keys = dict(settings.OTP_SEED_KEYS)
    device = device_create(kind=DeviceKind.HARDWARE_HOTP, seed=SEED, holder=world.alpha.holder, serial="1111111111111")
    assert device.seed_key_id == settings.OTP_SEED_KEY_ID
    new_key = base64.b64encode(os.urandom(32)).decode()
    settings.OTP_SEED_KEYS = {**old_keys, "k2026": new_key}
    settings.OTP_SEED_KEY_ID = "k2026"

    out = io.StringIO()
    call_command("otp_rotate_seed_key", stdout=out)
    # The holder's token and the staff's own tokens of the world: every seed, whoever owns it.
    assert f"{OtpDevice.objects.count()} seed(s) re-encrypted" in out.getvalue()
    assert OtpDevice.objects.count() > 1

    settings.OTP_SEED_KEYS = {"k2026": new_key}  # the old key is gone
    device = OtpDevice.objects.get(pk=device.pk)
    assert device.seed_key_id == "k2026"
    assert seed_open(device.sealed_seed, binding=device.seed_binding) == SEED
    assert device_verify(device=device, code=hotp(SEED, 0), purpose="test").ok


def test_a_seed_under_an_unknown_key_is_a_clear_error(world, settings):
    device = device_create(kind=DeviceKind.APP_TOTP, seed=SEED, holder=world.alpha.holder)
    settings.OTP_SEED_KEYS = {"other": base64.b64encode(os.urandom(32)).decode()}
    settings.OTP_SEED_KEY_ID = "other"
    with pytest.raises(SeedDecryptionError, match="unknown seed key id"):
        seed_open(device.sealed_seed, binding=device.seed_binding)
