"""Signing with an open activation (SAD): raw signatures over authorized hashes (CSC signHash), PAdES
documents (the panel, CSC signDoc), a batch job's documents; each counted down and recorded.

How the activation opens the key, and why a refusal or a failed signing spends nothing, is told in
``signing/services/activation.py``; the activation's checks are its own and are used from there.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime

from cryptography.exceptions import InvalidTag
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.events import AuditEventType
from audit.services import audit_record
from certificates.models import Certificate
from certificates.vault import (
    KeyUnavailable,
    PrivateKey,
    certificate_key_open_with_data_key,
    key_release,
    key_signs_with_pss,
)
from core.errors import ApplicationError
from signing import pades
from signing.models import SignatureActivation, SignatureRecord, SigningJob
from signing.pdf_input import pdf_document_read
from signing.services.activation import (
    ClientIdentity,
    _activation_locked,
    _activation_refusal_audit,
    _close,
    _hashes_hex,
    _invalid_request,
    _refusal,
    _refusal_audit,
    _sad_expired,
    _token_decode,
    _unwrap,
)

logger = logging.getLogger(__name__)


def _key_opened(activation: SignatureActivation, certificate: Certificate, one_time_key: bytes) -> PrivateKey:
    """The private key the activation opens with the token's K. ``InvalidTag`` for a forged token,
    ``KeyUnavailable`` for a key replaced or destroyed since the authorization."""
    data_key = _unwrap(activation, one_time_key)
    try:
        return certificate_key_open_with_data_key(
            certificate=certificate, key_version=activation.key_version, data_key=data_key
        )
    finally:
        del data_key


def _count_down(activation: SignatureActivation, hex_hashes: list[str], now: datetime, *, close: bool = False) -> None:
    """Cross off the signed hashes (a hash-bound activation) and count the signatures down; at zero,
    or when ``close``, the activation is closed and its wrapped key erased."""
    if activation.hashes:
        to_cross_off = Counter(hex_hashes)
        kept = []
        for value in activation.hashes:
            if to_cross_off[value] > 0:
                to_cross_off[value] -= 1
            else:
                kept.append(value)
        activation.hashes = kept
    activation.signatures_left -= len(hex_hashes)
    if activation.signatures_left == 0 or close:
        _close(activation, now)
    else:
        activation.save(update_fields=["signatures_left", "hashes"])


def _opened_under_lock(
    activation: SignatureActivation | None, *, certificate: Certificate, client: ClientIdentity | None,
    hex_hashes: list[str], hash_algorithm: str, one_time_key: bytes, now: datetime, job: SigningJob | None = None,
) -> tuple[ApplicationError | None, PrivateKey | None]:
    """Inside the transaction that locked ``activation``: why it cannot sign (closing it if it is
    expired or its certificate disabled), or the open key. Nothing is counted here."""
    error, close = _refusal(
        activation, certificate=certificate, client=client, hex_hashes=hex_hashes, hash_algorithm=hash_algorithm,
        now=now, job=job,
    )
    if close and activation is not None:
        _close(activation, now)
    if error is not None or activation is None:
        return error or _sad_expired(), None
    try:
        return None, _key_opened(activation, certificate, one_time_key)
    except (InvalidTag, KeyUnavailable):
        # A forged token (wrong K) or a key changed under the activation: nothing is spent.
        return _sad_expired(), None


def _signed_once(
    *, sad_token: str, certificate: Certificate, client: ClientIdentity | None, hex_hashes: list[str],
    hash_algorithm: str, ip: str, level: str, sign: Callable[[PrivateKey, SignatureActivation], list[bytes]],
    entries: Callable[[list[bytes]], list[tuple[str, str, str]]], job: SigningJob | None = None,
) -> list[bytes]:
    """Lock the activation, check it, open the key, ``sign``, count down and record: one transaction.

    The row lock is held while signing, so a second call with the same SAD waits and then finds the
    signatures spent. A refusal spends nothing (except that an expired or disabled activation is
    closed for good); so does a signing that fails — an :class:`ApplicationError` from ``sign`` (a
    document it cannot process, named) is refused and audited like any refusal, and any other
    exception rolls the transaction back on its way up."""
    public_id, one_time_key = _token_decode(sad_token)
    error: ApplicationError | None = None
    result: list[bytes] = []
    with transaction.atomic():
        now = timezone.now()
        activation = _activation_locked(public_id, "certificate")
        error, private_key = _opened_under_lock(
            activation, certificate=certificate, client=client, hex_hashes=hex_hashes, hash_algorithm=hash_algorithm,
            one_time_key=one_time_key, now=now, job=job,
        )
        if error is None and activation is not None and private_key is not None:
            try:
                result = sign(private_key, activation)
            except ApplicationError as exc:
                error = exc
            finally:
                key_release(private_key)  # a key unwrapped in an HSM is destroyed there now
                private_key = None
            if error is None:
                _count_down(activation, hex_hashes, now)
                _record(activation, entries=entries(result), level=level, ip=ip)
    if error is not None:
        _activation_refusal_audit(
            error, step="sign", activation=activation, certificate=certificate, client=client, ip=ip,
            count=len(hex_hashes),
        )
        raise error
    return result


def _record(activation: SignatureActivation, *, entries: list[tuple[str, str, str]], level: str, ip: str) -> None:
    """History rows and one audit event for the signatures just made: (name, sha256, signed sha256)."""
    now = timezone.now()
    with transaction.atomic():
        SignatureRecord.objects.bulk_create(
            [
                SignatureRecord(
                    organization_id=activation.organization_id, holder_id=activation.holder_id,
                    certificate_id=activation.certificate_id, activation=activation, document_name=name[:255],
                    document_sha256=digest, signed_sha256=signed, level=level, channel=activation.channel,
                    client_id=activation.client_id, signed_at=now,
                )
                for name, digest, signed in entries
            ],
            batch_size=500,
        )
        audit_record(
            event_type=AuditEventType.SIGNATURE_CREATED,
            actor=activation.holder.user,
            organization=activation.organization_id,
            subject=activation.certificate,
            ip=ip,
            details={
                "iut": activation.certificate.iut, "activation": str(activation.public_id), "level": level,
                "channel": activation.channel, "client": activation.client_id, "count": len(entries),
                "documents": [{"name": name[:255], "sha256": digest} for name, digest, _signed in entries],
                "signatures_left": activation.signatures_left,
            },
        )


def signature_sign_hashes(
    *,
    sad_token: str,
    hashes: Sequence[bytes],
    certificate: Certificate,
    hash_algorithm: str = "sha256",
    client: ClientIdentity | None = None,
    ip: str = "",
) -> list[bytes]:
    """Raw signatures over authorized digests, in order (CSC signHash), in the scheme of the
    certificate's key: ECDSA (DER), RSASSA-PSS (MGF1 with the digest, salt = digest length) or RSA
    PKCS#1 v1.5."""
    if not hashes:
        raise _invalid_request(_("No hash to sign."))
    hex_hashes = _hashes_hex(hashes, hash_algorithm)
    return _signed_once(
        sad_token=sad_token, certificate=certificate, client=client, hex_hashes=hex_hashes,
        hash_algorithm=hash_algorithm, ip=ip, level="hash",
        sign=lambda private_key, _activation: pades.hashes_sign(
            private_key=private_key, hashes=hashes, hash_algorithm=hash_algorithm,
            pss=key_signs_with_pss(certificate.key_algorithm)),
        entries=lambda _signatures: [("", h, "") for h in hex_hashes],
    )


