"""What the holder reads after a code check, in one place for every OTP page."""

from __future__ import annotations

from django.utils.translation import gettext as _

from otp.services import CODE_REPLAYED_MESSAGE, VerifyOutcome, VerifyResult


def verify_message(outcome: VerifyOutcome, failures_left: int | None, *, enrolment: bool = False) -> str:
    if outcome is VerifyOutcome.LOCKED:
        if enrolment:
            return _("Too many wrong codes: this enrolment is locked. Start again to get a new QR code.")
        return _(
            "This device is locked after too many wrong codes. Synchronize it (hardware token), change the "
            "smartphone app, or contact your registration office."
        )
    if outcome is VerifyOutcome.MALFORMED:
        return _("Enter the 6 or 8 digits shown by your device.")
    if outcome is VerifyOutcome.REPLAYED:
        return str(CODE_REPLAYED_MESSAGE)
    if outcome is VerifyOutcome.NOT_USABLE:
        return _("This device cannot be used.")
    return _("The code is not correct. Attempts left before the device is locked: %(left)d") % {
        "left": failures_left or 0
    }


def sms_code_message(result: VerifyResult, *, refused: str) -> str:
    """After a refused SMS code: the replay message for a code already used, else the page's ``refused``."""
    if result.outcome is VerifyOutcome.REPLAYED:
        return str(CODE_REPLAYED_MESSAGE)
    return refused
