from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from core.errors import ApplicationError
from otp.importing import MAX_FILE_BYTES, ImportReport, tokens_import


def _read(path: str, limit: int, what: str) -> bytes:
    try:
        with Path(path).open("rb") as handle:
            content = handle.read(limit + 1)
    except OSError as exc:
        raise CommandError(f"cannot read the {what} {path!r}: {exc.strerror}") from exc
    if len(content) > limit:
        raise CommandError(f"the {what} {path!r} is larger than {limit} bytes")
    return content


class Command(BaseCommand):
    help = (
        "Import hardware-token seeds from a vendor file (CSV with header serial,key,type,digits,counter_or_period, "
        "or PSKC RFC 6030) into the inventory, and print the report. The passphrase or pre-shared key (hex) of "
        "an encrypted PSKC file is read from a file, never from the command line. Exits non-zero when the file "
        "is refused as a whole (nothing imported)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the CSV or PSKC file")
        secret = parser.add_mutually_exclusive_group()
        secret.add_argument("--passphrase-file", help="file holding the PSKC passphrase (one trailing newline ignored)")
        secret.add_argument("--psk-file", help="file holding the PSKC pre-shared key in hexadecimal")

    def handle(self, *args: Any, **options: Any) -> None:
        content = _read(options["file"], MAX_FILE_BYTES, "file")
        passphrase = psk_hex = None
        if options["passphrase_file"]:
            raw = _read(options["passphrase_file"], 4096, "passphrase file")
            try:
                passphrase = raw.decode("utf-8").removesuffix("\n").removesuffix("\r")
            except UnicodeDecodeError as exc:
                raise CommandError("the passphrase file is not UTF-8 text") from exc
        if options["psk_file"]:
            psk_hex = _read(options["psk_file"], 4096, "key file").decode("ascii", "replace").strip()
        try:
            report = tokens_import(
                content=content, filename=Path(options["file"]).name, actor=None, passphrase=passphrase, psk_hex=psk_hex
            )
        except ApplicationError as exc:
            raise CommandError(str(exc.message)) from exc
        self._print(report)

    def _print(self, report: ImportReport) -> None:
        self.stdout.write(report.summary())
        for serial in report.imported:
            self.stdout.write(self.style.SUCCESS(f"  + {serial}"))
        for label, problems in ((_("duplicate"), report.duplicates), (_("rejected"), report.rejected)):
            for problem in problems:
                line = _("%(what)s, row %(row)s, serial %(serial)s: %(reason)s") % {
                    "what": label, "row": problem.row, "serial": problem.serial or "-", "reason": problem.reason,
                }
                self.stdout.write(self.style.WARNING(f"  - {line}"))