def _labels(names: Sequence[str], count: int) -> list[str]:
    """What to call each document in a message: its name, else its place ("document 2")."""
    return [name or str(_("document %(number)d") % {"number": index + 1}) for index, name in enumerate(names)][:count]


def _unsignable(label: str, failure: Exception) -> ApplicationError:
    """A document the engine could not sign, named. The intake refuses what it knows to be beyond the
    engine, so this is logged: it is a file the intake should learn to refuse."""
    if isinstance(failure, ApplicationError):
        return failure
    logger.warning("a document passed the intake but could not be signed: %s", label, exc_info=failure)
    return ApplicationError(
        "unsignable_document",
        _("%(name)s could not be signed: the signing engine cannot process its structure.") % {"name": label},
        field="documents",
    )


def _pades_batch(private_key: PrivateKey, activation: SignatureActivation, *, level: pades.Level,
                 appearance: pades.SignatureAppearance | None = None, reason: str = "", location: str = "",
                 contact: str = "", certify: bool = False) -> pades.PadesBatch:
    return pades.PadesBatch(
        private_key=private_key, certificate=activation.certificate, level=level, appearance=appearance,
        reason=reason, location=location, contact=contact, certify=certify,
    )


def signature_sign_documents(
    *,
    sad_token: str,
    documents: Sequence[bytes],
    certificate: Certificate,
    level: str = pades.Level.B_B,
    names: Sequence[str] | None = None,
    appearance: pades.SignatureAppearance | None = None,
    reason: str = "",
    location: str = "",
    contact: str = "",
    certify: bool = False,
    each: Sequence[tuple[str, bool]] | None = None,
    client: ClientIdentity | None = None,
    ip: str = "",
    job: SigningJob | None = None,
) -> list[bytes]:
    """PAdES-sign ``documents`` with an activation; the signed PDFs, in order — all of them or none.

    Every document is checked (the intake's checks and bounds, named) before anything else; then
    :func:`_signed_once`: a document that cannot be signed refuses the call, names the document and
    spends nothing. A hash-bound activation must list the SHA-256 of each document exactly as sent.
    ``each``: a (level, certify) per document, when they differ within one call (CSC signDoc);
    otherwise ``level`` and ``certify`` apply to all. ``job``: the batch job whose activation this is
    (the only caller that may spend an activation reserved for it); a job's worker uses
    :func:`signature_sign_job_documents`.
    """
    if not documents:
        raise _invalid_request(_("No document to sign."))
    names = list(names or [""] * len(documents))
    if len(names) != len(documents) or (each is not None and len(each) != len(documents)):
        raise _invalid_request()
    labels = _labels(names, len(documents))
    options = [(pades.level_parse(lv), cert) for lv, cert in each] if each else (
        [(pades.level_parse(level), certify)] * len(documents))
    for data, label in zip(documents, labels, strict=True):
        pdf_document_read(name=label, data=data)
    digests = [hashlib.sha256(bytes(d)).hexdigest() for d in documents]

    def sign(private_key: PrivateKey, activation: SignatureActivation) -> list[bytes]:
        # One batch per kind of signature asked for (most calls: one), each document in its place.
        results: list[bytes | Exception] = [b""] * len(documents)
        for kind in dict.fromkeys(options):
            places = [index for index, option in enumerate(options) if option == kind]
            with _pades_batch(private_key, activation, level=kind[0], appearance=appearance, reason=reason,
                              location=location, contact=contact, certify=kind[1]) as batch:
                for index, result in zip(places, batch.sign_each([documents[i] for i in places]), strict=True):
                    results[index] = result
        for label, result in zip(labels, results, strict=True):
            if isinstance(result, Exception):
                raise _unsignable(label, result)
        return [result for result in results if isinstance(result, bytes)]

    levels = {str(lv) for lv, _certify in options}
    return _signed_once(
        sad_token=sad_token, certificate=certificate, client=client, hex_hashes=digests, hash_algorithm="sha256",
        ip=ip, level=levels.pop() if len(levels) == 1 else "mixed", job=job, sign=sign,
        entries=lambda signed: [
            (n, d, hashlib.sha256(s).hexdigest()) for n, d, s in zip(names, digests, signed, strict=True)
        ],
    )


