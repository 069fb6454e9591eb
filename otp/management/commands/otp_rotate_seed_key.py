from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from otp.services import seeds_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every OTP seed under the current key (OTP_SEED_KEY_ID). Add the new key to "
        "OTP_SEED_KEYS, point OTP_SEED_KEY_ID at it, run this, then remove the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = seeds_reencrypt()
        self.stdout.write(self.style.SUCCESS(f"{count} seed(s) re-encrypted under key {settings.OTP_SEED_KEY_ID!r}"))
