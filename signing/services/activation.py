"""Signature activation (SAD), SCAL2-style: PIN + OTP authorize exactly these hashes (or this many
documents), with this certificate, for this API client, for a few minutes, once.

This module authorizes, checks, reserves, extends and closes activations; the signing step that
spends them is ``signing/services/signatures.py``, and the token's cryptography is ``signing/sad.py``.

Design: how the signing step opens the key without a usable secret at rest
-------------------------------------------------------------------------
::

    authorize (PIN + OTP checked, both counted)
      DEK  = the certificate's data key, unwrapped with KEK + PIN   (certificate_data_key_unlock)
      K    = 32 random bytes, fresh per activation
      row.wrapped_data_key = nonce ‖ AES-256-GCM(K, DEK,
                             AAD = "firma-remota/sad|<activation id>|certificate:<id>|<key version>")
      SAD token (to the caller, never stored) = base64url(activation id ‖ K)

    sign (token + hashes/documents)
      lock the row → checks (expiry, count, hashes, certificate, client, certificate still active)
      DEK = AES-GCM-decrypt(K from the token, row.wrapped_data_key)      → wrong K: refused, nothing used
      private key = AES-GCM-decrypt(DEK, CertificateKey.key_ciphertext)  → in memory only
      sign; then count down (and, at zero, erase wrapped_data_key) and record the signatures in the
      same transaction; commit — a signing that fails rolls back, and nothing is counted

*What is at rest*: the row holds the DEK encrypted under K, and K exists only in the token the
caller holds. Without the token the row opens nothing; the token without the row (expired, used up,
purged) opens nothing either. Neither the PIN nor anything derived from it is stored; the private
key itself is still only in ``CertificateKey``, under the DEK, so a revoked certificate (whose key
ciphertext is destroyed) or a PIN change (a new DEK and key version) makes every open activation
useless at once. The AAD binds the wrapped DEK to its activation, certificate and key version: copied
onto another row, it does not decrypt.

*Lifetime*: ``SIGNING_SAD_LIFETIME_SECONDS`` (at most 300). The row's ciphertext is erased when the
last authorized signature is made, when a signing attempt finds it expired, and by the beat job
``signature_activations_purge`` for the ones nobody came back to.

*Single use*: every signing call locks the row (``select_for_update``), checks, signs, and counts
down in the transaction that records the signatures; two concurrent calls cannot both spend the same
signatures (the second waits for the lock, then finds them spent). A hash-bound activation crosses
off each hash as it is signed. A refused call spends nothing, and neither does a call whose signing
fails: a document the signer cannot process (the intake should have refused it) is an error that
names it, and the SAD can still sign the others. The lock is held while signing: one row, for the
length of one call (on SQLite, whose locks are per database, the call's writes wait for it).

*Batch jobs* (``signature_sign_job_documents``): the SAD is reserved for the job when it is
submitted; the worker checks it and opens the key under the lock, signs without a transaction (it
writes its progress), each document on its own — one that cannot be signed is an error in its place
and the others are signed — and counts down, closes the activation and stores the results in one
transaction.

*One SAD, one job*: submitting a batch job reserves the activation for that job under the row lock
(``reserved_for``, set in the transaction that stores the job). To every caller but that job's worker
a reserved activation is a SAD already used (``sad_expired``): a second job, a synchronous signing
call, an extension. A job that fails closes its activation and keeps it reserved.

*Extension* (CSC ``credentials/extendTransaction``, ``signature_activation_extend``): under the row
lock, the data key is unwrapped with the caller's K and wrapped again under a fresh K' for a new
``public_id`` (and so a new AAD); the caller gets ``base64url(new id ‖ K')``. The old token finds no
row and its K opens nothing any more. Nothing new is authorized: the remaining hashes and count are
kept. The new expiry is ``SIGNING_SAD_LIFETIME_SECONDS`` away but never past
``created_at + SIGNING_SAD_MAX_TOTAL_SECONDS``, after which only a new PIN + OTP helps.

*Limits*: Python cannot reliably wipe memory; the DEK and key objects are dropped as soon as the
signing call ends, and nothing puts them in logs, audit rows or exceptions. Between authorize and
sign, whoever holds the token *and* the database *and* the KEK-free row can sign the authorized
hashes only: that is the SAD's purpose. The HSM backend would keep the activation inside the device.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from accounts.models import Holder
from audit.events import AuditEventType
from audit.models import Outcome
from audit.services import audit_record
from certificates.models import Certificate, CertificateState
from certificates.services.custody import certificate_data_key_unlock
from core.errors import ApplicationError
from otp.models import DeviceKind, OtpDevice
from otp.services import VerifyOutcome, code_replayed_error, otp_check
from signing import pades, sad
from signing.models import Channel, SignatureActivation, SigningJob

OTP_PURPOSE = "sign"


class ClientIdentity(Protocol):
    """What the API side passes as ``client``: its OAuth2 client id and its organization."""

    @property
    def client_id(self) -> str: ...
    @property
    def organization_id(self) -> int: ...


def _client_id(client: ClientIdentity | None) -> str:
    return "" if client is None else str(client.client_id)


# --- Errors (codes the CSC layer maps 1:1) --------------------------------------------------------


def _invalid_request(message: Any = None) -> ApplicationError:
    return ApplicationError("invalid_request", message or _("The request is not valid for this signature activation."))


def _sad_expired() -> ApplicationError:
    return ApplicationError(
        "sad_expired", _("The signature authorization has expired or has already been used: authorize again.")
    )


def _disabled() -> ApplicationError:
    return ApplicationError("credential_is_disabled", _("This certificate is not active: it cannot sign."))


def _refusal_audit(
    error: ApplicationError, *, step: str, holder: Holder | None, certificate: Certificate | None,
    channel: str, client: ClientIdentity | None, ip: str, extra: dict[str, Any] | None = None,
) -> None:
    """Every refused authorization or signing attempt, in its own transaction (ETSI TS 119 431-2)."""
    details: dict[str, Any] = {"step": step, "error": error.code, "channel": channel, "client": _client_id(client)}
    if certificate is not None:
        details["iut"] = certificate.iut
    details.update(extra or {})
    with transaction.atomic():
        audit_record(
            event_type=AuditEventType.SIGNATURE_REFUSED,
            outcome=Outcome.DENIED,
            actor=holder.user if holder is not None else None,
            organization=certificate.organization_id if certificate is not None else None,
            subject=certificate,
            ip=ip,
            details=details,
        )


# --- The token ------------------------------------------------------------------------------------


def _activation_refusal_audit(
    error: ApplicationError, *, step: str, activation: SignatureActivation | None, certificate: Certificate,
    client: ClientIdentity | None, ip: str, count: int,
) -> None:
    """:func:`_refusal_audit` for a refusal about an activation (or a token that found none)."""
    _refusal_audit(
        error, step=step, holder=activation.holder if activation is not None else None, certificate=certificate,
        channel=activation.channel if activation is not None else "", client=client, ip=ip,
        extra={"count": count},
    )


def _activation_locked(public_id: uuid.UUID, *related: str) -> SignatureActivation | None:
    """The activation a token names, its row locked until the transaction ends (counters, keys)."""
    return (
        SignatureActivation.objects.select_for_update(of=("self",))
        .select_related("holder__user", *related)
        .filter(public_id=public_id)
        .first()
    )


def _token_decode(token: str) -> tuple[uuid.UUID, bytes]:
    try:
        return sad.token_decode(token)
    except sad.TokenMalformed as exc:
        raise _invalid_request(_("The SAD is malformed.")) from exc


# --- Authorize ------------------------------------------------------------------------------------


def _hashes_hex(hashes: Sequence[bytes], hash_algorithm: str) -> list[str]:
    length = pades.HASH_LENGTHS.get(hash_algorithm)
    if length is None:
        raise _invalid_request(_("Unsupported hash algorithm."))
    out: list[str] = []
    for value in hashes:
        if not isinstance(value, bytes | bytearray) or len(value) != length:
            raise _invalid_request(_("A hash has the wrong length for its algorithm."))
        out.append(bytes(value).hex())
    return out


def _otp_check(*, holder: Holder, otp_device: OtpDevice | None, sms: bool, otp_code: str, ip: str) -> None:
    if otp_device is None and not sms:
        raise _invalid_request(_("An OTP device or an SMS code is required."))
    if otp_device is not None and otp_device.holder_id != holder.pk:
        raise _invalid_request(_("This OTP device is not yours."))
    if otp_device is not None and otp_device.kind == DeviceKind.SMS:
        # An SMS code is asked for with ``sms``; an SMS device named as the code's device has always
        # been refused like a wrong code, with nothing checked or counted.
        raise ApplicationError("invalid_otp", _("Wrong OTP code."), field="otp")
    result = otp_check(holder=holder, code=otp_code, purpose=OTP_PURPOSE, ip=ip, device=otp_device)
    if result.ok:
        return
    if result.outcome is VerifyOutcome.REPLAYED:
        raise code_replayed_error(field="otp")
    if otp_device is None:
        raise ApplicationError("invalid_otp", _("Wrong or expired SMS code."), field="otp")
    if result.outcome is VerifyOutcome.LOCKED:
        raise ApplicationError(
            "locked_otp", _("The OTP device is locked after too many wrong codes: ask your operator to unlock it.")
        )
    if result.failures_left is not None:
        raise ApplicationError(
            "invalid_otp",
            ngettext_lazy(
                "Wrong OTP code. %(count)d attempt left before the device is locked.",
                "Wrong OTP code. %(count)d attempts left before the device is locked.",
                "count",
            )
            % {"count": result.failures_left},
            field="otp",
        )
    raise ApplicationError("invalid_otp", _("Wrong OTP code."), field="otp")


def signature_authorize(
    *,
    holder: Holder,
    certificate: Certificate,
    pin: str,
    otp_code: str,
    otp_device: OtpDevice | None = None,
    sms: bool = False,
    hashes: Sequence[bytes] | None = None,
    num_signatures: int | None = None,
    hash_algorithm: str = "sha256",
    channel: str = Channel.PANEL,
    client: ClientIdentity | None = None,
    ip: str = "",
) -> tuple[SignatureActivation, str]:
    """Check OTP then PIN (both counted), and open an activation; returns it and the SAD token.

    ``hashes``: the exact digests that may be signed (CSC signHash; for documents, the SHA-256 of
    each PDF as sent). Without them, ``num_signatures`` documents of any content (the panel, where
    the holder has just uploaded them). Call outside any transaction: failures must stay counted.
    """
    try:
        hex_hashes: list[str] = []
        if hashes is not None:
            hex_hashes = _hashes_hex(hashes, hash_algorithm)
            if not hex_hashes:
                raise _invalid_request(_("No hash to authorize."))
            if num_signatures is not None and num_signatures != len(hex_hashes):
                raise _invalid_request(_("The number of signatures does not match the number of hashes."))
            num_signatures = len(hex_hashes)
        if not isinstance(num_signatures, int) or num_signatures < 1:
            raise _invalid_request(_("Say how many signatures to authorize."))
        if num_signatures > settings.SIGNING_MAX_SIGNATURES_PER_ACTIVATION:
            raise ApplicationError(
                "num_signatures_too_high",
                _("Too many signatures for one authorization (at most %(limit)d).")
                % {"limit": settings.SIGNING_MAX_SIGNATURES_PER_ACTIVATION},
            )
        if channel not in Channel.values:
            raise _invalid_request()
        if certificate.holder_id != holder.pk or certificate.organization_id != holder.organization_id:
            raise _invalid_request(_("Unknown certificate."))
        if client is not None and client.organization_id != certificate.organization_id:
            raise _invalid_request(_("Unknown certificate."))
        if certificate.state == CertificateState.BLOCKED:
            raise ApplicationError(
                "locked_pin", _("This certificate is blocked after too many wrong PINs: it cannot sign.")
            )
        if certificate.state != CertificateState.ACTIVE:
            raise _disabled()
        _otp_check(holder=holder, otp_device=otp_device, sms=sms, otp_code=otp_code, ip=ip)
        try:
            data_key, key_version = certificate_data_key_unlock(certificate=certificate, pin=pin, ip=ip)
        except ApplicationError as exc:
            if exc.code == "certificate_not_active":
                raise _disabled() from exc
            raise
    except ApplicationError as error:
        _refusal_audit(
            error, step="authorize", holder=holder, certificate=certificate, channel=channel, client=client, ip=ip,
            extra={"num_signatures": num_signatures if isinstance(num_signatures, int) else None},
        )
        raise

    now = timezone.now()
    activation = SignatureActivation(
        public_id=uuid.uuid4(),
        organization_id=certificate.organization_id,
        holder=holder,
        certificate=certificate,
        channel=channel,
        client_id=_client_id(client),
        hash_algorithm=hash_algorithm,
        hashes=hex_hashes,
        num_signatures=num_signatures,
        signatures_left=num_signatures,
        key_version=key_version,
        ip=ip or "",
        created_at=now,
        expires_at=now + timedelta(seconds=settings.SIGNING_SAD_LIFETIME_SECONDS),
    )
    one_time_key = _wrap(activation, data_key)
    del data_key
    with transaction.atomic():
        activation.save(force_insert=True)
        audit_record(
            event_type=AuditEventType.SIGNATURE_AUTHORIZED,
            actor=holder.user,
            organization=certificate.organization_id,
            subject=certificate,
            ip=ip,
            details={
                "iut": certificate.iut, "activation": str(activation.public_id), "channel": channel,
                "client": activation.client_id, "num_signatures": num_signatures, "hash_bound": bool(hex_hashes),
                "expires_at": activation.expires_at.isoformat(),
            },
        )
    return activation, sad.token_encode(activation.public_id, one_time_key)


# --- Spend ----------------------------------------------------------------------------------------


def _close(activation: SignatureActivation, now: datetime) -> None:
    activation.closed_at = activation.closed_at or now
    activation.wrapped_data_key = b""
    activation.save(update_fields=["closed_at", "wrapped_data_key", "signatures_left", "hashes"])


def _refusal(
    activation: SignatureActivation | None, *, certificate: Certificate, client: ClientIdentity | None,
    hex_hashes: list[str], hash_algorithm: str, now: datetime, job: SigningJob | None = None,
) -> tuple[ApplicationError | None, bool]:
    """Why this activation cannot sign these hashes now (None if it can), and whether to close it.

    ``job``: the batch job asking, if any; an activation reserved for a job is usable by that job only
    (to anyone else it is a SAD already used)."""
    if activation is None:
        return _sad_expired(), False
    if activation.certificate_id != certificate.pk:
        return _invalid_request(_("This authorization is for another certificate.")), False
    if activation.client_id != _client_id(client) or (
        client is not None and client.organization_id != activation.organization_id
    ):
        return _invalid_request(_("This authorization was not given to this client.")), False
    if activation.closed_at is not None or activation.signatures_left == 0:
        return _sad_expired(), False
    if activation.reserved_for_id is not None and activation.reserved_for_id != getattr(job, "pk", None):
        return _sad_expired(), False
    if activation.expires_at <= now:
        return _sad_expired(), True
    if Certificate.objects.filter(pk=certificate.pk).values_list("state", flat=True).first() != (
        CertificateState.ACTIVE
    ):
        return _disabled(), True
    if activation.hashes and activation.hash_algorithm != hash_algorithm:
        return _invalid_request(_("The hash algorithm differs from the authorized one.")), False
    if len(hex_hashes) > activation.signatures_left:
        return ApplicationError(
            "num_signatures_too_high",
            ngettext_lazy(
                "This authorization allows only %(count)d more signature.",
                "This authorization allows only %(count)d more signatures.",
                "count",
            )
            % {"count": activation.signatures_left},
        ), False
    if activation.hashes and (Counter(hex_hashes) - Counter(activation.hashes)):
        return ApplicationError("unauthorized_hash", _("A hash to sign was not part of the authorization.")), False
    return None, False


def _unwrap(activation: SignatureActivation, one_time_key: bytes) -> bytes:
    """The data key the row holds under the token's K; ``InvalidTag`` for a forged token or an emptied row."""
    return sad.data_key_unwrap(activation.wrapped_data_key, one_time_key=one_time_key, aad=activation.aad)