def signature_sign_digests(
    *,
    sad_token: str,
    digests: Sequence[bytes],
    certificate: Certificate,
    hash_algorithm: str = "sha256",
    levels: Sequence[str],
    client: ClientIdentity | None = None,
    ip: str = "",
) -> list[bytes]:
    """PAdES signatures (CMS, DER) over the digests of documents the client holds (CSC signDoc with
    ``documentDigests``), in order, each at its level (B-LT/B-LTA: see :func:`pades.digests_cms_sign`).
    The activation is spent as for the documents themselves: a hash-bound one must list each digest."""
    if not digests:
        raise _invalid_request(_("No hash to sign."))
    if len(levels) != len(digests):
        raise _invalid_request()
    hex_hashes = _hashes_hex(digests, hash_algorithm)
    parsed = [pades.level_parse(lv) for lv in levels]

    def sign(private_key: PrivateKey, activation: SignatureActivation) -> list[bytes]:
        signed: list[bytes] = [b""] * len(digests)
        for level in dict.fromkeys(parsed):
            places = [index for index, lv in enumerate(parsed) if lv == level]
            cms_list = pades.digests_cms_sign(
                private_key=private_key, certificate=activation.certificate, digests=[digests[i] for i in places],
                digest_algorithm=hash_algorithm, level=level)
            for index, content in zip(places, cms_list, strict=True):
                signed[index] = content
        return signed

    distinct = {str(lv) for lv in parsed}
    return _signed_once(
        sad_token=sad_token, certificate=certificate, client=client, hex_hashes=hex_hashes,
        hash_algorithm=hash_algorithm, ip=ip, level=distinct.pop() if len(distinct) == 1 else "mixed", sign=sign,
        entries=lambda signed: [
            ("", h, hashlib.sha256(s).hexdigest()) for h, s in zip(hex_hashes, signed, strict=True)
        ],
    )


