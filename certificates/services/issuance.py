"""Issuance at the registration office and the activation messages.

The operator has identified the person face to face and fills in the request form (section A: the
person; section B: the role) and chooses the OTP device. One transaction then creates the holder,
assigns the token (if any), requests and issues the certificate, draws a new user code and a
temporary password, and queues the activation messages: an e-mail with username, user code and the
activation link, an SMS with the temporary password. Any refusal — a codice fiscale
that fails its checksum, an e-mail that belongs to another person, a token not in stock, a second
live certificate — rolls all of it back: no holder, no certificate, no message.

Section B is the verification of the role: the operator enters the organization and title after
checking them with the person and their documents, and only what was entered there reaches the
certificate's O and title (``certificates.services.lifecycle.role_subject``); a person with no role
gets a certificate without either.

Secrets are never stored readable: the link as an HMAC, the temporary password and the user code as
Argon2 hashes, and the messages carry them only in their sealed copy.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from datetime import date
from typing import Any
from urllib.parse import urljoin

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Holder, Organization, User
from accounts.services.people import holder_create, holder_user_code_issue
from audit.events import AuditEventType
from audit.services import audit_record
from certificates.models import (
    ACTIVATION_OPEN_STATES,
    Activation,
    ActivationState,
    Certificate,
    CertificateState,
    OtpChoice,
)
from certificates.services.lifecycle import certificate_issue, certificate_request
from core.errors import ApplicationError
from notifications.models import Channel
from notifications.services import message_enqueue
from otp.models import DeviceKind, DeviceState, OtpDevice
from otp.services import token_assign

# Temporary passwords are typed from an SMS: no look-alike characters (0/O, 1/l/I).
_TEMPORARY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"
TEMPORARY_PASSWORD_MIN_CHARS = 16  # 16 of 55 symbols: ~92 bits, and 5 tries per link
_USERNAME_PART = re.compile(r"[^a-z0-9]")


# --- Small pieces -------------------------------------------------------------------------------------


def activation_link_digest(token: str) -> str:
    key = f"certificate-activation-link:{settings.SECRET_KEY}".encode()
    return hmac.new(key, str(token).encode(), hashlib.sha256).hexdigest()


def _absolute(path: str) -> str:
    return urljoin(settings.SITE_URL.rstrip("/") + "/", path.lstrip("/"))


def temporary_password_generate(*, organization: Organization) -> str:
    """Random, grouped by four for reading ("Kp7x-Qm3r-…"), at least as long as the policy asks."""
    length = max(TEMPORARY_PASSWORD_MIN_CHARS, organization.password_min_length)
    length += -length % 4
    chars = "".join(secrets.choice(_TEMPORARY_ALPHABET) for _ in range(length))
    return "-".join(chars[i:i + 4] for i in range(0, length, 4))


def _username_part(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return _USERNAME_PART.sub("", ascii_text)


def username_generate(*, given_name: str, surname: str) -> str:
    """``nome.cognome``, accents and spaces dropped; ``nome.cognome1``, ``2``… when taken."""
    base = ".".join(part for part in (_username_part(given_name)[:60], _username_part(surname)[:60]) if part)
    base = base or "titolare"
    for suffix in ["", *map(str, range(1, 1000))]:
        candidate = f"{base}{suffix}"
        if not User.objects.filter(username__iexact=candidate).exists():
            return candidate
    raise ApplicationError("username_exhausted", _("No free username could be generated for this name."))


def _check_otp_choice(organization: Organization, otp_choice: str) -> None:
    allowed = {
        OtpChoice.HARDWARE: organization.otp_hardware_allowed,
        OtpChoice.APP: organization.otp_app_allowed,
        OtpChoice.SMS: organization.otp_sms_allowed,
    }
    if otp_choice not in allowed:
        raise ApplicationError("otp_choice_invalid", _("Choose the OTP device."), field="otp_choice")
    if not allowed[OtpChoice(otp_choice)]:
        raise ApplicationError(
            "otp_choice_not_allowed", _("Your organization does not use this kind of OTP device."), field="otp_choice"
        )


def _check_id_document(expiry: date | None) -> None:
    if expiry is not None and expiry < timezone.localdate():
        raise ApplicationError(
            "id_document_expired",
            _("The identity document has expired: identification needs a valid document."),
            field="id_document_expiry",
        )


def _has_active_token(holder: Holder) -> bool:
    return OtpDevice.objects.filter(
        holder=holder, kind__in=(DeviceKind.HARDWARE_HOTP, DeviceKind.HARDWARE_TOTP), state=DeviceState.ACTIVE
    ).exists()


def _assign_device(*, holder: Holder, otp_choice: str, token_serial: str, actor: User, ip: str) -> None:
    if otp_choice != OtpChoice.HARDWARE:
        return
    if token_serial.strip():
        token_assign(actor=actor, holder=holder, serial=token_serial, ip=ip)
    elif not _has_active_token(holder):
        raise ApplicationError(
            "serial_required", _("Enter the serial number of the token handed to the holder."), field="token_serial"
        )


# --- The activation messages ------------------------------------------------------------------------


def _activation_send(*, certificate: Certificate, otp_choice: str, actor: User | None, ip: str) -> Activation:
    """A new activation for an issued certificate: any earlier link and temporary password die.

    The caller holds a transaction; the messages are queued in it and leave only if it commits.
    """
    holder = Holder.objects.select_related("user", "organization").get(pk=certificate.holder_id)
    superseded = Activation.objects.filter(certificate=certificate, state__in=ACTIVATION_OPEN_STATES).update(
        state=ActivationState.SUPERSEDED, temporary_password_hash="", new_password_hash=""
    )
    token = secrets.token_urlsafe(32)
    temporary_password = temporary_password_generate(organization=holder.organization)
    activation = Activation.objects.create(
        organization=holder.organization,
        holder=holder,
        certificate=certificate,
        otp_choice=otp_choice,
        link_hash=activation_link_digest(token),
        temporary_password_hash=make_password(temporary_password),
        expires_at=certificate.activation_deadline or timezone.now(),
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    # Every activation e-mail carries a new user code: it is the one place the holder is told to keep it.
    user_code = holder_user_code_issue(holder=holder, actor=actor, ip=ip)
    deadline = timezone.localtime(activation.expires_at)
    language = holder.user.preferred_language
    link = _absolute(reverse("activation:start", kwargs={"token": token}))
    message_enqueue(
        message_type="certificate_activation",
        channel=Channel.EMAIL,
        recipient=holder.email,
        context={
            "holder_name": holder.full_name,
            "username": holder.user.username,
            "deadline": formats.date_format(deadline, "d/m/Y"),
        },
        secrets={"link": link, "user_code": user_code},
        idempotency_key=f"activation:{activation.public_id}:email",
        language=language,
        holder=holder,
    )
    message_enqueue(
        message_type="certificate_activation_password",
        channel=Channel.SMS,
        recipient=holder.mobile,
        context={"username": holder.user.username},
        secrets={"temporary_password": temporary_password},
        idempotency_key=f"activation:{activation.public_id}:sms",
        language=language,
        holder=holder,
    )
    audit_record(
        event_type=AuditEventType.CERTIFICATE_ACTIVATION_SENT,
        actor=actor,
        organization=holder.organization,
        subject=activation,
        ip=ip,
        details={"iut": certificate.iut, "device": otp_choice, "superseded": superseded},
    )
    return activation


# --- The operations ---------------------------------------------------------------------------------


def holder_register_and_issue(
    *,
    organization: Organization,
    actor: User,
    given_name: str,
    surname: str,
    codice_fiscale: str,
    email: str,
    mobile: str,
    otp_choice: str,
    token_serial: str = "",
    ip: str = "",
    **identity: Any,
) -> Certificate:
    """Register a person identified face to face and issue their certificate, all or nothing.

    ``identity`` is the rest of the request form (birth, ID document, residence, role data: see
    ``holder_create``). Returns the issued certificate (awaiting activation); the holder is
    ``certificate.holder``.
    """
    _check_otp_choice(organization, otp_choice)
    _check_id_document(identity.get("id_document_expiry"))
    if otp_choice == OtpChoice.HARDWARE and not token_serial.strip():
        raise ApplicationError(
            "serial_required", _("Enter the serial number of the token handed to the holder."), field="token_serial"
        )
    with transaction.atomic():
        holder = holder_create(
            organization=organization,
            username=username_generate(given_name=given_name, surname=surname),
            codice_fiscale=codice_fiscale,
            given_name=given_name,
            surname=surname,
            email=email,
            mobile=mobile,
            actor=actor,
            password=None,  # no password until the activation: the temporary one opens only the activation
            ip=ip,
            **identity,
        )
        _assign_device(holder=holder, otp_choice=otp_choice, token_serial=token_serial, actor=actor, ip=ip)
        certificate = certificate_issue(certificate=certificate_request(holder=holder, actor=actor, ip=ip),
                                        actor=actor, ip=ip)
        _activation_send(certificate=certificate, otp_choice=otp_choice, actor=actor, ip=ip)
        audit_record(
            event_type=AuditEventType.OPERATOR_HOLDER_REGISTERED,
            actor=actor,
            organization=organization,
            subject=holder,
            ip=ip,
            details={"iut": certificate.iut, "device": otp_choice},
        )
    return certificate


def certificate_issue_for_holder(
    *, holder: Holder, actor: User, otp_choice: str, token_serial: str = "", ip: str = ""
) -> Certificate:
    """A new certificate for a registered holder (after revocation or expiry), with its activation.

    The caller's selector has checked that ``holder`` belongs to the operator's organization. For a
    hardware token the serial may be left empty when the holder already has an active token.
    """
    _check_otp_choice(holder.organization, otp_choice)
    _check_id_document(holder.id_document_expiry)
    with transaction.atomic():
        _assign_device(holder=holder, otp_choice=otp_choice, token_serial=token_serial, actor=actor, ip=ip)
        certificate = certificate_issue(certificate=certificate_request(holder=holder, actor=actor, ip=ip),
                                        actor=actor, ip=ip)
        _activation_send(certificate=certificate, otp_choice=otp_choice, actor=actor, ip=ip)
    return certificate


def activation_resend(*, certificate: Certificate, actor: User, ip: str = "") -> Activation:
    """Send the activation again: a new link, a new temporary password (and user code); the old ones die."""
    with transaction.atomic():
        locked = Certificate.objects.select_for_update().get(pk=certificate.pk)
        if locked.state != CertificateState.ISSUED:
            raise ApplicationError(
                "not_awaiting_activation", _("Only a certificate awaiting activation can be sent for activation.")
            )
        if locked.activation_deadline is not None and locked.activation_deadline <= timezone.now():
            raise ApplicationError(
                "activation_deadline_passed",
                _("The activation deadline of this certificate has passed: a new certificate is needed."),
            )
        previous = Activation.objects.filter(certificate=locked).order_by("-created_at", "-pk").first()
        otp_choice = previous.otp_choice if previous is not None else _default_choice(locked.organization)
        activation = _activation_send(certificate=locked, otp_choice=otp_choice, actor=actor, ip=ip)
        audit_record(
            event_type=AuditEventType.OPERATOR_ACTIVATION_RESENT,
            actor=actor, organization=locked.organization, subject=activation,
            ip=ip, details={"iut": locked.iut},
        )
    return activation


def _default_choice(organization: Organization) -> str:
    for choice, allowed in (
        (OtpChoice.SMS, organization.otp_sms_allowed),
        (OtpChoice.APP, organization.otp_app_allowed),
        (OtpChoice.HARDWARE, organization.otp_hardware_allowed),
    ):
        if allowed:
            return choice
    return OtpChoice.SMS
