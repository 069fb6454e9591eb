"""Holders, operators and the one-person-per-contact rule."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from typing import Any

from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import ContactKind, ContactOwnership, Holder, Operator, OperatorRole, Organization, User, UserKind
from accounts.validators import normalize_codice_fiscale, normalize_email, normalize_mobile
from audit.events import AuditEventType
from audit.services import audit_record
from core.errors import ApplicationError
from core.usernames import normalize_username
from notifications.services import security_notice_send

_CONTACT_TAKEN = {
    ContactKind.EMAIL: _(
        "This e-mail address is already associated with another person. An e-mail address is a reserved "
        "contact channel and an authentication factor: it must belong to you alone. Enter a different one."
    ),
    ContactKind.MOBILE: _(
        "This mobile number is already associated with another person. A mobile number is a reserved "
        "contact channel and an authentication factor: it must belong to you alone. Enter a different one."
    ),
}


def _as_application_error(exc: ValidationError, field: str) -> ApplicationError:
    return ApplicationError(f"invalid_{field}", " ".join(exc.messages), field=field)


def _first_field_error(exc: ValidationError) -> ApplicationError:
    """A model's ``full_clean`` error (over-long name, bad date…) as the service's error type."""
    if hasattr(exc, "error_dict"):
        field, errors = next(iter(exc.error_dict.items()))
        return ApplicationError(f"invalid_{field}", " ".join(ValidationError(errors).messages), field=field)
    return ApplicationError("invalid", " ".join(exc.messages))


def _normalized(normalize: Callable[[str], str], value: str, field: str) -> str:
    try:
        return normalize(value)
    except ValidationError as exc:
        raise _as_application_error(exc, field) from exc


def _contact_claim(*, kind: str, value: str, codice_fiscale: str) -> None:
    """Record that ``value`` belongs to ``codice_fiscale``, or refuse if it belongs to someone else."""
    existing = ContactOwnership.objects.filter(kind=kind, value=value).first()
    if existing is not None:
        if existing.codice_fiscale != codice_fiscale:
            raise ApplicationError("contact_taken", _CONTACT_TAKEN[ContactKind(kind)], field=kind)
        return
    try:
        with transaction.atomic():
            ContactOwnership.objects.create(kind=kind, value=value, codice_fiscale=codice_fiscale)
    except IntegrityError as exc:  # claimed concurrently by another writer
        owner = ContactOwnership.objects.filter(kind=kind, value=value).values_list("codice_fiscale", flat=True)
        if list(owner) != [codice_fiscale]:
            raise ApplicationError("contact_taken", _CONTACT_TAKEN[ContactKind(kind)], field=kind) from exc


def _contact_release(*, kind: str, value: str, codice_fiscale: str) -> None:
    """Free a contact once no holder record of that person uses it any more."""
    field = "email" if kind == ContactKind.EMAIL else "mobile"
    still_used = Holder.objects.filter(codice_fiscale=codice_fiscale, **{f"{field}__iexact": value}).exists()
    if not still_used:
        ContactOwnership.objects.filter(kind=kind, value=value, codice_fiscale=codice_fiscale).delete()


def _checked_username(username: str) -> str:
    username = username.strip()
    if not username or len(username) > 150:
        raise ApplicationError("invalid_username", _("Enter a username of at most 150 characters."), field="username")
    try:
        UnicodeUsernameValidator()(username)
    except ValidationError as exc:
        raise _as_application_error(exc, "username") from exc
    return username


def holder_create(
    *,
    organization: Organization,
    username: str,
    codice_fiscale: str,
    given_name: str,
    surname: str,
    email: str,
    mobile: str,
    actor: User | None = None,
    password: str | None = None,
    ip: str = "",
    **identity: Any,
) -> Holder:
    """Create a holder account and record, enforcing codice fiscale, E.164 and contact ownership.

    ``identity`` carries the optional identity data (birth, ID document, residence, role data).
    """
    cf = _normalized(normalize_codice_fiscale, codice_fiscale, "codice_fiscale")
    mobile_e164 = _normalized(normalize_mobile, mobile, "mobile")
    email_normalized = _normalized(normalize_email, email, "email")
    username = _checked_username(username)
    allowed = {field.name for field in Holder._meta.get_fields()} - {"id", "user", "organization"}
    unknown = set(identity) - allowed
    if unknown:
        raise TypeError(f"unknown holder fields: {sorted(unknown)}")
    holder = Holder(
        organization=organization,
        codice_fiscale=cf,
        given_name=given_name.strip(),
        surname=surname.strip(),
        email=email_normalized,
        mobile=mobile_e164,
        **identity,
    )
    try:  # every field checked before anything is written
        holder.full_clean(exclude=["user", "organization"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise _first_field_error(exc) from exc
    with transaction.atomic():
        if Holder.objects.filter(organization=organization, codice_fiscale=cf).exists():
            raise ApplicationError(
                "holder_exists",
                _("A holder with this codice fiscale is already registered in this organization."),
                field="codice_fiscale",
            )
        if User.objects.filter(username__iexact=username).exists():
            raise ApplicationError("username_taken", _("This username is already in use."), field="username")
        _contact_claim(kind=ContactKind.EMAIL, value=email_normalized, codice_fiscale=cf)
        _contact_claim(kind=ContactKind.MOBILE, value=mobile_e164, codice_fiscale=cf)
        holder.user = User.objects.create_user(username, password, kind=UserKind.HOLDER)
        holder.save()
        audit_record(
            event_type=AuditEventType.HOLDER_CREATED, actor=actor, organization=organization, subject=holder, ip=ip
        )
    return holder


def holder_contacts_update(
    *, holder: Holder, actor: User, email: str | None = None, mobile: str | None = None, ip: str = ""
) -> Holder:
    """Change a holder's e-mail and/or mobile; the one-person rule applies to the new values."""
    changes: dict[str, tuple[str, str]] = {}
    with transaction.atomic():
        locked = Holder.objects.select_for_update().get(pk=holder.pk)
        if email is not None:
            new_email = _normalized(normalize_email, email, "email")
            if new_email != locked.email:
                _contact_claim(kind=ContactKind.EMAIL, value=new_email, codice_fiscale=locked.codice_fiscale)
                changes["email"] = (locked.email, new_email)
                locked.email = new_email
        if mobile is not None:
            new_mobile = _normalized(normalize_mobile, mobile, "mobile")
            if new_mobile != locked.mobile:
                _contact_claim(kind=ContactKind.MOBILE, value=new_mobile, codice_fiscale=locked.codice_fiscale)
                changes["mobile"] = (locked.mobile, new_mobile)
                locked.mobile = new_mobile
        if not changes:
            return locked
        locked.save(update_fields=[*changes, "updated_at"])
        for field, (old, _new) in changes.items():
            kind = ContactKind.EMAIL if field == "email" else ContactKind.MOBILE
            _contact_release(kind=kind, value=old, codice_fiscale=locked.codice_fiscale)
        audit_record(
            event_type=AuditEventType.HOLDER_CONTACTS_CHANGED,
            actor=actor,
            organization=locked.organization,
            subject=locked,
            ip=ip,
            details={"fields": sorted(changes)},
        )
    return locked


