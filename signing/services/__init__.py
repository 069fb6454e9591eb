"""Every state change of the signing app: activations (SAD), signatures, validation reports."""

from __future__ import annotations

from signing.services.activation import (
    signature_activation_check,
    signature_activation_close_for_job,
    signature_activation_extend,
    signature_activation_reserve,
    signature_activations_purge,
    signature_authorize,
)
from signing.services.jobs import signing_job_create, signing_job_run, signing_jobs_purge
from signing.services.oauth import (
    credential_code_exchange,
    credential_code_issue,
    credential_consent_refuse,
    credential_grant_sad,
    credential_grants_purge,
    credential_token_revoked,
    csc_direct_authorization_check,
)
from signing.services.signatures import signature_sign_digests, signature_sign_documents, signature_sign_hashes
from signing.services.validation import SignatureReport, ValidationReport, pdf_validate

__all__ = [
    "SignatureReport",
    "ValidationReport",
    "credential_code_exchange",
    "credential_code_issue",
    "credential_consent_refuse",
    "credential_grant_sad",
    "credential_grants_purge",
    "credential_token_revoked",
    "csc_direct_authorization_check",
    "pdf_validate",
    "signature_activation_check",
    "signature_activation_close_for_job",
    "signature_activation_extend",
    "signature_activation_reserve",
    "signature_activations_purge",
    "signature_authorize",
    "signature_sign_digests",
    "signature_sign_documents",
    "signature_sign_hashes",
    "signing_job_create",
    "signing_job_run",
    "signing_jobs_purge",
]
