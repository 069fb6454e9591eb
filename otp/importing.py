"""Hardware-token seed import: a vendor's CSV or PSKC (RFC 6030) file into the token inventory.

Import policy
-------------

A file is read and checked **as a whole before anything is written**.

*Structural problems refuse the whole file* — nothing is imported and one clear message says why:
a file larger than 4 MiB or with more than 5,000 tokens; an empty file or one without tokens; a CSV
that is not UTF-8, lacks the header ``serial,key,type,digits,counter_or_period`` or is malformed
(e.g. an unterminated quote); XML that is not well-formed PSKC, or that carries a DTD or entity
declarations; an encrypted PSKC file without its passphrase or pre-shared key, with the wrong one,
or with the other kind of secret than the file uses; a passphrase or key given for a file that is
not encrypted; a MAC that does not match (the file was altered, or the key is wrong); a
CBC-encrypted secret without a MAC, or clear-text secrets mixed with encrypted ones (both would let
a forged seed slip in unauthenticated); an encryption, MAC or key derivation we do not support, or
a PBKDF2 iteration count above 1,000,000.

*Otherwise each token stands on its own*: a CSV row or a PSKC key that is wrong is **rejected** with
its reason (serial not exactly 13 digits, key not valid hex or shorter than 16 / longer than 64
bytes, type not ``hotp``/``totp``, digits not 6 or 8, counter or period out of range, an algorithm,
hash, response format, PIN or key policy we do not support, an expired key); a serial already in the
inventory, or present more than once in the file (then *none* of its rows is imported: we cannot
tell which seed belongs to the token in the box), is a **duplicate**. All the remaining tokens are
imported together in one transaction, in stock (``available``), each seed sealed with AES-GCM.
The report lists the serials imported, the duplicates and the rejected rows with their reasons.

Seeds never appear in the report, in error messages, in logs or in the audit trail: one
``otp.tokens_imported`` row records the counts, and a refused file leaves an
``otp.tokens_import_refused`` row with the reason.
A serial that is not 13 digits is not echoed either (a swapped column could put a seed there).

CSV format: UTF-8 (a BOM is fine), comma- or semicolon-separated (as the header is), header
``serial,key,type,digits,counter_or_period``. ``key`` is the seed in **hexadecimal** (spaces
allowed between groups; base32 is not accepted, because many strings are valid in both alphabets
and would silently give another seed — convert base32 seeds first). ``type`` is ``hotp`` or
``totp``; ``digits`` 6 or 8; ``counter_or_period`` the initial HOTP counter (default 0) or the TOTP
period in seconds (10–120, default 30). CSV tokens use HMAC-SHA-1 (the hash of RFC 4226 tokens).

PSKC: unencrypted, pre-shared key (AES/3DES/Camellia, CBC with HMAC or key wrap) and passphrase
(PBKDF2) key containers, HOTP and TOTP keys, the hash from ``<Suite>`` (SHA-1 by default), decimal
responses of 6 or 8 digits, TOTP with a start time (T0) of 0. XML signatures are not checked.
"""

from __future__ import annotations

import binascii
import csv
import io
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.parsers import expat

from django.db import transaction
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from audit.events import AuditEventType
from audit.models import Outcome
from audit.services import audit_record
from core.errors import ApplicationError
from otp.models import Algorithm, DeviceKind, DeviceState, OtpDevice

MAX_FILE_BYTES = 4 * 1024 * 1024  # a batch of 5,000 PSKC key packages is about 3 MiB
MAX_TOKENS = 5_000  # vendors ship batches of hundreds; more is a mistake or an attempt to tie up a worker
MAX_PBKDF2_ITERATIONS = 1_000_000  # the file chooses the count: bound the CPU one upload can cost
MIN_SEED_BYTES = 16  # RFC 4226 §4 R6: at least 128 bits
MAX_SEED_BYTES = 64  # a SHA-512 block; and the sealed seed must fit OtpDevice.seed_ciphertext
MAX_COUNTER = 2**62  # well inside PostgreSQL bigint, with room for look-ahead and resync windows
MIN_PERIOD, MAX_PERIOD = 10, 120  # the range OtpDevice allows
CSV_HEADER = ["serial", "key", "type", "digits", "counter_or_period"]