def _wrap(activation: SignatureActivation, data_key: bytes) -> bytes:
    """Wrap ``data_key`` for this row (its AAD) under a fresh one-time key K; returns K."""
    activation.wrapped_data_key, one_time_key = sad.data_key_wrap(data_key, aad=activation.aad)
    return one_time_key


def _usable_refusal(
    activation: SignatureActivation | None, *, one_time_key: bytes, certificate: Certificate,
    client: ClientIdentity | None, hex_hashes: list[str], now: datetime, job: SigningJob | None,
) -> tuple[ApplicationError | None, bool]:
    """``_refusal`` for documents (SHA-256), plus the token's K tried on the row (nothing spent)."""
    error, close = _refusal(
        activation, certificate=certificate, client=client, hex_hashes=hex_hashes, hash_algorithm="sha256",
        now=now, job=job,
    )
    if error is None and activation is not None:
        try:
            _unwrap(activation, one_time_key)
        except InvalidTag:
            error = _sad_expired()
    return error, close


def signature_activation_check(
    *, sad_token: str, certificate: Certificate, documents: Sequence[bytes], client: ClientIdentity | None = None,
    ip: str = "", job: SigningJob | None = None,
) -> None:
    """Would this SAD sign these documents now? Raises the error signing would raise; spends nothing.

    The one-time key is tried too (AES-GCM tag), so a forged token is refused here as well; the
    signing step checks everything again. An activation reserved for a batch job passes for ``job``
    only. (Submitting a job does these checks under the row lock: ``signature_activation_reserve``.)
    """
    public_id, one_time_key = _token_decode(sad_token)
    digests = [hashlib.sha256(bytes(d)).hexdigest() for d in documents]
    activation = (
        SignatureActivation.objects.select_related("holder__user").filter(public_id=public_id).first()
    )
    error, _close_it = _usable_refusal(
        activation, one_time_key=one_time_key, certificate=certificate, client=client, hex_hashes=digests,
        now=timezone.now(), job=job,
    )
    if error is not None:
        _activation_refusal_audit(
            error, step="check", activation=activation, certificate=certificate, client=client, ip=ip,
            count=len(digests),
        )
        raise error


