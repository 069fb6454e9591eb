from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from signing.exam_records import exam_records_write


class Command(BaseCommand):
    help = (
        "Write N sample one-page exam records (verbale-00001.pdf…) into DIR, for trying the panel's signing "
        "page and the batch API. The content depends only on the index."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("count", type=int, metavar="N")
        parser.add_argument("directory", type=Path, metavar="DIR")
        parser.add_argument("--professor", default="Prof. Mario Rossi", help="the signer named on the records")

    def handle(self, *args: Any, **options: Any) -> None:
        count: int = options["count"]
        if not 1 <= count <= 100_000:
            raise CommandError("N must be between 1 and 100000")
        paths, seconds = exam_records_write(
            count=count, directory=options["directory"], professor=options["professor"]
        )
        rate = count / seconds if seconds else float("inf")
        self.stdout.write(
            f"{len(paths)} exam records in {options['directory']} in {seconds:.2f} s ({rate:.1f} records/s)"
        )