def signature_sign_job_documents(
    *,
    sad_token: str,
    job: SigningJob,
    documents: Sequence[bytes],
    names: Sequence[str],
    level: str,
    reason: str = "",
    location: str = "",
    client: ClientIdentity | None = None,
    ip: str = "",
    chunk_size: int = 10,
    on_progress: Callable[[int], None] | None = None,
    store: Callable[[list[bytes | ApplicationError]], None],
) -> list[bytes | ApplicationError]:
    """A batch job's signatures, each document on its own (the worker's side of
    :func:`signature_activation_reserve`): in its place, the signed PDF or the error that names it.

    1. Under the activation's row lock: the checks (it must be reserved for ``job``), the key opened.
       A refusal raises, and the job fails as a whole.
    2. Without a lock or a transaction (``on_progress(n)`` writes the progress every ``chunk_size``
       documents): each document checked and signed on its own; one that fails is an error in its
       place, and the others are signed.
    3. One transaction: the signed documents counted down, the activation closed (it was this job's
       and the job is over), their records and audit, and ``store(results)`` — the job's own rows.

    A worker that dies between 1 and 3 has counted nothing; the activation stays reserved for a job
    that no worker will run again, and expires.
    """
    public_id, one_time_key = _token_decode(sad_token)
    certificate = job.certificate
    labels = _labels(names, len(documents))
    digests = [hashlib.sha256(bytes(d)).hexdigest() for d in documents]
    parsed_level = pades.level_parse(level)
    activation: SignatureActivation | None = None
    with transaction.atomic():
        activation = _activation_locked(public_id, "certificate")
        error, private_key = _opened_under_lock(
            activation, certificate=certificate, client=client, hex_hashes=digests, hash_algorithm="sha256",
            one_time_key=one_time_key, now=timezone.now(), job=job,
        )
    if error is not None or activation is None or private_key is None:
        error = error or _sad_expired()
        _activation_refusal_audit(
            error, step="sign", activation=activation, certificate=certificate, client=client, ip=ip,
            count=len(digests),
        )
        raise error
    results: list[bytes | ApplicationError] = []
    try:
        with _pades_batch(private_key, activation, level=parsed_level, reason=reason, location=location) as batch:
            for start in range(0, len(documents), max(chunk_size, 1)):
                chunk = range(start, min(start + max(chunk_size, 1), len(documents)))
                checked: dict[int, ApplicationError] = {}
                for index in chunk:
                    try:
                        pdf_document_read(name=labels[index], data=documents[index])
                    except ApplicationError as exc:
                        checked[index] = exc
                signable = [index for index in chunk if index not in checked]
                signed = dict(zip(signable, batch.sign_each([documents[i] for i in signable]), strict=True))
                for index in chunk:
                    outcome = checked.get(index) or signed[index]
                    results.append(_unsignable(labels[index], outcome) if isinstance(outcome, Exception) else outcome)
                if on_progress is not None:
                    on_progress(len(results))
    finally:
        key_release(private_key)  # a key unwrapped in an HSM is destroyed there, after the batch
        private_key = None
    done = [(index, result) for index, result in enumerate(results) if isinstance(result, bytes)]
    with transaction.atomic():
        now = timezone.now()
        activation = _activation_locked(public_id, "certificate") or activation
        _count_down(activation, [digests[index] for index, _signed in done], now, close=True)
        if done:
            _record(
                activation, level=str(parsed_level), ip=ip,
                entries=[(names[i], digests[i], hashlib.sha256(signed).hexdigest()) for i, signed in done],
            )
        store(results)
    failed = [(labels[index], result) for index, result in enumerate(results) if isinstance(result, ApplicationError)]
    if failed:
        _refusal_audit(
            failed[0][1], step="sign", holder=activation.holder, certificate=certificate, channel=activation.channel,
            client=client, ip=ip, extra={"job": str(job.public_id), "failed": [
                {"name": label[:255], "error": error.code} for label, error in failed]},
        )
    return results