# --- One SAD, one job -----------------------------------------------------------------------------


def signature_activation_reserve(
    *, sad_token: str, certificate: Certificate, documents: Sequence[bytes], client: ClientIdentity | None,
    create_job: Callable[[SignatureActivation], SigningJob], ip: str = "",
) -> SigningJob:
    """Hand an activation to one batch job: the checks signing makes, then ``create_job``, atomically.

    Under the activation's row lock: the SAD must be able to sign these documents now (nothing is
    spent) and must not be reserved for a job already; ``create_job(activation)`` stores the job in
    the same transaction and the activation is reserved for it. From then on only that job's worker
    spends it (``signature_sign_documents(job=…)``): a second submission, a synchronous signing call
    or an extension with the same SAD gets ``sad_expired``, like a SAD already used — and nothing of
    a refused submission is stored.
    """
    public_id, one_time_key = _token_decode(sad_token)
    digests = [hashlib.sha256(bytes(d)).hexdigest() for d in documents]
    error: ApplicationError | None = None
    job: SigningJob | None = None
    with transaction.atomic():
        now = timezone.now()
        activation = _activation_locked(public_id)
        error, close = _usable_refusal(
            activation, one_time_key=one_time_key, certificate=certificate, client=client, hex_hashes=digests,
            now=now, job=None,
        )
        if close and activation is not None:
            _close(activation, now)
        if error is None and activation is not None:
            job = create_job(activation)
            activation.reserved_for = job
            activation.save(update_fields=["reserved_for"])
    if error is not None:
        _activation_refusal_audit(
            error, step="reserve", activation=activation, certificate=certificate, client=client, ip=ip,
            count=len(digests),
        )
        raise error
    assert job is not None
    return job


