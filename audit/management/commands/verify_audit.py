from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.services import audit_chain_verify


class Command(BaseCommand):
    help = "Check the audit trail's HMAC chain; exits non-zero if any row was edited, deleted or reordered."

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit_chain_verify()
        if not report.ok:
            raise CommandError(
                f"audit chain BROKEN at #{report.broken_at}: {report.reason} ({report.checked} rows verified before it)"
            )
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {report.checked} events verified"))
