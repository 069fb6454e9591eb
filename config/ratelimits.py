"""Every rate limit of the product, as data, in one place.

Format: "<count>/<seconds>s" — at most ``count`` hits per fixed window of ``seconds``. The edge
(views and API views) calls :func:`core.ratelimit.consume_or_429` with one of these names.
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
    # Password and username recovery, per source address: a person needs one or two tries, a
    # shared university NAT a few dozen an hour; a script harvesting accounts is stopped (the
    # captcha is the other half).
    "recovery_ip": "30/3600s",
    # Per account (the username or codice fiscale typed): five guesses an hour make the 10-digit
    # user code and the codice fiscale + e-mail pair unguessable, and cap the SMS and e-mails one
    # stranger can make us send to a person.
    "recovery_account": "5/3600s",
    # SMS codes typed on the recovery page, per source address (each request also allows 5).
    "recovery_code_ip": "30/600s",
    # Certificate activation pages, per source address: a holder needs a dozen requests; the wrong
    # temporary passwords are capped per link (5) and OTP codes per device (10) on their own.
    "activation_ip": "60/600s",
    # Per activation (the link opened): bounds what one stolen session can try in a window.
    "activation_link": "30/600s",
    # Verifying a signed PDF parses it and checks every signature's chain and revocation: a holder
    # checks a few documents at a time; this bounds the CPU one session can take.
    "signature_validation_user": "30/600s",
    # The language switch is harmless, but unbounded POSTs still cost a session write each.
    "language_ip": "60/60s",
    # API calls per client (every endpoint but the token one): a university system signing exam
    # records makes a few calls per batch; a runaway loop is cut off without hurting the others.
    "api_client": "600/60s",
    # Token requests per source address, whatever they claim: a token lives 10 minutes, so a
    # well-behaved system asks a few times an hour; this bounds the secret checks (a password hash
    # each) that one address can make us do.
    "api_token_ip": "120/600s",
    # Token requests that got no token, per client id (known or not) AND source address. Never per
    # client id alone: then anyone who knows a client id (it is not a secret) could lock the real
    # system out from anywhere. A correct secret costs nothing here; a misconfigured system sees
    # its mistake within a few tries; a guesser at one address gets 20 guesses of a 128-character
    # secret per window. Once spent, that address's requests for that client are not checked at all.
    "api_token_client_ip": "20/600s",
    # Not a refusal: wrong secrets for one client (every address together) that make us audit an
    # alert and e-mail the organization's admins — once per window, whatever the volume.
    "api_token_failures_alert": "10/3600s",
}
