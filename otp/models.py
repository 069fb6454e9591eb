"""OTP devices: one model for every kind, so one verification service serves them all."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from otp.crypto import SealedSeed


class DeviceKind(models.TextChoices):
    HARDWARE_HOTP = "hw_hotp", _("Hardware token (event)")
    HARDWARE_TOTP = "hw_totp", _("Hardware token (time)")
    APP_TOTP = "app_totp", _("Smartphone app")
    SMS = "sms", _("SMS")


class DeviceState(models.TextChoices):
    AVAILABLE = "available", _("In stock")  # a hardware token not yet assigned
    PENDING = "pending", _("Waiting for the first code")  # an app being enrolled
    ACTIVE = "active", _("Active")
    RETIRED = "retired", _("Retired")


class Algorithm(models.TextChoices):
    SHA1 = "sha1", "SHA-1"
    SHA256 = "sha256", "SHA-256"
    SHA512 = "sha512", "SHA-512"


class OtpDevice(models.Model):
    """A hardware token, a smartphone app or the SMS channel of a holder.

    ``counter`` is the next HOTP counter expected; ``last_step`` the last TOTP step accepted
    (codes of that step or earlier are replays); ``drift`` the remembered TOTP clock offset in
    steps. The seed is stored only encrypted (see :mod:`otp.crypto`).
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=8, choices=DeviceKind.choices)
    state = models.CharField(_("state"), max_length=10, choices=DeviceState.choices, default=DeviceState.ACTIVE)
    holder = models.ForeignKey(
        "accounts.Holder", null=True, blank=True, on_delete=models.PROTECT, related_name="otp_devices"
    )
    serial = models.CharField(_("serial number"), max_length=13, null=True, blank=True, unique=True)
    algorithm = models.CharField(max_length=8, choices=Algorithm.choices, default=Algorithm.SHA1)
    digits = models.PositiveSmallIntegerField(default=6)
    period = models.PositiveSmallIntegerField(default=30)
    counter = models.PositiveBigIntegerField(default=0)
    last_step = models.BigIntegerField(null=True, blank=True)
    drift = models.IntegerField(default=0)
    seed_key_id = models.CharField(max_length=32, blank=True)
    seed_nonce = models.BinaryField(max_length=12, blank=True, default=b"")
    seed_ciphertext = models.BinaryField(max_length=128, blank=True, default=b"")
    failure_count = models.PositiveSmallIntegerField(default=0)
    locked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(digits__in=[6, 8]), name="otp_device_digits_6_or_8"),
            models.CheckConstraint(condition=Q(period__gte=10, period__lte=120), name="otp_device_period_range"),
            models.CheckConstraint(
                condition=Q(serial__isnull=True) | Q(serial__regex=r"^[0-9]{13}$"), name="otp_device_serial_13_digits"
            ),
            models.CheckConstraint(
                condition=Q(kind="sms") | ~Q(seed_ciphertext=b""), name="otp_device_token_has_seed"
            ),
            models.CheckConstraint(
                condition=Q(holder__isnull=False) | Q(state="available"), name="otp_device_unassigned_is_in_stock"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.serial or self.public_id}"

    @property
    def is_time_based(self) -> bool:
        return self.kind in (DeviceKind.HARDWARE_TOTP, DeviceKind.APP_TOTP)

    @property
    def is_locked(self) -> bool:
        return self.locked_at is not None

    @property
    def seed_binding(self) -> str:
        """Associated data of the seed's encryption: the ciphertext only opens on this device."""
        return f"otp-seed:{self.public_id}"

    @property
    def sealed_seed(self) -> SealedSeed:
        return SealedSeed(self.seed_key_id, bytes(self.seed_nonce), bytes(self.seed_ciphertext))
