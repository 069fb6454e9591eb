"""The signing PIN rule, pure: no database, no vault, no transaction.

Used by activation (choosing the PIN), PIN change and the demo world; the vault never sees a PIN
this rule refused.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError

if TYPE_CHECKING:
    from accounts.models import Holder

# The PIN is the only secret between the server's keys and a signature in the holder's name, and
# whoever holds the database *and* the server's secrets can guess it offline at one Argon2id per
# guess (CA_PIN_KDF_COST: about 0.2 s per guess per core here). The lengths make exhausting the
# space a matter of core-centuries: 10^10 digit-only PINs, or ≥ 36^8 ≈ 2.8·10^12 with letters.
PIN_MIN_LENGTH = 8
PIN_MIN_LENGTH_DIGITS_ONLY = 10
PIN_MAX_LENGTH = 64

def _is_sequence(text: str) -> bool:
    steps = {ord(b) - ord(a) for a, b in zip(text, text[1:], strict=False)}
    return steps in ({1}, {-1})

def pin_validate(*, pin: str, holder: Holder | None = None) -> None:
    """The signing PIN rule: 10 digits, or 8 characters with letters, and not guessable from the holder's data.

    Characters of any kind are allowed; a PIN of digits only must be longer, because its alphabet is
    smaller. What is refused is what an attacker tries first: one repeated character, a run like
    12345678 or 87654321, the codice fiscale or the birth date.
    """
    if not isinstance(pin, str) or len(pin) < PIN_MIN_LENGTH:
        raise ApplicationError("weak_pin", _("The PIN must be at least 8 characters long."), field="pin")
    if len(pin) > PIN_MAX_LENGTH:
        raise ApplicationError("weak_pin", _("The PIN must be at most 64 characters long."), field="pin")
    if len(set(pin)) == 1:
        raise ApplicationError("weak_pin", _("The PIN must not repeat a single character."), field="pin")
    if _is_sequence(pin.lower()):
        raise ApplicationError(
            "weak_pin", _("The PIN must not be a run of consecutive characters, such as 12345678."), field="pin"
        )
    if pin.isdigit() and len(pin) < PIN_MIN_LENGTH_DIGITS_ONLY:
        raise ApplicationError(
            "weak_pin", _("A PIN of digits only must be at least 10 digits long (or add letters)."), field="pin"
        )
    if holder is not None:
        normalized = re.sub(r"[\s./-]", "", pin).upper()
        cf = holder.codice_fiscale.upper()
        if cf and (cf in normalized or normalized in cf):
            raise ApplicationError("weak_pin", _("The PIN must not contain your codice fiscale."), field="pin")
        if holder.birth_date is not None:
            d = holder.birth_date
            dates = {
                d.strftime(fmt) for fmt in ("%d%m%Y", "%Y%m%d", "%d%m%y", "%m%d%Y", "%y%m%d", "%Y%d%m")
            }
            if any(date in normalized for date in dates):
                raise ApplicationError("weak_pin", _("The PIN must not contain your birth date."), field="pin")
