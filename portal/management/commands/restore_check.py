from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Holder, Organization
from audit.models import AuditEvent
from certificates.models import CertificateAuthority
from certificates.selectors import authority_x509, certificate_counts_by_state
from certificates.services import authority_private_key
from certificates.vault import vault_get
from core.schema import migrations_pending
from portal.checkpoints import audit_chain_verify_with_checkpoint, checkpoint_latest
from signing.models import SignatureRecord

_PROBE = b"restore_check: this CA key still signs"


def _authority_signs(authority: CertificateAuthority) -> None:
    """Open the authority's key through the vault, sign a probe, verify it with the certificate's key:
    proves the key material restored with the database (the KEK files, or the HSM token) is the one
    its certificate certifies."""
    key = authority_private_key(authority)
    public = authority_x509(authority).public_key()
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(key.sign(_PROBE, ec.ECDSA(hashes.SHA256())), _PROBE, ec.ECDSA(hashes.SHA256()))
    elif isinstance(key, rsa.RSAPrivateKey) and isinstance(public, rsa.RSAPublicKey):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
        public.verify(key.sign(_PROBE, pss, hashes.SHA256()), _PROBE, pss, hashes.SHA256())
    else:
        raise InvalidSignature(f"the key ({type(key).__name__}) does not match the certificate's")


class Command(BaseCommand):
    help = (
        "Check a restored installation before it serves: every migration applied, the audit chain intact "
        "and reaching the last checkpoint of the checkpoint file, the key vault open and every current CA "
        "key signing; then print what the database holds. Exits non-zero, naming the failure, otherwise."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--checkpoint-file", type=Path, default=None,
            help="the checkpoint file restored with the backup (default: AUDIT_CHECKPOINT_FILE)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        failures: list[str] = []
        for name, step in (("migrations", self._migrations), ("audit", self._audit), ("keys", self._keys)):
            try:
                self.stdout.write(f"{name}: {step(options)}")
            except Exception as exc:  # noqa: BLE001  (every check runs; each failure is named, none hides another)
                failures.append(f"{name}: {exc}")
                self.stderr.write(f"{name}: FAILED — {exc}")
        if failures:
            raise CommandError("restore check FAILED — " + "; ".join(failures))
        self.stdout.write(self._counts())
        self.stdout.write(self.style.SUCCESS("restore check passed"))

    def _migrations(self, options: dict[str, Any]) -> str:
        pending = migrations_pending()
        if pending:
            raise RuntimeError(
                f"{len(pending)} migrations not applied ({', '.join(pending[:5])}…): a dump of another version?")
        return "all applied"

    def _audit(self, options: dict[str, Any]) -> str:
        path = options["checkpoint_file"] or Path(settings.AUDIT_CHECKPOINT_FILE)
        # Unlike verify_audit, no checkpoint is a failure here: without one a restore from an older
        # dump (the trail's tail missing) cannot be told from a complete one.
        checkpoint = checkpoint_latest(path)
        if checkpoint is None:
            raise RuntimeError(f"no checkpoint in {path}: restore the checkpoint file with the dump")
        report = audit_chain_verify_with_checkpoint(checkpoint=checkpoint)
        if not report.ok:
            raise RuntimeError(f"chain broken at #{report.broken_at}: {report.reason}")
        return (f"chain intact, {report.checked} events, reaching the checkpoint #{checkpoint.seq} "
                f"of {checkpoint.published_at}")

    def _keys(self, options: dict[str, Any]) -> str:
        vault = vault_get()
        vault.check()
        authorities = list(CertificateAuthority.objects.filter(is_current=True).order_by("pk"))
        if not authorities:
            raise RuntimeError("no current certificate authority in the database")
        for authority in authorities:
            try:
                _authority_signs(authority)
            except Exception as exc:
                raise RuntimeError(
                    f"the {authority.role} CA key does not open or sign through the {vault.name} vault "
                    f"({type(exc).__name__}): are the key files (CA_KEK_KEYS) or the HSM token of this backup?"
                ) from exc
        return f"{vault.name} vault open; " + ", ".join(f"{a.role} CA signs" for a in authorities)

    def _counts(self) -> str:
        states = certificate_counts_by_state()
        by_state = ", ".join(f"{state} {n}" for state, n in sorted(states.items()))
        return (
            f"holds: {Organization.objects.count()} organizations, {Holder.objects.count()} holders, "
            f"certificates ({by_state or 'none'}), {SignatureRecord.objects.count()} signatures, "
            f"{AuditEvent.objects.count()} audit events"
        )
