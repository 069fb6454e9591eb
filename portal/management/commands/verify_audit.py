from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from portal.checkpoints import Checkpoint, audit_chain_verify_with_checkpoint, checkpoint_latest


class Command(BaseCommand):
    help = (
        "Check the audit trail's HMAC chain against the latest published checkpoint; exits non-zero if any "
        "row was edited, deleted or reordered, or if the trail no longer reaches the checkpoint."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--checkpoint-file", type=Path, default=None,
            help="checkpoints to compare with (default: AUDIT_CHECKPOINT_FILE; use a copy kept outside this server)",
        )
        parser.add_argument(
            "--checkpoint", default=None,
            help="one checkpoint as published (the JSON line of the file or of the admins' e-mail)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["checkpoint"]:
            try:
                checkpoint: Checkpoint | None = Checkpoint.from_json(options["checkpoint"])
            except (ValueError, KeyError, TypeError) as exc:
                raise CommandError(f"--checkpoint is not a published checkpoint: {exc}") from exc
        else:
            path = options["checkpoint_file"] or Path(settings.AUDIT_CHECKPOINT_FILE)
            try:
                checkpoint = checkpoint_latest(path)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            if checkpoint is None:
                self.stderr.write(f"no checkpoint in {path}: a removed tail of the trail cannot be detected")
        report = audit_chain_verify_with_checkpoint(checkpoint=checkpoint)
        if not report.ok:
            raise CommandError(
                f"audit chain BROKEN at #{report.broken_at}: {report.reason} ({report.checked} rows verified)"
            )
        against = f", reaching the checkpoint at #{report.checkpoint_seq}" if report.checkpoint_seq is not None else ""
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {report.checked} events verified{against}"))
