from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from certificates.selectors import keys_awaiting_reseal_count
from certificates.services import keys_migrate_to_device
from core.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Move an installation from the software key vault into the HSM (CA_KEY_VAULT_BACKEND = "
        "certificates.hsm.Pkcs11KeyVault): the CA's keys become token objects and their software copies are "
        "erased from the database; holder keys are re-wrapped under the HSM without their PINs changing. "
        "Resumable: run it again after an interruption. Keep CA_KEK_KEYS and CA_PIN_PEPPER until every holder "
        "has used their key once (the report says how many wait); database backups taken before still hold "
        "the software copies and must be destroyed as key material."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            moved = keys_migrate_to_device()
        except ApplicationError as exc:
            raise CommandError(str(exc.message)) from exc
        waiting = keys_awaiting_reseal_count()
        self.stdout.write(self.style.SUCCESS(
            f"{moved['authorities']} CA key(s) imported into the HSM, {moved['holder_keys']} holder key(s) "
            f"re-wrapped; {waiting} holder key(s) move into the HSM at their holder's next use"
        ))