RESIDENCE_FIELDS = ("residence_address", "residence_postal_code", "residence_city", "residence_province")


def _max_length(field: str) -> int:
    model_field = Holder._meta.get_field(field)
    assert isinstance(model_field, models.CharField) and model_field.max_length is not None  # the residence fields
    return model_field.max_length


def holder_residence_update(*, holder: Holder, actor: User, ip: str = "", **residence: str) -> Holder:
    """Change the holder's residence (address, postal code, city, province); audited and notified."""
    unknown = set(residence) - set(RESIDENCE_FIELDS)
    if unknown:
        raise ValueError(f"not residence fields: {sorted(unknown)}")
    with transaction.atomic():
        locked = Holder.objects.select_for_update().select_related("user", "organization").get(pk=holder.pk)
        changes = []
        for field, value in residence.items():
            value = " ".join(str(value).split())
            if field == "residence_province":
                value = value.upper()
            if "\x00" in value or len(value) > _max_length(field):
                raise ApplicationError("invalid_residence", _("The address is not valid."), field=field)
            if getattr(locked, field) != value:
                setattr(locked, field, value)
                changes.append(field)
        if not changes:
            return locked
        locked.save(update_fields=[*changes, "updated_at"])
        audit_record(
            event_type=AuditEventType.HOLDER_RESIDENCE_CHANGED,
            actor=actor, organization=locked.organization, subject=locked,
            ip=ip, details={"fields": changes},
        )
        security_notice_send(
            holder=locked, event="residence_changed", reference=f"residence:{locked.updated_at.isoformat()}"
        )
    return locked


