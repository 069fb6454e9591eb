"""OTP devices: one model for every kind, so one verification service serves them all."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from otp.crypto import SealedSeed, seed_seal


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
    # An operator's or administrator's own second factor (never a holder's): a device has one owner.
    staff_user = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="staff_otp_devices"
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
                condition=Q(holder__isnull=False) | Q(staff_user__isnull=False) | Q(state="available"),
                name="otp_device_unassigned_is_in_stock",
            ),
            models.CheckConstraint(
                condition=Q(holder__isnull=True) | Q(staff_user__isnull=True), name="otp_device_one_owner"
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

    def seal_seed(self, seed: bytes) -> None:
        """Encrypt ``seed`` onto this (unsaved or locked) row under the current key."""
        sealed = seed_seal(seed, binding=self.seed_binding)
        self.seed_key_id, self.seed_nonce, self.seed_ciphertext = sealed.key_id, sealed.nonce, sealed.ciphertext


SMS_CODE_MAX_ATTEMPTS = 5  # wrong codes that invalidate an SMS code: 5 guesses in 10^6 is 1 in 200,000


class SmsCode(models.Model):
    """One SMS code sent to a holder for one operation: 6 digits, 5 minutes, once.

    Only an HMAC of the code is kept, keyed from the secret key and salted with ``public_id``
    (see :mod:`otp.sms_codes`); the code itself leaves the machine only in the sealed SMS.
    ``purpose`` names the operation that asked for it, and only that operation may accept it.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    holder = models.ForeignKey("accounts.Holder", on_delete=models.CASCADE, related_name="sms_codes")
    purpose = models.CharField(_("purpose"), max_length=32)
    recipient = models.CharField(_("mobile number"), max_length=16)
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    invalidated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["holder", "purpose", "created_at"], name="otp_smscode_holder_purpose")]
        constraints = [
            models.CheckConstraint(condition=Q(code_hash__regex=r"^[0-9a-f]{64}$"), name="otp_sms_code_hash_hex"),
            models.CheckConstraint(condition=Q(recipient__regex=r"^\+[1-9][0-9]{6,14}$"), name="otp_sms_code_e164"),
            models.CheckConstraint(
                condition=Q(attempts__lte=SMS_CODE_MAX_ATTEMPTS), name="otp_sms_code_attempts_bounded"
            ),
            models.CheckConstraint(condition=Q(expires_at__gt=models.F("created_at")), name="otp_sms_code_expires"),
        ]

    def __str__(self) -> str:
        return f"SMS code {self.public_id} ({self.purpose})"

    def is_live(self, now: datetime) -> bool:
        return (
            self.used_at is None
            and self.invalidated_at is None
            and self.attempts < SMS_CODE_MAX_ATTEMPTS
            and now < self.expires_at
        )


class SecurityKey(models.Model):
    """A passkey or security key (WebAuthn credential) of an operator or administrator.

    Only the public key is kept. ``sign_count`` is the authenticator's signature counter as last
    seen: an assertion whose counter does not move past it comes from a cloned authenticator and is
    refused (authenticators that keep no counter always send 0, and are accepted as such).
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="security_keys")
    name = models.CharField(_("name"), max_length=64)
    credential_id = models.BinaryField(max_length=1023, unique=True)
    public_key = models.BinaryField(max_length=2048)
    sign_count = models.PositiveBigIntegerField(default=0)
    transports = models.JSONField(default=list, blank=True)
    aaguid = models.CharField(max_length=36, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("security key")
        verbose_name_plural = _("security keys")

    def __str__(self) -> str:
        return self.name
