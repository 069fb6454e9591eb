"""Signature activations (SAD), the holder's signature history, and the CSC OAuth 2.0 credential grants."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from oauth2_provider.settings import oauth2_settings

from accounts.models import ApiClient, Holder, Organization
from certificates.models import Certificate


class Channel(models.TextChoices):
    PANEL = "panel", _("selfcare panel")
    CSC = "csc", _("CSC API")
    API = "api", _("batch API")


class SignatureActivation(models.Model):
    """One PIN + OTP authorization to sign: these hashes (or this many documents), with this
    certificate, for this API client, for a few minutes, once. Design in
    ``signing/services/activation.py``.

    ``wrapped_data_key`` is the certificate's data key encrypted under a one-time key that only the
    SAD token carries: useless without the token, erased when the activation is used up or expires.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    holder = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="signature_activations")
    certificate = models.ForeignKey(Certificate, on_delete=models.PROTECT, related_name="signature_activations")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    # The OAuth2 client_id of the API client that asked, if any: the SAD is usable by that client only.
    client_id = models.CharField(max_length=100, blank=True)
    hash_algorithm = models.CharField(max_length=16, default="sha256")
    # Hex digests still authorized (hash-bound activation); empty for a count-bound one (the panel).
    hashes = models.JSONField(default=list, blank=True)
    num_signatures = models.PositiveIntegerField()
    signatures_left = models.PositiveIntegerField()
    # The CertificateKey version the data key belongs to: a PIN change in between makes it useless.
    key_version = models.PositiveIntegerField()
    wrapped_data_key = models.BinaryField(blank=True, default=b"", editable=False)
    ip = models.CharField(max_length=45, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    # The batch job this activation was handed to (one SAD, one job): from then on only that job's
    # worker may spend it; a second job, a synchronous call or an extension with the same SAD is refused.
    reserved_for = models.OneToOneField(
        "SigningJob", on_delete=models.SET_NULL, null=True, blank=True, related_name="activation",
        editable=False,
    )

    class Meta:
        verbose_name = _("signature activation")
        verbose_name_plural = _("signature activations")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["closed_at", "expires_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(signatures_left__lte=models.F("num_signatures")),
                name="signature_activation_left_within_authorized",
            ),
            # Used up or closed: no key material left on the row.
            models.CheckConstraint(
                condition=models.Q(closed_at__isnull=True, signatures_left__gt=0) | models.Q(wrapped_data_key=b""),
                name="signature_activation_closed_has_no_key",
            ),
        ]

    def __str__(self) -> str:
        return f"signature activation {self.public_id} ({self.signatures_left}/{self.num_signatures})"

    @property
    def aad(self) -> bytes:
        """What the wrapped data key is bound to: this activation, this certificate, this key version."""
        return f"firma-remota/sad|{self.public_id}|certificate:{self.certificate_id}|{self.key_version}".encode()