_SERIAL = re.compile(r"[0-9]{13}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_DIGITS = re.compile(r"[0-9]{1,20}")
_PSKC_SUFFIXES = (".xml", ".pskc", ".pskcxml")
_HASHES = {"sha1": Algorithm.SHA1, "sha256": Algorithm.SHA256, "sha512": Algorithm.SHA512}


@dataclass(frozen=True)
class RowProblem:
    """A token not imported. ``row`` is the CSV line or the position of the key in the PSKC file."""

    row: int
    serial: str  # only a well-formed 13-digit serial is echoed, otherwise ""
    problem: str  # stable, for machines: "bad_serial", "duplicate_in_file", …
    reason: str | Promise  # for people


@dataclass
class ImportReport:
    filename: str
    file_format: str  # "csv" or "pskc"
    imported: list[str] = field(default_factory=list)
    duplicates: list[RowProblem] = field(default_factory=list)
    rejected: list[RowProblem] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.imported) + len(self.duplicates) + len(self.rejected)

    def summary(self) -> str:
        return _("%(file)s: %(imported)s imported, %(duplicates)s duplicates, %(rejected)s rejected.") % {
            "file": self.filename, "imported": len(self.imported), "duplicates": len(self.duplicates),
            "rejected": len(self.rejected),
        }


@dataclass
class _Token:
    row: int
    serial: str
    kind: str
    seed: bytes = field(repr=False)  # never in a repr, a traceback's locals or a log line
    algorithm: str = Algorithm.SHA1
    digits: int = 6
    counter: int = 0
    period: int = 30


class _Rejected(Exception):
    def __init__(self, problem: str, reason: str | Promise) -> None:
        super().__init__(problem)
        self.problem, self.reason = problem, reason


def tokens_import(
    *,
    content: bytes,
    filename: str,
    actor: Any,
    passphrase: str | None = None,
    psk_hex: str | None = None,
    ip: str = "",
) -> ImportReport:
    """Import a vendor seed file into the inventory; see the module docstring for the policy.

    Raises :class:`ApplicationError` (and imports nothing) on a structural problem; otherwise returns
    the report, the good tokens committed in one transaction.
    """
    filename = _printable(filename, 120)
    file_format = "pskc" if _looks_like_xml(content, filename) else "csv"
    try:
        tokens, rejected = _read(content, file_format, passphrase or None, (psk_hex or "").strip() or None)
    except ApplicationError as exc:
        audit_record(
            event_type=AuditEventType.OTP_TOKENS_IMPORT_REFUSED,
            outcome=Outcome.FAILURE,
            actor=actor,
            ip=ip,
            details={"filename": filename, "format": file_format, "reason": exc.code},
        )
        raise
    report = ImportReport(filename=filename, file_format=file_format, rejected=rejected)

    seen: dict[str, int] = {}
    for serial in [t.serial for t in tokens] + [r.serial for r in rejected if r.serial]:
        seen[serial] = seen.get(serial, 0) + 1
    unique = []
    for token in tokens:
        if seen[token.serial] > 1:
            report.duplicates.append(_duplicate(token, "duplicate_in_file"))
        else:
            unique.append(token)

    with transaction.atomic():
        existing = set(_chunked_values("serial", [t.serial for t in unique]))
        fresh: list[tuple[_Token, OtpDevice]] = []
        for token in unique:
            if token.serial in existing:
                report.duplicates.append(_duplicate(token, "duplicate_in_database"))
            else:
                fresh.append((token, _device(token)))
        # One INSERT per 500 tokens: a file of 5,000 goes in within a web request, where one
        # device_create per token (savepoint, insert and audit row each) took ~25 s on PostgreSQL.
        # ignore_conflicts: a serial that a concurrent import committed after our check is skipped
        # (then reported as a duplicate below) rather than failing the whole file.
        OtpDevice.objects.bulk_create([device for _token, device in fresh], batch_size=500, ignore_conflicts=True)
        stored = set(_chunked_values("public_id", [device.public_id for _token, device in fresh]))
        for token, device in fresh:
            if device.public_id in stored:
                report.imported.append(token.serial)
            else:
                report.duplicates.append(_duplicate(token, "duplicate_in_database"))
        report.duplicates.sort(key=lambda r: r.row)
        audit_record(
            event_type=AuditEventType.OTP_TOKENS_IMPORTED,
            actor=actor,
            ip=ip,
            details={
                "filename": filename,
                "format": file_format,
                "rows": report.rows,
                "imported": len(report.imported),
                "duplicates": len(report.duplicates),
                "rejected": len(report.rejected),
            },
        )
    return report