def operator_create(
    *,
    organization: Organization,
    username: str,
    given_name: str,
    surname: str,
    email: str,
    role: str = OperatorRole.OPERATOR,
    password: str | None = None,
    actor: User | None = None,
    ip: str = "",
) -> Operator:
    if role not in OperatorRole.values:
        raise ApplicationError("invalid_role", _("Unknown operator role."), field="role")
    username = _checked_username(username)
    operator = Operator(
        organization=organization,
        role=role,
        given_name=given_name.strip(),
        surname=surname.strip(),
        email=_normalized(normalize_email, email, "email"),
    )
    try:
        operator.full_clean(exclude=["user", "organization"], validate_unique=False)
    except ValidationError as exc:
        raise _first_field_error(exc) from exc
    with transaction.atomic():
        if User.objects.filter(username__iexact=username).exists():
            raise ApplicationError("username_taken", _("This username is already in use."), field="username")
        operator.user = User.objects.create_user(username, password, kind=UserKind.OPERATOR)
        operator.save()
        audit_record(
            event_type=AuditEventType.OPERATOR_CREATED,
            actor=actor,
            organization=organization,
            subject=operator,
            ip=ip,
            details={"role": role},
        )
    return operator


USER_CODE_DIGITS = 10


def holder_user_code_issue(*, holder: Holder, actor: User | None = None, ip: str = "") -> str:
    """Give the holder a new user code and return it, in clear, this once.

    Ten random digits (33 bits): guessing is bounded by the captcha and the per-account rate limit
    of the recovery pages, and the stored Argon2 hash makes a database dump useless for it. The
    caller sends the code to the holder (the activation e-mail) and forgets it; any earlier code
    stops working.
    """
    code = f"{secrets.randbelow(10**USER_CODE_DIGITS):0{USER_CODE_DIGITS}d}"
    with transaction.atomic():
        holder.user_code_hash = make_password(code)
        holder.user_code_issued_at = timezone.now()
        holder.save(update_fields=["user_code_hash", "user_code_issued_at", "updated_at"])
        audit_record(
            event_type=AuditEventType.HOLDER_USER_CODE_ISSUED,
            actor=actor, organization=holder.organization, subject=holder, ip=ip
        )
    return code


@functools.cache
def _dummy_user_code_hash() -> str:
    """A hash to check against when there is no account, so that a refusal costs one Argon2 either way."""
    return make_password(secrets.token_hex(8))


def holder_by_user_code(*, username: str, user_code: str) -> tuple[User | None, Holder | None]:
    """The account named ``username`` and, if ``user_code`` is its user code, its holder.

    Exactly one Argon2 check runs whatever the input (against a dummy hash when the username is
    unknown or has no user code yet), so the time taken says nothing about which usernames exist.
    The holder comes back only for an active account of an active organization.
    """
    normalized = normalize_username(username)
    user = (
        User.objects.select_related("holder__organization").filter(username=normalized, kind=UserKind.HOLDER).first()
        if normalized
        else None
    )
    holder: Holder | None = getattr(user, "holder", None) if user is not None else None
    stored = holder.user_code_hash if holder is not None and holder.user_code_hash else _dummy_user_code_hash()
    code_ok = check_password(user_code_normalize(user_code), stored)
    if (
        code_ok
        and holder is not None
        and holder.user_code_hash
        and user is not None
        and user.is_active
        and holder.organization.is_active
    ):
        return user, holder
    return user, None


def user_code_normalize(value: str) -> str:
    """What people type from the e-mail, spaces and dashes included, as the digits only."""
    return "".join(ch for ch in str(value or "") if ch not in " -\u00a0\t")[:32]
