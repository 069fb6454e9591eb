"""The CA itself: root, issuing CA, OCSP responder and TSA, created once by ``manage.py ca_init``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.events import AuditEventType
from audit.services import audit_record
from certificates.models import AuthorityRole, CertificateAuthority
from certificates.profile import AUTHORITY_PROFILES, authority_certificate_build, random_serial
from certificates.selectors import authority_x509
from certificates.vault import PrivateKey, sealed_from_row, sealed_to_row, vault_get

# Creation order; each role names the role that signs it.
AUTHORITY_ISSUERS: dict[str, str | None] = {
    AuthorityRole.ROOT: None,
    AuthorityRole.ISSUING: AuthorityRole.ROOT,
    AuthorityRole.OCSP: AuthorityRole.ISSUING,
    AuthorityRole.TSA: AuthorityRole.ISSUING,
}


def authority_private_key(authority: CertificateAuthority) -> PrivateKey:
    """The authority's key, in memory only (CA keys are wrapped by the KEK alone: no PIN)."""
    return vault_get(authority.vault).open(sealed=sealed_from_row(authority), binding=authority.key_binding)


def authority_build(
    *, role: str, issuer: CertificateAuthority | None, now: datetime | None = None
) -> CertificateAuthority:
    """A new authority row (unsaved): key generated and sealed, certificate signed by ``issuer``."""
    now = now or timezone.now()
    serial = random_serial()
    authority = CertificateAuthority(role=role, is_current=True, issuer=issuer, serial=str(serial))
    vault = vault_get()
    private_key, sealed = vault.generate(
        algorithm=AUTHORITY_PROFILES[role].key_algorithm, binding=authority.key_binding
    )
    if issuer is None:
        issuer_cert, issuer_key = None, private_key
    else:
        issuer_cert, issuer_key = authority_x509(issuer), authority_private_key(issuer)
    cert = authority_certificate_build(
        role=role, public_key=private_key.public_key(), serial=serial, now=now,
        issuer_cert=issuer_cert, issuer_key=issuer_key,
    )
    authority.der = cert.public_bytes(Encoding.DER)
    authority.subject = cert.subject.rfc4514_string()
    authority.not_before = cert.not_valid_before_utc
    authority.not_after = cert.not_valid_after_utc
    sealed_to_row(authority, sealed)
    return authority


def authority_hierarchy_build(*, now: datetime | None = None) -> list[CertificateAuthority]:
    """A whole new hierarchy (root, issuing, OCSP, TSA) as unsaved rows, in creation order.

    Save them in order (each ``issuer`` must be saved before the row it signed). Tests build this
    once per session and load it into each test database.
    """
    built: dict[str, CertificateAuthority] = {}
    for role, issuer_role in AUTHORITY_ISSUERS.items():
        built[role] = authority_build(role=role, issuer=built[issuer_role] if issuer_role else None, now=now)
    return list(built.values())


def authority_init(*, actor: Any = None) -> list[CertificateAuthority]:
    """Create whatever part of the CA is missing; never replaces an existing authority.

    Returns the authorities created (empty when the CA already exists). The first CRLs are published.
    """
    from certificates.services.revocation import crl_publish

    created: list[CertificateAuthority] = []
    with transaction.atomic():
        existing = {a.role: a for a in CertificateAuthority.objects.select_for_update().filter(is_current=True)}
        for role, issuer_role in AUTHORITY_ISSUERS.items():
            if role in existing:
                continue
            authority = authority_build(role=role, issuer=existing[issuer_role] if issuer_role else None)
            authority.save(force_insert=True)
            existing[role] = authority
            created.append(authority)
            audit_record(
                event_type=AuditEventType.CA_AUTHORITY_CREATED,
                actor=actor,
                subject=authority,
                details={"role": role, "serial": authority.serial, "subject": authority.subject},
            )
        if created:
            crl_publish(role=AuthorityRole.ROOT)
            crl_publish(role=AuthorityRole.ISSUING)
    return created


def ocsp_responder_rotate(*, now: datetime | None = None, actor: Any = None) -> CertificateAuthority | None:
    """Give the OCSP responder a new key and certificate when the current one expires within
    ``CA_OCSP_RESPONDER_ROTATE_DAYS``; returns the new authority, or None when nothing was due.

    The responder's certificate carries id-pkix-ocsp-nocheck, so it is short-lived
    (``CA_OCSP_RESPONDER_VALIDITY_DAYS``) and the daily beat job calls this well before it expires:
    an answer is never signed by an expired responder. The previous row stays (not current) with its
    certificate, which relying parties may find in answers they stored. Idempotent under the row
    lock: two runs at once rotate once.
    """
    now = now or timezone.now()
    with transaction.atomic():
        current = (
            CertificateAuthority.objects.select_for_update()
            .filter(role=AuthorityRole.OCSP, is_current=True)
            .first()
        )
        if current is None:
            return None  # the CA is not initialised: ca_init creates the responder
        if current.not_after - now > timedelta(days=settings.CA_OCSP_RESPONDER_ROTATE_DAYS):
            return None
        issuing = CertificateAuthority.objects.get(role=AuthorityRole.ISSUING, is_current=True)
        # One current row per role (a database constraint): retire the old one before the insert.
        CertificateAuthority.objects.filter(pk=current.pk).update(is_current=False)
        responder = authority_build(role=AuthorityRole.OCSP, issuer=issuing, now=now)
        responder.save(force_insert=True)
        audit_record(
            event_type=AuditEventType.CA_OCSP_RESPONDER_ROTATED,
            actor=actor,
            subject=responder,
            details={
                "serial": responder.serial,
                "not_after": responder.not_after.isoformat(),
                "previous_serial": current.serial,
                "previous_not_after": current.not_after.isoformat(),
            },
        )
    return responder
