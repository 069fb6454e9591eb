from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from certificates.selectors import authority_current
from certificates.services import authority_init


class Command(BaseCommand):
    help = (
        "Create the certification authority: root CA, issuing CA, OCSP responder and TSA certificates, "
        "keys sealed under the KEK. Idempotent: an existing authority is never replaced."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        created = authority_init()
        if not created:
            self.stdout.write("The CA already exists; nothing was changed.")
        for authority in created:
            self.stdout.write(self.style.SUCCESS(f"created {authority.role}: {authority.subject}"))
        issuing = authority_current("issuing")
        self.stdout.write(f"issuing CA serial {int(issuing.serial):x}, valid until {issuing.not_after:%Y-%m-%d}")
