from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.demo import seed_demo


class Command(BaseCommand):
    help = "Create the demo organizations, operators and holders (idempotent); print a JSON summary."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="run even with DEBUG off (never in production)")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError("seed_demo creates accounts with published passwords: refusing with DEBUG off")
        self.stdout.write(json.dumps(seed_demo(), indent=2, ensure_ascii=False))
