"""Organizations (tenants), their policies, and the people who belong to them."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Length, Lower
from django.db.models.lookups import Exact
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from oauth2_provider.settings import oauth2_settings

DEFAULT_REMINDER_DAYS = (60, 30, 7)


def default_reminder_days() -> list[int]:
    return list(DEFAULT_REMINDER_DAYS)


def validate_reminder_days(value: Any) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError(_("Enter at least one reminder day."), code="invalid")
    if any(not isinstance(day, int) or isinstance(day, bool) or not 1 <= day <= 365 for day in value):
        raise ValidationError(_("Reminder days must be whole numbers between 1 and 365."), code="invalid")
    if len(set(value)) != len(value):
        raise ValidationError(_("Reminder days must not repeat."), code="invalid")


class KeyAlgorithm(models.TextChoices):
    """Holders' keys. The signature scheme goes with the key (``certificates.vault.key_signs_with_pss``):
    ECDSA P-256 is the default; RSA-3072 signs with RSASSA-PSS; RSA-2048 signs with PKCS#1 v1.5, which
    ETSI TS 119 312 sunsets in 2029 (before certificates issued now expire), so it is kept only for
    organizations that chose it."""

    ECDSA_P256 = "ecdsa-p256", "ECDSA P-256"
    RSA_PSS_3072 = "rsa-pss-3072", "RSA 3072, RSASSA-PSS"
    RSA_2048 = "rsa-2048", "RSA 2048, PKCS#1 v1.5 (legacy)"


class Organization(models.Model):
    """A tenant: a registration office's organization and the policies it applies."""

    slug = models.SlugField(_("slug"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=200)
    is_active = models.BooleanField(_("active"), default=True)
    support_email = models.EmailField(_("support e-mail"), blank=True)
    support_url = models.URLField(_("support web page"), blank=True)

    certificate_validity_months = models.PositiveSmallIntegerField(
        _("certificate validity (months)"), default=36, validators=[MinValueValidator(1), MaxValueValidator(60)]
    )
    renewable = models.BooleanField(_("certificates are renewable"), default=True)
    renewal_window_days = models.PositiveSmallIntegerField(
        _("renewal window opens (days before expiry)"),
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
    )
    renewal_requires_approval = models.BooleanField(
        _("renewal needs operator approval"),
        default=True,
        help_text=_("Untick for automatic renewal."),
    )
    reminder_days = models.JSONField(
        _("reminder days before expiry"), default=default_reminder_days, validators=[validate_reminder_days]
    )
    activation_deadline_days = models.PositiveSmallIntegerField(
        _("activation deadline after issuance (days)"),
        default=120,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
    )
    suspended_auto_revoke_days = models.PositiveSmallIntegerField(
        _("suspended certificates revoked after (days)"),
        default=120,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
    )
    max_active_certificates = models.PositiveSmallIntegerField(
        _("active certificates per holder"), default=1, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    otp_hardware_allowed = models.BooleanField(_("hardware tokens allowed"), default=True)
    otp_app_allowed = models.BooleanField(_("smartphone app allowed"), default=True)
    otp_sms_allowed = models.BooleanField(_("SMS allowed"), default=True)
    password_min_length = models.PositiveSmallIntegerField(
        _("password minimum length"), default=12, validators=[MinValueValidator(8), MaxValueValidator(64)]
    )
    login_max_failures = models.PositiveSmallIntegerField(
        _("failed logins before lockout"), default=5, validators=[MinValueValidator(3), MaxValueValidator(20)]
    )
    login_lockout_minutes = models.PositiveSmallIntegerField(
        _("lockout duration (minutes)"), default=15, validators=[MinValueValidator(1), MaxValueValidator(1440)]
    )
    pin_max_retries = models.PositiveSmallIntegerField(
        _("signing PIN retries before blocking"),
        default=5,
        validators=[MinValueValidator(3), MaxValueValidator(10)],
    )
    key_algorithm = models.CharField(
        _("key algorithm"), max_length=16, choices=KeyAlgorithm.choices, default=KeyAlgorithm.ECDSA_P256
    )
    # Off: the organization's systems must send holders to the consent page (CSC OAuth 2.0, scope
    # "credential"), so that PIN and OTP never pass through them; on by default so that the systems
    # integrated before the consent page existed keep working.
    csc_direct_authorization_allowed = models.BooleanField(
        _("systems may send the holder's PIN and OTP (CSC credentials/authorize)"),
        default=True,
        help_text=_("Untick to require the consent page: the holder types PIN and OTP on this site only."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(otp_hardware_allowed=True)
                | models.Q(otp_app_allowed=True)
                | models.Q(otp_sms_allowed=True),
                name="organization_allows_some_otp_kind",
            ),
            models.CheckConstraint(
                condition=models.Q(password_min_length__gte=8), name="organization_password_min_length_gte_8"
            ),
            models.CheckConstraint(
                condition=models.Q(login_max_failures__gte=3), name="organization_login_max_failures_gte_3"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PolicyBounds(models.Model):
    """The bounds within which organization admins may set their organization's policies.

    One row, edited by platform administrators in Django admin; the console refuses a policy value
    outside them. Django admin itself is not bound: a platform administrator may set any value the
    organization's own field validators accept.
    """

    certificate_validity_months_min = models.PositiveSmallIntegerField(default=12)
    certificate_validity_months_max = models.PositiveSmallIntegerField(default=36)
    renewal_window_days_min = models.PositiveSmallIntegerField(default=30)
    renewal_window_days_max = models.PositiveSmallIntegerField(default=120)
    automatic_renewal_allowed = models.BooleanField(
        default=True, help_text=_("Organizations may renew certificates without operator approval.")
    )
    reminder_day_min = models.PositiveSmallIntegerField(default=1)
    reminder_day_max = models.PositiveSmallIntegerField(default=120)
    reminder_days_max_count = models.PositiveSmallIntegerField(default=5)
    activation_deadline_days_min = models.PositiveSmallIntegerField(default=30)
    activation_deadline_days_max = models.PositiveSmallIntegerField(default=180)
    password_min_length_min = models.PositiveSmallIntegerField(default=12)
    password_min_length_max = models.PositiveSmallIntegerField(default=64)
    login_max_failures_min = models.PositiveSmallIntegerField(default=3)
    login_max_failures_max = models.PositiveSmallIntegerField(default=10)
    login_lockout_minutes_min = models.PositiveSmallIntegerField(default=5)
    login_lockout_minutes_max = models.PositiveSmallIntegerField(default=1440)
    otp_hardware_available = models.BooleanField(_("hardware tokens available"), default=True)
    otp_app_available = models.BooleanField(_("smartphone app available"), default=True)
    otp_sms_available = models.BooleanField(_("SMS available"), default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("policy bounds")
        verbose_name_plural = _("policy bounds")
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="policy_bounds_single_row")]

    def __str__(self) -> str:
        return str(_("Policy bounds"))

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def current(cls) -> PolicyBounds:
        bounds, _created = cls.objects.get_or_create(pk=1)
        return bounds


class UserKind(models.TextChoices):
    HOLDER = "holder", _("Holder")
    OPERATOR = "operator", _("Operator")
    PLATFORM_ADMIN = "platform_admin", _("Platform administrator")


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, username: str, password: str | None = None, **extra: Any) -> User:
        user = self.model(username=username.strip().lower(), **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, username: str, password: str | None = None, **extra: Any) -> User:
        extra.update(kind=UserKind.PLATFORM_ADMIN, is_staff=True, is_superuser=True)
        return self.create_user(username, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """Credentials of anyone who logs in. Tenant membership lives on :class:`Holder`/:class:`Operator`."""

    username = models.CharField(
        _("username"), max_length=150, unique=True, validators=[UnicodeUsernameValidator()]
    )
    kind = models.CharField(_("kind"), max_length=16, choices=UserKind.choices)
    email = models.EmailField(_("e-mail"), blank=True, help_text=_("Only for platform administrators."))
    is_active = models.BooleanField(_("active"), default=True)
    is_staff = models.BooleanField(_("staff"), default=False)
    preferred_language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE
    )
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    # Part of what every session of this account is bound to: moving it on ends them all at once
    # (deactivation, a second factor reset), without searching the session table.
    session_epoch = models.PositiveIntegerField(default=0, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
            models.CheckConstraint(
                condition=models.Q(is_staff=False) | models.Q(kind="platform_admin"),
                name="user_only_platform_admins_are_staff",
            ),
        ]

    def __str__(self) -> str:
        return self.username

    def _get_session_auth_hash(self, secret: str | None = None) -> str:
        # Django's own hash of the password hash, with the session epoch added.
        return salted_hmac(
            "accounts.User.session_auth_hash", f"{self.password}:{self.session_epoch}", secret=secret,
            algorithm="sha256",
        ).hexdigest()

    @cached_property
    def organization(self) -> Organization | None:
        """The tenant this account belongs to (``None`` for platform administrators)."""
        if self.kind == UserKind.HOLDER:
            holder = Holder.objects.select_related("organization").filter(user=self).first()
            return holder.organization if holder else None
        if self.kind == UserKind.OPERATOR:
            operator = Operator.objects.select_related("organization").filter(user=self).first()
            return operator.organization if operator else None
        return None

    @property
    def is_holder(self) -> bool:
        return self.kind == UserKind.HOLDER

    @property
    def is_operator(self) -> bool:
        return self.kind == UserKind.OPERATOR


class IdDocumentType(models.TextChoices):
    IDENTITY_CARD = "identity_card", _("Identity card")
    PASSPORT = "passport", _("Passport")
    DRIVING_LICENCE = "driving_licence", _("Driving licence")


class Holder(models.Model):
    """The holder (titolare) of a remote-signature certificate, as identified face to face."""

    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="holder")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="holders")
    codice_fiscale = models.CharField(_("codice fiscale"), max_length=16)
    given_name = models.CharField(_("given name"), max_length=100)
    surname = models.CharField(_("surname"), max_length=100)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    birth_place = models.CharField(_("birth place"), max_length=100, blank=True)
    id_document_type = models.CharField(
        _("ID document type"), max_length=32, choices=IdDocumentType.choices, blank=True
    )
    id_document_number = models.CharField(_("ID document number"), max_length=32, blank=True)
    id_document_issuer = models.CharField(_("ID document issued by"), max_length=100, blank=True)
    id_document_expiry = models.DateField(_("ID document expiry"), null=True, blank=True)
    email = models.EmailField(_("e-mail"), max_length=254)
    mobile = models.CharField(_("mobile number"), max_length=16, help_text=_("E.164, e.g. +393471234567"))
    residence_address = models.CharField(_("address"), max_length=200, blank=True)
    residence_city = models.CharField(_("city"), max_length=100, blank=True)
    residence_postal_code = models.CharField(_("postal code"), max_length=10, blank=True)
    residence_province = models.CharField(_("province"), max_length=2, blank=True)
    residence_country = models.CharField(_("country"), max_length=2, default="IT")
    role_organization = models.CharField(_("role organization"), max_length=200, blank=True)
    role_title = models.CharField(_("title / role"), max_length=200, blank=True)
    # The user code is sent once, in the activation e-mail, and kept only as an Argon2
    # hash: it proves possession of that e-mail for password recovery and suspension without login.
    user_code_hash = models.CharField(_("user code (hash)"), max_length=256, blank=True, editable=False)
    user_code_issued_at = models.DateTimeField(_("user code issued"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("holder")
        verbose_name_plural = _("holders")
        ordering = ["surname", "given_name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "codice_fiscale"], name="holder_cf_unique_per_org"),
            models.CheckConstraint(
                condition=Exact(Length("codice_fiscale"), 16), name="holder_codice_fiscale_16_chars"
            ),
            models.CheckConstraint(condition=models.Q(mobile__startswith="+"), name="holder_mobile_e164"),
        ]

    def __str__(self) -> str:
        return f"{self.surname} {self.given_name} ({self.codice_fiscale})"

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.surname}"


class ContactKind(models.TextChoices):
    EMAIL = "email", _("e-mail")
    MOBILE = "mobile", _("mobile number")


class ContactOwnership(models.Model):
    """Which person (codice fiscale) an e-mail address or mobile number belongs to, platform-wide.

    An e-mail or mobile is an authentication factor and a reserved channel, so it may belong to one
    person only. The unique constraint makes the rule hold even under concurrent writes.
    """

    kind = models.CharField(max_length=8, choices=ContactKind.choices)
    value = models.CharField(max_length=254)
    codice_fiscale = models.CharField(max_length=16)
    claimed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "value"], name="contact_owned_by_one_person")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class OperatorRole(models.TextChoices):
    OPERATOR = "operator", _("Operator")
    ORGANIZATION_ADMIN = "org_admin", _("Organization administrator")
    AUDITOR = "auditor", _("Auditor (read only)")