def _duplicate(token: _Token, problem: str) -> RowProblem:
    reason = (
        _("This serial appears more than once in the file; none of its rows was imported.")
        if problem == "duplicate_in_file"
        else _("A token with this serial is already in the inventory.")
    )
    return RowProblem(row=token.row, serial=token.serial, problem=problem, reason=reason)


def _device(token: _Token) -> OtpDevice:
    """An unsaved device in stock, its seed sealed to it exactly as :func:`otp.services.device_create` does."""
    device = OtpDevice(
        public_id=uuid.uuid4(), kind=token.kind, serial=token.serial, algorithm=token.algorithm,
        digits=token.digits, period=token.period, counter=token.counter, state=DeviceState.AVAILABLE,
    )
    device.seal_seed(token.seed)
    return device


def _chunked_values(field_name: str, values: list[Any]) -> list[Any]:
    found: list[Any] = []
    for start in range(0, len(values), 500):  # stay under SQLite's bound on query parameters
        lookup = {f"{field_name}__in": values[start:start + 500]}
        found.extend(OtpDevice.objects.filter(**lookup).values_list(field_name, flat=True))
    return found


def _read(
    content: bytes, file_format: str, passphrase: str | None, psk_hex: str | None
) -> tuple[list[_Token], list[RowProblem]]:
    if len(content) > MAX_FILE_BYTES:
        raise ApplicationError(
            "import_too_large", _("The file is larger than %(size)s MiB.") % {"size": MAX_FILE_BYTES // 2**20}
        )
    if not content.strip():
        raise ApplicationError("import_empty", _("The file is empty."))
    if passphrase and psk_hex:
        raise ApplicationError("import_two_secrets", _("Give either a passphrase or a pre-shared key, not both."))
    if file_format == "csv":
        if passphrase or psk_hex:
            raise ApplicationError(
                "import_not_encrypted",
                _("A CSV file is not encrypted: a passphrase or pre-shared key applies only to PSKC files."),
            )
        tokens, rejected = _read_csv(content)
    else:
        tokens, rejected = _read_pskc(content, passphrase, psk_hex)
    if not tokens and not rejected:
        raise ApplicationError("import_no_tokens", _("The file contains no tokens."))
    return tokens, rejected


# --- CSV -----------------------------------------------------------------------------------------


def _read_csv(content: bytes) -> tuple[list[_Token], list[RowProblem]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ApplicationError("import_encoding", _("The CSV file is not UTF-8 text.")) from exc
    if "\x00" in text:
        raise ApplicationError("import_encoding", _("The CSV file is not UTF-8 text."))
    first_line = text.lstrip().split("\n", 1)[0]
    delimiter = ";" if ";" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    tokens: list[_Token] = []
    rejected: list[RowProblem] = []
    header_seen = False
    try:
        for fields in reader:
            if not any(value.strip() for value in fields):
                continue
            if not header_seen:
                if [value.strip().lower() for value in fields] != CSV_HEADER:
                    raise ApplicationError(
                        "import_csv_header",
                        _("The first line of the CSV file must be the header %(header)s.")
                        % {"header": ",".join(CSV_HEADER)},
                    )
                header_seen = True
                continue
            if len(tokens) + len(rejected) >= MAX_TOKENS:
                raise ApplicationError(
                    "import_too_many",
                    _("The file holds more than %(count)s tokens: split it.") % {"count": f"{MAX_TOKENS:,}"},
                )
            row = reader.line_num
            serial = fields[0].strip() if fields else ""
            shown = serial if _SERIAL.fullmatch(serial) else ""
            try:
                tokens.append(_csv_token(row, fields))
            except _Rejected as exc:
                rejected.append(RowProblem(row=row, serial=shown, problem=exc.problem, reason=exc.reason))
    except csv.Error as exc:
        raise ApplicationError(
            "import_csv_malformed",
            _("The CSV file is malformed near line %(line)s (for example an unterminated quote).")
            % {"line": reader.line_num},
        ) from exc
    if not header_seen:
        raise ApplicationError(
            "import_csv_header",
            _("The first line of the CSV file must be the header %(header)s.") % {"header": ",".join(CSV_HEADER)},
        )
    return tokens, rejected


def _csv_token(row: int, fields: list[str]) -> _Token:
    if len(fields) != len(CSV_HEADER):
        raise _Rejected(
            "bad_row",
            _("The row has %(found)s fields instead of %(expected)s.") % {"found": len(fields), "expected": 5},
        )
    serial, key, kind, digits, counter_or_period = (value.strip() for value in fields)
    serial = _check_serial(serial)
    kind = kind.lower()
    if kind not in ("hotp", "totp"):
        raise _Rejected("bad_type", _("The type must be hotp or totp."))
    if digits not in ("6", "8"):
        raise _Rejected("bad_digits", _("Only 6 or 8 digits are supported."))
    key = "".join(key.split())
    if not _HEX.fullmatch(key) or len(key) % 2:
        raise _Rejected("bad_key", _("The key is not valid hexadecimal."))
    seed = _check_seed(bytes.fromhex(key))
    token = _Token(row=row, serial=serial, kind=_kind(kind), seed=seed, digits=int(digits))
    if kind == "hotp":
        token.counter = _check_counter(_csv_number(counter_or_period, default=0))
    else:
        token.period = _check_period(_csv_number(counter_or_period, default=30))
    return token


def _csv_number(value: str, *, default: int) -> int:
    """The number in a cell; an empty cell is the default, anything else not a number is out of range."""
    if value == "":
        return default
    return int(value) if _DIGITS.fullmatch(value) else -1


# --- PSKC ----------------------------------------------------------------------------------------


class _Declaration(Exception):
    pass


def _refuse_declarations(content: bytes) -> None:
    """Well-formed XML without a DTD: no entity expansion, no external entities, whatever parses next."""

    def refuse(*args: object) -> None:
        raise _Declaration

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        parser.Parse(content, True)
    except _Declaration as exc:
        raise ApplicationError(
            "import_xml_dtd", _("The XML file declares a DTD or entities, which a PSKC file never needs.")
        ) from exc
    except expat.ExpatError as exc:
        raise ApplicationError("import_bad_xml", _("The file is not well-formed XML.")) from exc


def _read_pskc(content: bytes, passphrase: str | None, psk_hex: str | None) -> tuple[list[_Token], list[RowProblem]]:
    import pskc
    from pskc.exceptions import DecryptionError, KeyDerivationError, PSKCError
    from pskc.key import EncryptedValue

    _refuse_declarations(content)
    try:
        container = pskc.PSKC(io.BytesIO(content))
    except Exception as exc:
        # A third-party parser on untrusted input: besides ParseError it lets ValueError,
        # binascii.Error and dateutil's errors through for bad numbers, base64 and dates.
        raise ApplicationError(
            "import_bad_xml", _("The file is not a readable PSKC (RFC 6030) key container.")
        ) from exc
    keys = container.keys
    if len(keys) > MAX_TOKENS:
        raise ApplicationError(
            "import_too_many", _("The file holds more than %(count)s tokens: split it.") % {"count": f"{MAX_TOKENS:,}"}
        )
    # pskc keeps each value, clear or encrypted, in the attribute behind its property.
    stored = [getattr(key, "_secret", None) for key in keys]
    encrypted = [value for value in stored if isinstance(value, EncryptedValue)]
    encryption = container.encryption
    if encrypted or encryption.algorithm:
        if len(encrypted) != sum(value is not None for value in stored):
            raise ApplicationError(
                "import_mixed_secrets",
                _("The file mixes encrypted and clear-text secrets; it cannot be trusted. Nothing was imported."),
            )
        for value in encrypted:
            if (value.algorithm or encryption.algorithm or "").endswith("-cbc") and not value.mac_value:
                raise ApplicationError(
                    "import_mac_missing",
                    _("An encrypted secret has no MAC, so its integrity cannot be checked. Nothing was imported."),
                )
        _unlock(container, passphrase, psk_hex)
    elif passphrase or psk_hex:
        raise ApplicationError(
            "import_not_encrypted", _("This file is not encrypted, but a passphrase or pre-shared key was given.")
        )

    tokens: list[_Token] = []
    rejected: list[RowProblem] = []
    try:
        if isinstance(getattr(container.mac, "_key", None), EncryptedValue):
            container.mac.key  # noqa: B018 - decrypting the MAC key first tells a wrong key from tampering
        for position, key in enumerate(keys, start=1):
            serial = _printable(key.serial, 20)
            shown = serial if _SERIAL.fullmatch(serial) else ""
            try:
                tokens.append(_pskc_token(position, key))
            except _Rejected as exc:
                rejected.append(RowProblem(row=position, serial=shown, problem=exc.problem, reason=exc.reason))
    except DecryptionError as exc:
        if str(exc) == "MAC value does not match":  # pskc's message for a failed ValueMAC check
            raise ApplicationError(
                "import_mac_mismatch",
                _("The file's integrity check (MAC) failed: the file was altered or the key is wrong. "
                  "Nothing was imported."),
            ) from exc
        raise ApplicationError(
            "import_decrypt_failed",
            _("The file could not be decrypted: wrong passphrase or pre-shared key, or an unsupported encryption. "
              "Nothing was imported."),
        ) from exc
    except (KeyDerivationError, PSKCError, ValueError, binascii.Error) as exc:
        raise ApplicationError(
            "import_bad_xml", _("The file is not a readable PSKC (RFC 6030) key container.")
        ) from exc
    return tokens, rejected


def _unlock(container: Any, passphrase: str | None, psk_hex: str | None) -> None:
    from pskc.exceptions import PSKCError

    encryption = container.encryption
    derivation = encryption.derivation
    if derivation.algorithm:
        if not passphrase:
            raise ApplicationError(
                "import_passphrase_needed",
                _("This file is protected by a passphrase: enter it (not a pre-shared key)."),
            )
        if not (derivation.algorithm or "").endswith("#pbkdf2"):
            raise ApplicationError("import_unsupported_encryption", _("The file's key derivation is not supported."))
        iterations, length = derivation.pbkdf2_iterations or 0, derivation.pbkdf2_key_length or 0
        if not 0 < iterations <= MAX_PBKDF2_ITERATIONS or not 0 < length <= 64:
            raise ApplicationError(
                "import_unsupported_encryption", _("The file's key derivation parameters are out of range.")
            )
        try:
            encryption.derive_key(passphrase)
        except PSKCError as exc:
            raise ApplicationError(
                "import_unsupported_encryption", _("The file's key derivation is not supported.")
            ) from exc
        return
    if not psk_hex:
        raise ApplicationError(
            "import_psk_needed", _("This file is encrypted with a pre-shared key: enter the key in hexadecimal.")
        )
    compact = "".join(psk_hex.split())
    if not _HEX.fullmatch(compact) or len(compact) % 2 or len(compact) > 128:
        raise ApplicationError("import_bad_psk", _("The pre-shared key must be hexadecimal (for example 32 digits)."))
    psk = bytes.fromhex(compact)
    try:
        lengths = encryption.algorithm_key_lengths
    except PSKCError as exc:
        raise ApplicationError("import_unsupported_encryption", _("The file's encryption is not supported.")) from exc
    if len(psk) not in lengths:
        raise ApplicationError(
            "import_bad_psk",
            _("The pre-shared key has the wrong length for this file's encryption (%(bytes)s bytes expected).")
            % {"bytes": "/".join(str(n) for n in lengths)},
        )
    encryption.key = psk


def _pskc_token(position: int, key: Any) -> _Token:
    serial = _check_serial(_printable(key.serial, 20))
    kind = re.split(r"[#:]", (key.algorithm or "").strip())[-1].lower()
    if kind not in ("hotp", "totp"):
        raise _Rejected("bad_type", _("Only HOTP and TOTP keys are supported."))
    if key.response_encoding not in (None, "DECIMAL") or key.response_check:
        raise _Rejected("bad_response", _("Only decimal codes without a check digit are supported."))
    if key.response_length not in (6, 8):
        raise _Rejected("bad_digits", _("Only 6 or 8 digits are supported."))
    suite = (key.algorithm_suite or "sha1").lower().replace("hmac-", "").replace("-", "")
    if suite not in _HASHES:
        raise _Rejected("bad_algorithm", _("Only HMAC-SHA-1, SHA-256 and SHA-512 are supported."))
    _check_policy(key.policy)
    secret = key.secret
    if not isinstance(secret, bytes | bytearray):
        raise _Rejected("bad_key", _("The key has no secret."))
    token = _Token(
        row=position, serial=serial, kind=_kind(kind), seed=_check_seed(bytes(secret)),
        algorithm=_HASHES[suite], digits=key.response_length,
    )
    if kind == "hotp":
        token.counter = _check_counter(0 if key.counter is None else key.counter)
    else:
        if key.time_offset not in (None, 0):
            raise _Rejected("bad_period", _("Only TOTP tokens counting from the Unix epoch (T0 = 0) are supported."))
        token.period = _check_period(30 if key.time_interval is None else key.time_interval)
    return token


def _check_policy(policy: Any) -> None:
    if policy.unknown_policy_elements:
        raise _Rejected("bad_policy", _("The key has a usage policy that is not understood (RFC 6030 §5)."))
    if policy.key_usage and "OTP" not in policy.key_usage:
        raise _Rejected("bad_policy", _("The key is not meant for one-time passwords."))
    if policy.pin_usage not in (None, "Local"):
        raise _Rejected("bad_policy", _("Tokens whose PIN the server must check are not supported."))
    expiry = policy.expiry_date
    if expiry is not None:
        expiry = expiry if expiry.tzinfo else expiry.replace(tzinfo=UTC)
        if expiry < datetime.now(UTC):
            raise _Rejected("expired", _("The key has expired."))


# --- shared row checks ---------------------------------------------------------------------------


def _kind(kind: str) -> str:
    return DeviceKind.HARDWARE_HOTP if kind == "hotp" else DeviceKind.HARDWARE_TOTP


def _check_serial(serial: str) -> str:
    if not _SERIAL.fullmatch(serial):
        raise _Rejected("bad_serial", _("The serial must be exactly 13 digits."))
    return serial


def _check_seed(seed: bytes) -> bytes:
    if not MIN_SEED_BYTES <= len(seed) <= MAX_SEED_BYTES:
        raise _Rejected(
            "bad_key",
            _("The key must be %(min)s to %(max)s bytes long.") % {"min": MIN_SEED_BYTES, "max": MAX_SEED_BYTES},
        )
    return seed


def _check_counter(counter: int) -> int:
    if not 0 <= counter <= MAX_COUNTER:
        raise _Rejected("bad_counter", _("The HOTP counter must be a whole number from 0."))
    return counter


def _check_period(period: int) -> int:
    if not MIN_PERIOD <= period <= MAX_PERIOD:
        raise _Rejected(
            "bad_period",
            _("The TOTP period must be %(min)s to %(max)s seconds.") % {"min": MIN_PERIOD, "max": MAX_PERIOD},
        )
    return period


def _looks_like_xml(content: bytes, filename: str) -> bool:
    name = filename.lower()
    if name.endswith(".csv"):
        return False
    if name.endswith(_PSKC_SUFFIXES):
        return True
    head = content[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<") or content.startswith((b"\xff\xfe", b"\xfe\xff"))


def _printable(value: object, limit: int) -> str:
    text = "" if value is None else str(value).strip()
    return "".join(ch if ch.isprintable() else "?" for ch in text[:limit])
