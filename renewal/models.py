"""A holder's request to renew a certificate, from the wizard's first step to the new certificate's
activation (the state machine is in ``renewal/services.py``; the design in ``docs/renewal.md``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import Holder, Organization
from certificates.models import Certificate


class RenewalState(models.TextChoices):
    DRAFT = "draft", _("being filled in")
    SUBMITTED = "submitted", _("form signed, waiting for approval")
    APPROVED = "approved", _("approved")
    ISSUED = "issued", _("new certificate issued, waiting for activation")
    ACTIVATED = "activated", _("completed: new certificate active")
    # A context of their own: the bare words are translated elsewhere for certificates (masculine).
    REJECTED = "rejected", pgettext_lazy("renewal request", "rejected")
    CANCELLED = "cancelled", _("cancelled")
    EXPIRED = "expired", pgettext_lazy("renewal request", "expired")


# A request in one of these states holds its certificate: no second one may be opened for it.
OPEN_STATES = (RenewalState.DRAFT, RenewalState.SUBMITTED, RenewalState.APPROVED, RenewalState.ISSUED)
# Under way: the holder has signed the form. Expiry reminders stop meanwhile (a draft does not stop
# them: a wizard left half-way must not silence the warnings).
UNDER_WAY_STATES = (RenewalState.SUBMITTED, RenewalState.APPROVED, RenewalState.ISSUED)
FINAL_STATES = (RenewalState.ACTIVATED, RenewalState.REJECTED, RenewalState.CANCELLED, RenewalState.EXPIRED)


class ExpiryCause(models.TextChoices):
    OLD_CERTIFICATE_EXPIRED = "old_certificate_expired", _("the certificate to renew expired first")
    OLD_CERTIFICATE_ENDED = "old_certificate_ended", _("the certificate to renew was revoked or blocked")
    NOT_ACTIVATED = "not_activated", _("the new certificate was not activated in time")


class RenewalRequest(models.Model):
    """One renewal of one certificate.

    Evidence kept for the trust service's records: the holder data confirmed (and what changed from
    the data on record when the wizard started), both consents with their times, the renewal form
    and the general conditions as generated (with their SHA-256), the form as the holder signed it
    with the certificate being renewed, and the operator's decision.
    """

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="renewal_requests")
    holder = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="renewal_requests")
    old_certificate = models.ForeignKey(
        Certificate, on_delete=models.PROTECT, related_name="renewal_requests", verbose_name=_("certificate renewed")
    )
    new_certificate = models.OneToOneField(
        Certificate, on_delete=models.PROTECT, null=True, blank=True, related_name="renewal_request",
        verbose_name=_("new certificate"),
    )
    state = models.CharField(_("state"), max_length=16, choices=RenewalState.choices, default=RenewalState.DRAFT)
    # Renewed without an operator's decision (the organization's automatic renewal).
    automatic = models.BooleanField(default=False)

    data_on_record = models.JSONField(default=dict, blank=True)
    data_confirmed = models.JSONField(default=dict, blank=True)
    # [{"field": …, "before": …, "after": …}] between the two snapshots above.
    data_changes = models.JSONField(default=list, blank=True)
    data_confirmed_at = models.DateTimeField(null=True, blank=True)
    consent_data_valid_at = models.DateTimeField(null=True, blank=True)
    consent_conditions_at = models.DateTimeField(null=True, blank=True)

    form_language = models.CharField(max_length=8, blank=True)
    form_pdf = models.BinaryField(null=True, blank=True, editable=False)
    form_sha256 = models.CharField(_("renewal form SHA-256"), max_length=64, blank=True)
    form_generated_at = models.DateTimeField(null=True, blank=True)
    conditions_pdf = models.BinaryField(null=True, blank=True, editable=False)
    conditions_sha256 = models.CharField(_("general conditions SHA-256"), max_length=64, blank=True)
    signed_form_pdf = models.BinaryField(null=True, blank=True, editable=False)
    signed_form_sha256 = models.CharField(_("signed form SHA-256"), max_length=64, blank=True)

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("decided by"),
    )
    decision_reason = models.TextField(_("reason"), blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    expiry_cause = models.CharField(max_length=32, choices=ExpiryCause.choices, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("renewal request")
        verbose_name_plural = _("renewal requests")
        ordering = ["-created_at", "-pk"]
        indexes = [
            # The approval queue: one organization's submitted requests, oldest first.
            models.Index(
                fields=["organization", "submitted_at", "id"],
                condition=models.Q(state="submitted"),
                name="renewal_queue_idx",
            ),
            models.Index(fields=["state", "created_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["old_certificate"],
                condition=models.Q(state__in=[s.value for s in OPEN_STATES]),
                name="renewal_one_open_per_certificate",
            ),
            models.CheckConstraint(condition=models.Q(state__in=RenewalState.values), name="renewal_state_known"),
            models.CheckConstraint(
                condition=models.Q(state__in=[RenewalState.DRAFT, RenewalState.CANCELLED, RenewalState.EXPIRED])
                | (~models.Q(signed_form_sha256="") & models.Q(submitted_at__isnull=False)),
                name="renewal_submitted_has_signed_form",
            ),
            models.CheckConstraint(
                condition=~models.Q(state=RenewalState.REJECTED)
                | (~models.Q(decision_reason="") & models.Q(decided_at__isnull=False)),
                name="renewal_rejected_has_reason",
            ),
            models.CheckConstraint(
                condition=~models.Q(state__in=[RenewalState.ISSUED, RenewalState.ACTIVATED])
                | models.Q(new_certificate__isnull=False, decided_at__isnull=False),
                name="renewal_issued_has_certificate",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.state})"

    @property
    def number(self) -> str:
        """The request number printed on the form and quoted to the registration office."""
        year = timezone.localtime(self.created_at).year
        return f"RIN-{year}-{self.pk:06d}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES
