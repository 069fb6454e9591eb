"""Validation of holder data and of passwords against the organization's policy."""

from __future__ import annotations

from typing import Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from stdnum.exceptions import InvalidChecksum
from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.it import codicefiscale

MAX_PASSWORD_LENGTH = 128


def normalize_codice_fiscale(value: str) -> str:
    """Upper-case, no spaces, checksum verified; raises ``ValidationError`` with a message."""
    compact = "".join(str(value).split()).upper()
    if len(compact) != 16:
        raise ValidationError(_("The codice fiscale must be 16 characters long."), code="invalid_length")
    try:
        return codicefiscale.validate(compact)
    except InvalidChecksum as exc:
        raise ValidationError(
            _("The codice fiscale is not valid: its check character does not match."), code="checksum"
        ) from exc
    except StdnumValidationError as exc:
        raise ValidationError(_("The codice fiscale is not valid."), code="invalid") from exc


def normalize_mobile(value: str) -> str:
    """A mobile number in E.164 (``+393471234567``); Italian numbers may be typed without +39."""
    text = str(value).strip()
    if len(text) > 32:
        raise ValidationError(_("The mobile number is too long."), code="too_long")
    try:
        number = phonenumbers.parse(text, "IT")
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(_("Enter a valid mobile number, for example +39 347 123 4567."), code="invalid") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(_("Enter a valid mobile number, for example +39 347 123 4567."), code="invalid")
    if phonenumbers.number_type(number) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise ValidationError(
            _("This is not a mobile number: codes are sent by SMS, so a mobile number is needed."),
            code="not_mobile",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(value: str) -> str:
    """A syntactically valid address, lower-cased: compared case-insensitively for the one-person rule."""
    text = str(value).strip().lower()
    if len(text) > 254:
        raise ValidationError(_("The e-mail address is too long."), code="too_long")
    try:
        validate_email(text)
    except ValidationError as exc:
        raise ValidationError(_("Enter a valid e-mail address, for example name@example.org."), code="invalid") from exc
    return text


class OrganizationMinimumLengthValidator:
    """Minimum password length from the user's organization policy (platform default otherwise)."""

    def _minimum(self, user: Any) -> int:
        organization = getattr(user, "organization", None) if user is not None else None
        if organization is not None:
            return int(organization.password_min_length)
        return int(settings.PASSWORD_MIN_LENGTH)

    def validate(self, password: str, user: Any = None) -> None:
        minimum = self._minimum(user)
        if len(password) < minimum:
            raise ValidationError(
                ngettext(
                    "The password must contain at least %(min_length)d character.",
                    "The password must contain at least %(min_length)d characters.",
                    minimum,
                )
                % {"min_length": minimum},
                code="password_too_short",
                params={"min_length": minimum},
            )

    def get_help_text(self) -> str:
        return _("At least %(min_length)d characters, as your organization requires.") % {
            "min_length": int(settings.PASSWORD_MIN_LENGTH)
        }


class MaximumLengthValidator:
    """Long passphrases are welcome, but not megabytes handed to Argon2 (ASVS 2.1.2)."""

    def validate(self, password: str, user: Any = None) -> None:
        if len(password) > MAX_PASSWORD_LENGTH:
            raise ValidationError(
                _("The password must contain at most %(max_length)d characters.") % {"max_length": MAX_PASSWORD_LENGTH},
                code="password_too_long",
            )

    def get_help_text(self) -> str:
        return _("At most %(max_length)d characters.") % {"max_length": MAX_PASSWORD_LENGTH}
