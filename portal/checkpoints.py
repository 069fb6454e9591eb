"""Checkpoints: the end of the audit chain, timestamped and published where the database cannot reach.

The HMAC chain proves that no row was edited, deleted or reordered *between* the first row and the
chain head. It cannot prove that rows after some point were not removed together with the head:
whoever can rewrite the database (a DBA, an attacker with superuser rights, someone who disables
the triggers) can cut the tail and move the head back, and the shorter chain is still consistent.
Only a copy of the head kept elsewhere tells. So a periodic job (:func:`audit_checkpoint_publish`)
takes the head — sequence number and row hash — has the TSA timestamp it, and publishes it:

* appended to ``AUDIT_CHECKPOINT_FILE`` (one JSON line each; ship it to write-once storage or a log
  collector: the database's credentials cannot rewrite it);
* logged on the ``audit.checkpoint`` logger (the log stream, shipped with the others);
* e-mailed to the platform admins, once a day (the first checkpoint of each day in Europe/Rome).

:func:`checkpoint_problems` compares the chain with a checkpoint: the row it names must still be
there with the same hash, and its timestamp token must be a valid one of our TSA over exactly that
head. ``verify_audit`` (and the hourly verification job) checks the latest checkpoint of the file.

This lives in ``portal``, above everything it uses: the audit trail (floor 1) is written by every
app, while a checkpoint needs the TSA (``signing``), the outbox (``notifications``) and the platform
admins (``accounts``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import cms, tsp
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.events import AuditEventType
from audit.models import GENESIS_HASH, AuditChainHead, AuditEvent
from audit.services import ChainReport, audit_chain_verify, audit_record

logger = logging.getLogger("audit.checkpoint")

_DOMAIN = "firma-remota/audit-checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    row_hash: str
    published_at: str  # ISO 8601, UTC
    timestamp_token: bytes  # DER TimeStampToken (RFC 3161) over :attr:`digest`

    @property
    def digest(self) -> bytes:
        return checkpoint_digest(seq=self.seq, row_hash=self.row_hash)

    def to_json(self) -> str:
        return json.dumps(
            {
                "seq": self.seq,
                "row_hash": self.row_hash,
                "published_at": self.published_at,
                "digest_sha256": self.digest.hex(),
                "timestamp_token": base64.b64encode(self.timestamp_token).decode(),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, line: str) -> Checkpoint:
        data = json.loads(line)
        return cls(
            seq=int(data["seq"]),
            row_hash=str(data["row_hash"]),
            published_at=str(data["published_at"]),
            timestamp_token=base64.b64decode(data["timestamp_token"]),
        )


def checkpoint_digest(*, seq: int, row_hash: str) -> bytes:
    return hashlib.sha256(f"{_DOMAIN}|{seq}|{row_hash}".encode()).digest()


def _timestamp(digest: bytes) -> bytes:
    # The TSA lives with the signer; imported when a checkpoint is published, not at start-up.
    from signing.loops import coroutine_run
    from signing.tsa import timestamper_get

    stamper = timestamper_get()
    token: cms.ContentInfo = coroutine_run(stamper.async_timestamp(digest, "sha256"))
    return token.dump()


class CheckpointNotWritten(OSError):
    """The checkpoint file could not take the line (a full disk, a read-only mount): nothing was added."""


def _append(path: Path, line: str) -> None:
    """Append one whole line, or nothing: a full disk must not leave half a checkpoint at the end of the
    file (the verification reads the last line). A short or failed write is cut off again."""
    data = (line + "\n").encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    except OSError as exc:
        raise CheckpointNotWritten(exc.errno, f"audit checkpoint file {path} cannot be opened: {exc.strerror}") from exc
    try:
        size = os.fstat(fd).st_size
        try:
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        except OSError as exc:
            os.ftruncate(fd, size)
            raise CheckpointNotWritten(
                exc.errno, f"audit checkpoint not written to {path}: {exc.strerror}; the file is unchanged"
            ) from exc
    finally:
        os.close(fd)


def audit_checkpoint_publish() -> Checkpoint:
    """Timestamp the current head and publish it (file, log stream, and the admins' daily e-mail)."""
    head = AuditChainHead.objects.filter(pk=1).first()
    seq, row_hash = (head.last_seq, head.last_hash) if head else (0, GENESIS_HASH)
    checkpoint = Checkpoint(
        seq=seq,
        row_hash=row_hash,
        published_at=timezone.now().isoformat(timespec="seconds"),
        timestamp_token=_timestamp(checkpoint_digest(seq=seq, row_hash=row_hash)),
    )
    line = checkpoint.to_json()
    _append(Path(settings.AUDIT_CHECKPOINT_FILE), line)
    logger.info("audit checkpoint %s", line)
    with transaction.atomic():
        audit_record(event_type=AuditEventType.AUDIT_CHECKPOINT_PUBLISHED, details={"seq": seq, "row_hash": row_hash})
        _email_platform_admins(checkpoint)
    return checkpoint


def _email_platform_admins(checkpoint: Checkpoint) -> None:
    from accounts.models import User, UserKind
    from notifications.models import Channel
    from notifications.services import message_enqueue

    day = timezone.localdate().isoformat()
    admins = User.objects.filter(kind=UserKind.PLATFORM_ADMIN, is_active=True).exclude(email="").order_by("pk")
    for admin in admins:
        message_enqueue(
            message_type="audit_checkpoint",
            channel=Channel.EMAIL,
            recipient=admin.email,
            language=admin.preferred_language or settings.LANGUAGE_CODE,
            context={
                "seq": checkpoint.seq,
                "row_hash": checkpoint.row_hash,
                "published_at": checkpoint.published_at,
                "checkpoint_json": checkpoint.to_json(),
            },
            idempotency_key=f"audit-checkpoint:{day}:{admin.pk}",
        )


def checkpoint_latest(path: Path | None = None) -> Checkpoint | None:
    """The last checkpoint of the file (``AUDIT_CHECKPOINT_FILE`` by default), or None if there is none."""
    path = Path(path or settings.AUDIT_CHECKPOINT_FILE)
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except FileNotFoundError:
        return None
    if not lines:
        return None
    try:
        return Checkpoint.from_json(lines[-1])
    except (ValueError, KeyError, TypeError) as exc:  # binascii.Error and JSONDecodeError are ValueErrors
        raise ValueError(f"{path}: the last checkpoint cannot be read ({exc.__class__.__name__})") from exc


def _token_problem(checkpoint: Checkpoint) -> str | None:
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data

    from signing.loops import coroutine_run
    from signing.revinfo import trust_material

    try:
        token = cms.ContentInfo.load(checkpoint.timestamp_token)
        signed_data = token["content"]
        tst_info = signed_data["encap_content_info"]["content"].parsed
        if not isinstance(tst_info, tsp.TSTInfo):
            return "its timestamp token is not a timestamp"
        status = coroutine_run(
            validate_tst_signed_data(signed_data, trust_material().validation_context(), checkpoint.digest)
        )
    except Exception as exc:  # noqa: BLE001  (any malformed token is a finding, not a crash)
        return f"its timestamp token cannot be read ({exc.__class__.__name__})"
    if not (status["intact"] and status["valid"]):
        return "its timestamp token does not match it (the checkpoint was altered)"
    if status["trust_problem_indic"] is not None:
        return "its timestamp token was not issued by our TSA"
    return None


def checkpoint_problems(checkpoint: Checkpoint, *, head_seq: int) -> list[str]:
    """What the chain (already verified from the genesis to ``head_seq``) says against ``checkpoint``."""
    problems = []
    when = checkpoint.published_at
    if head_seq < checkpoint.seq:
        problems.append(
            f"the trail ends at #{head_seq}, but the checkpoint of {when} saw it reach #{checkpoint.seq}: "
            f"rows #{head_seq + 1}–#{checkpoint.seq} (at least) were removed"
        )
    elif checkpoint.seq > 0:
        row = AuditEvent.objects.filter(seq=checkpoint.seq).values_list("row_hash", flat=True).first()
        if row != checkpoint.row_hash:
            problems.append(f"row #{checkpoint.seq} differs from the checkpoint of {when}: the trail was rewritten")
    token_problem = _token_problem(checkpoint)
    if token_problem:
        problems.append(f"the checkpoint of {when}: {token_problem}")
    return problems


def audit_chain_verify_with_checkpoint(*, checkpoint: Checkpoint | None) -> ChainReport:
    """:func:`audit.services.audit_chain_verify`, then (if the chain holds) the comparison with
    ``checkpoint``: a removed tail is found too, even when the head was moved back with it — the
    chain must still reach the checkpoint's row, unchanged."""
    report = audit_chain_verify()
    if not report.ok or checkpoint is None:
        return report
    problems = checkpoint_problems(checkpoint, head_seq=report.checked)
    if problems:
        return ChainReport(
            False, report.checked, min(report.checked + 1, checkpoint.seq), "; ".join(problems), checkpoint.seq
        )
    return ChainReport(True, report.checked, checkpoint_seq=checkpoint.seq)


def audit_trail_check() -> bool:
    """The hourly verification: the chain from its genesis and against the latest checkpoint, the
    outcome audited (and logged as critical when broken). True when intact."""
    try:
        checkpoint = checkpoint_latest()
    except ValueError as exc:  # an unreadable checkpoint is itself a finding, never a crashed job
        report = ChainReport(False, 0, None, str(exc))
    else:
        report = audit_chain_verify_with_checkpoint(checkpoint=checkpoint)
    if not report.ok:
        logger.critical("audit chain broken at #%s: %s", report.broken_at, report.reason)
    audit_record(
        event_type=AuditEventType.AUDIT_CHAIN_VERIFIED,
        outcome="success" if report.ok else "failure",
        details={
            "checked": report.checked, "broken_at": report.broken_at, "reason": report.reason,
            "checkpoint_seq": report.checkpoint_seq,
        },
    )
    return report.ok
