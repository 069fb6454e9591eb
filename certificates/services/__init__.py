"""Every state change of the CA and of certificates (see each module)."""

from __future__ import annotations

from certificates.pin_policy import pin_validate
from certificates.services.authority import (
    authority_hierarchy_build,
    authority_init,
    authority_private_key,
    ocsp_responder_rotate,
)
from certificates.services.custody import (
    certificate_key_unlock,
    certificate_pin_change,
    keys_migrate_to_device,
    keys_rewrap_kek,
)
from certificates.services.lifecycle import (
    certificate_activate,
    certificate_block,
    certificate_expire,
    certificate_issue,
    certificate_reactivate,
    certificate_request,
    certificate_revoke,
    certificate_suspend,
)
from certificates.services.reminders import expiry_reminders_send
from certificates.services.revocation import crl_publish, crl_refresh, ocsp_respond
from certificates.services.schedule import (
    certificates_auto_revoke_suspended,
    certificates_expire_past_validity,
    certificates_expire_unactivated,
)

__all__ = [
    "authority_hierarchy_build",
    "authority_init",
    "authority_private_key",
    "certificate_activate",
    "certificate_block",
    "certificate_expire",
    "certificate_issue",
    "certificate_key_unlock",
    "certificate_pin_change",
    "certificate_reactivate",
    "certificate_request",
    "certificate_revoke",
    "certificate_suspend",
    "certificates_auto_revoke_suspended",
    "certificates_expire_past_validity",
    "certificates_expire_unactivated",
    "crl_publish",
    "expiry_reminders_send",
    "crl_refresh",
    "keys_migrate_to_device",
    "keys_rewrap_kek",
    "ocsp_respond",
    "ocsp_responder_rotate",
    "pin_validate",
]
