"""Every state change of the signing app: activations (SAD), signatures, validation reports."""

from __future__ import annotations

from signing.services.activation import (
    signature_activations_purge,
    signature_authorize,
    signature_sign_documents,
    signature_sign_hashes,
)

__all__ = [
    "signature_activations_purge",
    "signature_authorize",
    "signature_sign_documents",
    "signature_sign_hashes",
]