class SignatureRecord(models.Model):
    """One signature made: the holder's history and the evidence of what was signed, when, how."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    holder = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="signature_records")
    certificate = models.ForeignKey(Certificate, on_delete=models.PROTECT, related_name="signature_records")
    activation = models.ForeignKey(
        SignatureActivation, on_delete=models.SET_NULL, null=True, blank=True, related_name="records"
    )
    document_name = models.CharField(_("document"), max_length=255, blank=True)
    # SHA-256 of the document as received (PDF) or the hash signed (signHash).
    document_sha256 = models.CharField(_("SHA-256"), max_length=128)
    signed_sha256 = models.CharField(max_length=64, blank=True)
    # B-B, B-T, B-LT, B-LTA for PDFs; "hash" for a raw signature over a digest.
    level = models.CharField(_("level"), max_length=8)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    client_id = models.CharField(_("API client"), max_length=100, blank=True)
    signed_at = models.DateTimeField(_("signed at"), default=timezone.now)

    class Meta:
        verbose_name = _("signature")
        verbose_name_plural = _("signatures")
        ordering = ["-signed_at", "-pk"]
        indexes = [models.Index(fields=["holder", "-signed_at"])]

    def __str__(self) -> str:
        return f"{self.document_name or self.document_sha256[:16]} ({self.level}, {self.signed_at:%Y-%m-%d %H:%M})"


class SigningJobState(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    DONE = "done", _("done")
    FAILED = "failed", _("failed")


class SigningJob(models.Model):
    """An asynchronous batch of the exam-records API: the documents to sign, then the signed ones.

    The SAD token that authorizes the batch is **not** on this row, nor anywhere in the database: it
    travels to the worker inside the Celery message only (design in ``signing/services/jobs.py``).
    Results are kept until ``expires_at`` and then deleted by the beat job ``signing_jobs_purge``.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="signing_jobs")
    holder = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="signing_jobs")
    certificate = models.ForeignKey(Certificate, on_delete=models.PROTECT, related_name="signing_jobs")
    state = models.CharField(max_length=8, choices=SigningJobState.choices, default=SigningJobState.QUEUED)
    level = models.CharField(max_length=8)
    reason = models.CharField(max_length=200, blank=True)
    location = models.CharField(max_length=200, blank=True)
    total = models.PositiveIntegerField()
    done = models.PositiveIntegerField(default=0)
    ip = models.CharField(max_length=45, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    # The Celery node (``signing@host``) running the job: when that node starts again, a job still
    # running under its name was interrupted by the node's death and is failed at once.
    runner = models.CharField(max_length=200, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Until when the signed documents (or the failure) can be fetched; set when the job ends.
    expires_at = models.DateTimeField(null=True, blank=True)
    # When the beat job deleted the documents; the row stays a while so a late fetch gets 410, not 404.
    purged_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name = _("signing job")
        verbose_name_plural = _("signing jobs")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["state", "expires_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(done__lte=models.F("total")), name="signing_job_done_within_total"
            ),
            models.CheckConstraint(condition=models.Q(total__gte=1), name="signing_job_not_empty"),
        ]

    def __str__(self) -> str:
        return f"signing job {self.public_id} ({self.state}, {self.done}/{self.total})"


class SigningJobDocument(models.Model):
    """One PDF of a job, in its place: as received (until signed), then as signed (until expiry) —
    or, when it could not be signed, why (the job's other documents are signed all the same)."""

    job = models.ForeignKey(SigningJob, on_delete=models.CASCADE, related_name="documents")
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    data = models.BinaryField(blank=True, default=b"", editable=False)
    signed = models.BinaryField(blank=True, default=b"", editable=False)
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name = _("signing job document")
        verbose_name_plural = _("signing job documents")
        ordering = ["job", "position"]
        constraints = [models.UniqueConstraint(fields=["job", "position"], name="signing_job_document_position")]

    def __str__(self) -> str:
        return f"{self.name} (#{self.position})"


class CredentialAuthorizationCode(models.Model):
    """An OAuth 2.0 authorization code of the CSC ``credential`` scope: the holder consented with PIN + OTP.

    Single use, minutes long, bound to one API client, one redirect URI and one PKCE S256 challenge.
    The code is stored only as its SHA-256; the SAD it will hand over only sealed under a key derived
    from the code (``signing.sad.sad_seal``), so this row without the code opens nothing.
    """

    code_checksum = models.CharField(max_length=64, unique=True)
    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="+")
    holder = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="+")
    certificate = models.ForeignKey(Certificate, on_delete=models.PROTECT, related_name="+")
    activation = models.ForeignKey(SignatureActivation, on_delete=models.CASCADE, related_name="+")
    redirect_uri = models.TextField()
    code_challenge = models.CharField(max_length=128)
    sealed_sad = models.BinaryField(blank=True, default=b"", editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="credential_code_expires")]

    def __str__(self) -> str:
        return f"credential code #{self.pk}"  # never the code: it is not stored, and would be a credential

    @property
    def seal_context(self) -> bytes:
        return f"code|{self.code_checksum}|{self.activation_id}|{self.client_id}".encode()


class CredentialAccessGrant(models.Model):
    """The access token (scope ``credential``) a code was exchanged for, and the SAD it signs with.

    The token is django-oauth-toolkit's ``AccessToken`` (stored as its SHA-256 only, so it
    authenticates like any other); this row keeps the SAD sealed under a key derived from the bearer
    value, which only the client has. Deleting the token (revocation, the client revoked) deletes this.
    """

    access_token = models.OneToOneField(
        oauth2_settings.ACCESS_TOKEN_MODEL, on_delete=models.CASCADE, related_name="credential_grant"
    )
    code = models.OneToOneField(
        CredentialAuthorizationCode, on_delete=models.SET_NULL, null=True, blank=True, related_name="grant"
    )
    certificate = models.ForeignKey(Certificate, on_delete=models.PROTECT, related_name="+")
    activation = models.ForeignKey(SignatureActivation, on_delete=models.CASCADE, related_name="+")
    sealed_sad = models.BinaryField(blank=True, default=b"", editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="credential_grant_expires")]

    def __str__(self) -> str:
        return f"credential grant #{self.pk}"

    @property
    def seal_context(self) -> bytes:
        return f"token|{self.access_token_id}|{self.activation_id}".encode()
