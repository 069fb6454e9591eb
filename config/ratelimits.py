"""Every rate limit of the product, as data, in one place.

Format: "<count>/<seconds>s" — at most ``count`` hits per fixed window of ``seconds``. The edge
(views and API views) calls :func:`accounts.ratelimit.consume_or_429` with one of these names.
Account lockout (per username) lives in the organization's policy, not here: these budgets protect
against volume from one source, the lockout protects one account.
"""

from __future__ import annotations

RATE_LIMITS: dict[str, str] = {
    # A person mistyping needs a handful of tries; 30 per 10 minutes from one address still lets
    # a shared university NAT log in a class, while a password-spraying script is stopped early.
    "login_ip": "30/600s",
    # Password changes re-check the current password: same reasoning as login, per account.
    "password_change_user": "10/600s",
    # OTP checks from the panel, per account: the device lockout (10 wrong codes) protects the
    # device; this bounds the volume of attempts a session can make at all.
    "otp_verify_user": "20/600s",
    # The language switch is harmless, but unbounded POSTs still cost a session write each.
    "language_ip": "60/60s",
}