def signature_activation_close_for_job(*, job: SigningJob) -> None:
    """A failed job's activation is closed (its wrapped data key erased), and stays reserved for it:
    the SAD it was given is used up, whether or not the job got as far as signing."""
    now = timezone.now()
    SignatureActivation.objects.filter(reserved_for=job, closed_at__isnull=True).update(
        closed_at=now, wrapped_data_key=b""
    )


# --- Extend (CSC credentials/extendTransaction) ---------------------------------------------------


def _not_extendable() -> ApplicationError:
    return ApplicationError(
        "sad_expired",
        _("This signature authorization cannot be extended any further: authorize again with PIN and OTP."),
    )


def signature_activation_extend(
    *,
    sad_token: str,
    certificate: Certificate,
    client: ClientIdentity | None = None,
    hashes: Sequence[bytes] | None = None,
    hash_algorithm: str | None = None,
    ip: str = "",
) -> tuple[SignatureActivation, str]:
    """A new SAD token and a new expiry for what an open activation still allows; the old token dies.

    CSC ``credentials/extendTransaction``: an activation that can still sign (not expired, not used
    up, not reserved for a batch job, this certificate, this API client) is re-keyed under the row
    lock — its data key unwrapped with the old token's K, wrapped again under a fresh K', and its
    ``public_id`` replaced (the AAD changes with it), so the old token finds no row any more. Nothing
    new is authorized: the remaining hashes and ``signatures_left`` are kept as they are. ``hashes``
    (CSC: the hashes the new SAD is for, required with SCAL 2 by the specification) must each be
    among the ones still authorized (``unauthorized_hash`` otherwise); the new SAD still covers all
    of them. The new expiry is ``now + SIGNING_SAD_LIFETIME_SECONDS``, never past
    ``created_at + SIGNING_SAD_MAX_TOTAL_SECONDS``; from that bound on, extending is refused
    (``sad_expired``: the holder's PIN and OTP are needed again). Every extension and every refusal is
    audited.
    """
    activation: SignatureActivation | None = None
    error: ApplicationError | None = None
    new_key = b""
    previous = ""
    try:
        public_id, one_time_key = _token_decode(sad_token)
        hex_hashes = _hashes_hex(hashes, hash_algorithm or "sha256") if hashes else []
    except ApplicationError as exc:
        _refusal_audit(exc, step="extend", holder=None, certificate=certificate, channel="", client=client, ip=ip)
        raise
    with transaction.atomic():
        now = timezone.now()
        activation = _activation_locked(public_id)
        algorithm = hash_algorithm or (activation.hash_algorithm if activation is not None else "sha256")
        error, close = _refusal(
            activation, certificate=certificate, client=client, hex_hashes=hex_hashes, hash_algorithm=algorithm,
            now=now,
        )
        if close and activation is not None:
            _close(activation, now)
        if error is None and activation is not None:
            bound = activation.created_at + timedelta(seconds=settings.SIGNING_SAD_MAX_TOTAL_SECONDS)
            try:
                if now >= bound:
                    raise _not_extendable()
                data_key = _unwrap(activation, one_time_key)
            except InvalidTag:
                error = _sad_expired()
            except ApplicationError as exc:
                error = exc
            else:
                previous = str(activation.public_id)
                activation.public_id = uuid.uuid4()
                new_key = _wrap(activation, data_key)
                del data_key
                activation.expires_at = min(now + timedelta(seconds=settings.SIGNING_SAD_LIFETIME_SECONDS), bound)
                activation.save(update_fields=["public_id", "wrapped_data_key", "expires_at"])
                audit_record(
                    event_type=AuditEventType.SIGNATURE_EXTENDED,
                    actor=activation.holder.user,
                    organization=activation.organization_id,
                    subject=certificate,
                    ip=ip,
                    details={
                        "iut": certificate.iut, "activation": str(activation.public_id), "previous": previous,
                        "channel": activation.channel, "client": activation.client_id,
                        "signatures_left": activation.signatures_left, "hashes": len(hex_hashes),
                        "expires_at": activation.expires_at.isoformat(),
                    },
                )
    if error is not None:
        _activation_refusal_audit(
            error, step="extend", activation=activation, certificate=certificate, client=client, ip=ip,
            count=len(hex_hashes),
        )
        raise error
    assert activation is not None
    return activation, sad.token_encode(activation.public_id, new_key)


def signature_activations_purge(*, now: datetime | None = None) -> int:
    """Close expired activations (their wrapped data key erased) and delete old closed ones. Beat job."""
    now = now or timezone.now()
    closed = SignatureActivation.objects.filter(closed_at__isnull=True, expires_at__lte=now).update(
        closed_at=now, wrapped_data_key=b""
    )
    horizon = now - timedelta(days=settings.SIGNING_ACTIVATION_RETENTION_DAYS)
    SignatureActivation.objects.filter(closed_at__lt=horizon).delete()
    return closed
