from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from certificates.services import keys_rewrap_kek


class Command(BaseCommand):
    help = (
        "Re-wrap every private key (holders' and the CA's) under the current KEK (CA_KEK_KEY_ID). Add the "
        "new key to CA_KEK_KEYS, point CA_KEK_KEY_ID at it, run this, then remove the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = keys_rewrap_kek()
        self.stdout.write(self.style.SUCCESS(f"{count} key(s) re-wrapped under KEK {settings.CA_KEK_KEY_ID!r}"))
