"""The CA, holder certificates, their sealed private keys and the published CRLs."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Holder, KeyAlgorithm, Organization


class SealedKeyFields(models.Model):
    """A private key under envelope encryption (see ``certificates/vault.py`` for the design).

    Never a clear key: the PKCS#8 DER is AES-256-GCM encrypted under a data key, and the data key is
    stored only wrapped — by the server KEK named ``kek_id``, and (holder keys, once a PIN is set)
    also by a key derived from the holder's PIN.
    """

    vault = models.CharField(max_length=32, default="software")
    key_version = models.PositiveIntegerField(default=1)
    key_nonce = models.BinaryField(max_length=12, editable=False)
    key_ciphertext = models.BinaryField(editable=False)
    kek_id = models.CharField(max_length=64)
    wrapped_data_key = models.BinaryField(editable=False)

    class Meta:
        abstract = True


class AuthorityRole(models.TextChoices):
    ROOT = "root", _("Root CA")
    ISSUING = "issuing", _("Issuing CA")
    OCSP = "ocsp", _("OCSP responder")
    TSA = "tsa", _("Time-stamping authority")


class CertificateAuthority(SealedKeyFields):
    """A certificate the trust service itself holds a key for: root, issuing CA, OCSP responder, TSA."""

    role = models.CharField(max_length=16, choices=AuthorityRole.choices)
    # One current row per role; older ones stay to answer for what they signed.
    is_current = models.BooleanField(default=True)
    issuer = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="issued")
    subject = models.CharField(max_length=500)
    serial = models.CharField(max_length=64, unique=True)
    der = models.BinaryField()
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("certificate authority")
        verbose_name_plural = _("certificate authorities")
        constraints = [
            models.UniqueConstraint(
                fields=["role"], condition=models.Q(is_current=True), name="authority_one_current_per_role"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.subject}"

    @property
    def key_binding(self) -> str:
        # The serial exists before the row (the certificate is signed first), so the sealed key can be
        # bound to it; copying the ciphertext onto another authority's row makes it undecryptable.
        return f"authority:{self.serial}"


class CertificateState(models.TextChoices):
    REQUESTED = "requested", _("requested")
    ISSUED = "issued", _("issued, awaiting activation")
    ACTIVE = "active", _("active")
    SUSPENDED = "suspended", _("suspended")
    REVOKED = "revoked", _("revoked")
    BLOCKED = "blocked", _("blocked")
    EXPIRED = "expired", _("expired")


# States in which a certificate counts towards the organization's "certificates per holder" policy.
LIVE_STATES = (CertificateState.ISSUED, CertificateState.ACTIVE, CertificateState.SUSPENDED)


class RevocationReason(models.TextChoices):
    """RFC 5280 §5.3.1 CRLReason values this CA uses (``certificate_hold`` only for suspension)."""

    UNSPECIFIED = "unspecified", _("unspecified")
    KEY_COMPROMISE = "key_compromise", _("key compromise")
    AFFILIATION_CHANGED = "affiliation_changed", _("affiliation changed")
    SUPERSEDED = "superseded", _("superseded")
    CESSATION_OF_OPERATION = "cessation_of_operation", _("cessation of operation")
    CERTIFICATE_HOLD = "certificate_hold", _("suspended (certificate hold)")


class Certificate(models.Model):
    """A holder's qualified certificate, from the request to its final state."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="certificates")
    holder = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="certificates")
    issuer = models.ForeignKey(
        CertificateAuthority, on_delete=models.PROTECT, null=True, blank=True, related_name="certificates"
    )
    state = models.CharField(
        _("state"), max_length=16, choices=CertificateState.choices, default=CertificateState.REQUESTED
    )
    # Holder identifier (IUT): public, random, new for every certificate.
    iut = models.CharField(_("holder identifier (IUT)"), max_length=32, unique=True)
    # Decimal: 159-bit serials do not fit a 64-bit integer column.
    serial = models.CharField(_("serial number"), max_length=64, unique=True, null=True, blank=True)
    key_algorithm = models.CharField(_("key algorithm"), max_length=16, choices=KeyAlgorithm.choices)

    # Subject as certified: a snapshot, so later edits of the holder never change what was issued.
    subject_given_name = models.CharField(max_length=100)
    subject_surname = models.CharField(max_length=100)
    subject_common_name = models.CharField(max_length=201)
    # Role data (O and title), empty when the holder has none: written only as the operator verified it.
    subject_organization = models.CharField(max_length=200, blank=True)
    subject_title = models.CharField(max_length=200, blank=True)
    subject_serial_number = models.CharField(max_length=32)

    der = models.BinaryField(null=True, blank=True)
    not_before = models.DateTimeField(null=True, blank=True)
    not_after = models.DateTimeField(null=True, blank=True)

    requested_at = models.DateTimeField(default=timezone.now)
    issued_at = models.DateTimeField(null=True, blank=True)
    activation_deadline = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    blocked_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    # What the CRL and OCSP say: set on suspension (certificate_hold, cleared on reactivation), on
    # revocation, on blocking (cessation_of_operation: the key is erased), and when an unactivated
    # certificate expires at its deadline (its key is destroyed, but the certificate itself would
    # otherwise stay valid until not_after).
    revocation_reason = models.CharField(max_length=32, choices=RevocationReason.choices, blank=True)
    revocation_time = models.DateTimeField(null=True, blank=True)
    # When the state last changed: the CRL is stale when older than this.
    status_changed_at = models.DateTimeField(default=timezone.now)

    pin_failures = models.PositiveSmallIntegerField(default=0)
    # The smallest expiry-reminder threshold (days before not_after) already sent; null: none yet. The
    # outbox idempotency key is what makes a reminder unique; this column lets the daily job select
    # only the certificates still owed one, through an index, instead of every certificate in the window.
    expiry_reminded_days = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)

    # The certificate this one renews: superseded (revoked, reason superseded) when this one is
    # activated. Until then both exist, and this one does not count against the holder's limit.
    # Several certificates may renew one: a renewal not activated by its deadline expires, and the
    # holder may renew the same certificate again (one open renewal request at a time).
    replaces = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="renewals",
        verbose_name=_("renews"),
    )

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("certificate")
        verbose_name_plural = _("certificates")
        ordering = ["-requested_at", "-pk"]
        indexes = [
            models.Index(fields=["state", "activation_deadline"]),
            models.Index(fields=["state", "not_after"]),
            # The daily expiry-reminder job (certificates/services/reminders.py): active certificates by
            # not_after range, with the last reminder, the id and the organization in the index so that the ones
            # already reminded are skipped without reading the table (index-only scan).
            models.Index(
                fields=["not_after", "expiry_reminded_days"],
                include=["id", "organization_id"],
                condition=models.Q(state="active"),
                name="certificate_reminder_due_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=CertificateState.values), name="certificate_state_known"
            ),
            models.CheckConstraint(
                condition=models.Q(state=CertificateState.REQUESTED)
                | (models.Q(serial__isnull=False, der__isnull=False, not_after__isnull=False)),
                name="certificate_issued_has_serial_and_der",
            ),
            models.CheckConstraint(
                condition=~models.Q(state=CertificateState.SUSPENDED)
                | models.Q(revocation_reason=RevocationReason.CERTIFICATE_HOLD, revocation_time__isnull=False),
                name="certificate_suspended_is_on_hold",
            ),
            models.CheckConstraint(
                condition=~models.Q(state=CertificateState.REVOKED)
                | (
                    models.Q(revocation_time__isnull=False)
                    & ~models.Q(revocation_reason__in=["", RevocationReason.CERTIFICATE_HOLD])
                ),
                name="certificate_revoked_has_reason",
            ),
            models.CheckConstraint(
                condition=~models.Q(state=CertificateState.ACTIVE) | models.Q(revocation_reason=""),
                name="certificate_active_not_listed",
            ),
            models.CheckConstraint(
                condition=~models.Q(state=CertificateState.BLOCKED)
                | (
                    models.Q(revocation_time__isnull=False)
                    & ~models.Q(revocation_reason__in=["", RevocationReason.CERTIFICATE_HOLD])
                ),
                name="certificate_blocked_is_listed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject_common_name} – {self.iut} ({self.state})"

    @property
    def key_binding(self) -> str:
        return f"certificate:{self.pk}"

    @property
    def issued_der(self) -> bytes:
        """The DER of an issued certificate (``der`` is empty only while the certificate is requested).

        For the code that reads an issued one (signing, the CSC answers): a typed ``bytes``, and the
        same TypeError that ``bytes(None)`` would raise if it were ever asked of one not yet issued.
        """
        if self.der is None:
            raise TypeError(f"certificate {self.pk} has no DER: it has not been issued")
        return bytes(self.der)


class CertificateKey(SealedKeyFields):
    """The sealed private key of one certificate; 1:1, destroyed when the certificate is final."""

    certificate = models.OneToOneField(Certificate, on_delete=models.PROTECT, related_name="key")
    # True between issuance and activation: the data key is wrapped by the KEK only (no PIN yet).
    awaiting_pin = models.BooleanField(default=True)
    pin_salt = models.BinaryField(max_length=32, blank=True, default=b"", editable=False)
    pin_kdf = models.JSONField(default=dict, blank=True)
    public_key_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    # Crypto-shredding: when the certificate reaches a final state the ciphertext is erased.
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("certificate key")
        verbose_name_plural = _("certificate keys")

    def __str__(self) -> str:
        return f"key of certificate {self.certificate_id} (v{self.key_version})"

    @property
    def key_binding(self) -> str:
        return f"certificate:{self.certificate_id}"


class Crl(models.Model):
    """One published CRL. The latest per authority is served as is: never built per request."""

    authority = models.ForeignKey(CertificateAuthority, on_delete=models.PROTECT, related_name="crls")
    number = models.PositiveBigIntegerField()
    der = models.BinaryField()
    this_update = models.DateTimeField()
    next_update = models.DateTimeField()
    # Digest of the entries listed: the beat job republishes when the database says otherwise.
    entries_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("CRL")
        verbose_name_plural = _("CRLs")
        constraints = [models.UniqueConstraint(fields=["authority", "number"], name="crl_number_unique")]

    def __str__(self) -> str:
        return f"CRL #{self.number} of {self.authority.role}"


class OtpChoice(models.TextChoices):
    """The OTP device the operator chose at issuance; the activation enrols or checks it."""

    HARDWARE = "hardware", _("Hardware token")
    APP = "app", _("Smartphone app")
    SMS = "sms", _("SMS")


class ActivationState(models.TextChoices):
    SENT = "sent", _("sent, waiting for the holder")
    PASSWORD_CHECKED = "password_checked", _("temporary password accepted")
    PASSWORD_CHOSEN = "password_chosen", _("new password chosen")
    DEVICE_READY = "device_ready", _("OTP device ready")
    COMPLETED = "completed", _("completed")
    SUPERSEDED = "superseded", _("replaced by a newer activation")
    SPENT = "spent", _("refused after too many wrong temporary passwords")


# An activation in one of these states can still be continued from its link.
ACTIVATION_OPEN_STATES = (
    ActivationState.SENT,
    ActivationState.PASSWORD_CHECKED,
    ActivationState.PASSWORD_CHOSEN,
    ActivationState.DEVICE_READY,
)


class Activation(models.Model):
    """The activation of one issued certificate: link → temporary password → new password →
    OTP device → signing PIN. Each step is recorded here, bound to the link, never in the browser.

    The link and the temporary password are kept only as an HMAC and an Argon2 hash; the new password
    chosen mid-way only as a password hash, set on the account in the final step's transaction.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    holder = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="activations")
    certificate = models.ForeignKey(Certificate, on_delete=models.PROTECT, related_name="activations")
    otp_choice = models.CharField(max_length=16, choices=OtpChoice.choices)
    state = models.CharField(max_length=20, choices=ActivationState.choices, default=ActivationState.SENT)
    link_hash = models.CharField(max_length=64, unique=True)
    temporary_password_hash = models.CharField(max_length=256, blank=True)
    new_password_hash = models.CharField(max_length=256, blank=True)
    password_failures = models.PositiveSmallIntegerField(default=0)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("certificate activation")
        verbose_name_plural = _("certificate activations")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["certificate"],
                condition=models.Q(state__in=[s.value for s in ACTIVATION_OPEN_STATES]),
                name="activation_one_open_per_certificate",
            ),
        ]

    def __str__(self) -> str:
        return f"activation {self.public_id} ({self.state})"