class Operator(models.Model):
    """A registration-office operator (or organization admin): sees only its own organization."""

    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="operator")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="operators")
    role = models.CharField(_("role"), max_length=16, choices=OperatorRole.choices, default=OperatorRole.OPERATOR)
    given_name = models.CharField(_("given name"), max_length=100)
    surname = models.CharField(_("surname"), max_length=100)
    email = models.EmailField(_("e-mail"))

    class Meta:
        verbose_name = _("operator")
        verbose_name_plural = _("operators")

    def __str__(self) -> str:
        return f"{self.given_name} {self.surname} ({self.organization.slug})"

    @property
    def is_organization_admin(self) -> bool:
        return self.role == OperatorRole.ORGANIZATION_ADMIN

    @property
    def is_auditor(self) -> bool:
        return self.role == OperatorRole.AUDITOR

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.surname}"


class StaffEnrolmentPurpose(models.TextChoices):
    INVITATION = "invitation", _("invitation")
    FACTOR_RESET = "factor_reset", _("second factor reset")


class StaffEnrolment(models.Model):
    """A single-use, expiring link through which an operator or administrator enrols a second factor.

    It is the only way to a first factor: an invitation (choose a password, then enrol) or a reset
    after a lost factor (type the password, then enrol). A password alone never enrols anything.
    Only a hash of the link's token is kept; issuing a new link revokes the earlier ones.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="staff_enrolments")
    purpose = models.CharField(max_length=16, choices=StaffEnrolmentPurpose.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    password_set_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(token_hash__regex=r"^[0-9a-f]{64}$"), name="staff_enrolment_hash"
            ),
            models.CheckConstraint(condition=models.Q(expires_at__gt=models.F("created_at")),
                                   name="staff_enrolment_expires"),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} {self.user_id}"

    def is_live(self, now: Any) -> bool:
        return self.used_at is None and self.revoked_at is None and now < self.expires_at


class LoginThrottle(models.Model):
    """Failed-login counter and lockout of one username, whether or not an account has it.

    Counting unknown usernames exactly like real ones is what makes "attempts left" and the lockout
    message reveal nothing about which usernames exist. The username is kept only as an HMAC.
    """

    username_digest = models.CharField(max_length=64, unique=True)
    failed_count = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.username_digest[:12]


class RecoveryKind(models.TextChoices):
    PASSWORD = "password", _("password recovery")
    USERNAME = "username", _("username recovery")


class RecoveryState(models.TextChoices):
    STARTED = "started", _("started")
    LINK_SENT = "link_sent", _("verification e-mail sent")
    COMPLETED = "completed", _("completed")
    ABANDONED = "abandoned", _("abandoned")


class RecoveryRequest(models.Model):
    """One request to recover a password or a username, whether or not the data matched an account.

    A request whose data matched nothing is stored exactly like one that matched (``holder`` empty):
    the page, the work done and the time taken are the same, so nothing tells the two apart. The
    verification link of a password recovery is kept only as a hash.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=16, choices=RecoveryKind.choices)
    holder = models.ForeignKey(Holder, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=16, choices=RecoveryState.choices, default=RecoveryState.STARTED)
    ip = models.CharField(max_length=45, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    code_attempts = models.PositiveSmallIntegerField(default=0)
    link_hash = models.CharField(max_length=64, blank=True, db_index=True)
    link_expires_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["holder", "kind", "state"], name="recovery_holder_kind_state")]

    def __str__(self) -> str:
        return f"{self.kind} {self.public_id}"


class ApiScope(models.TextChoices):
    """What an API client may do, one scope per function."""

    CSC = "csc", _("CSC API: credentials and signatures")
    BATCH = "batch", _("Exam-records batch signing")
    VALIDATION = "validation", _("Signature validation")


class ApiClient(models.Model):
    """An organization's system calling the APIs with OAuth 2.0 client credentials.

    The OAuth side (client id, hashed secret, tokens) is django-oauth-toolkit's ``Application``; this
    row says which organization it acts for — every call is confined to that organization's holders —
    which scopes it may ask for, and whether it was revoked (revoked clients get no token, and their
    tokens are deleted at revocation).
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="api_clients")
    application = models.OneToOneField(
        oauth2_settings.APPLICATION_MODEL, on_delete=models.PROTECT, related_name="api_client"
    )
    name = models.CharField(_("name"), max_length=100)
    scopes = models.JSONField(_("scopes"), default=list)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("API client")
        verbose_name_plural = _("API clients")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                "organization", Lower("name"), condition=models.Q(revoked_at__isnull=True),
                name="api_client_name_unique_per_org",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.organization.slug})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def client_id(self) -> str:
        return self.application.client_id

    def allows_scope(self, scope: str) -> bool:
        return scope in self.scopes
