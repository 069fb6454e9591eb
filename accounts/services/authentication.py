"""Login, logout, lockout and password changes (ASVS V2, V3)."""

from __future__ import annotations

import enum
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import login as django_login
from django.contrib.auth import logout as django_logout
from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.models import Session
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Holder, LoginThrottle, Organization, User, UserKind
from audit.events import AuditEventType
from audit.models import Outcome
from audit.services import audit_record
from core.errors import ApplicationError
from core.ratelimit import client_ip
from core.usernames import normalize_username
from notifications.services import security_notice_send

# The platform's own login policy: platform admins (Django admin) have no organization.
DEFAULT_MAX_FAILURES = 5
DEFAULT_LOCKOUT_MINUTES = 15

SESSION_LOGIN_AT_KEY = "auth_login_at"


class Portal(enum.StrEnum):
    """Where a login happens; each accepts one kind of account."""

    PANEL = "panel"
    CONSOLE = "console"
    ADMIN = "admin"


_PORTAL_KIND = {Portal.PANEL: UserKind.HOLDER, Portal.CONSOLE: UserKind.OPERATOR, Portal.ADMIN: UserKind.PLATFORM_ADMIN}


class LoginOutcome(enum.Enum):
    SUCCESS = "success"
    INVALID = "invalid"
    LOCKED = "locked"


@dataclass(frozen=True)
class LoginResult:
    outcome: LoginOutcome
    user: User | None = None
    attempts_left: int | None = None
    locked_until: datetime | None = None


def _username_digest(username: str) -> str:
    key = f"login-throttle:{settings.SECRET_KEY}".encode()
    return hmac.new(key, username.encode(), hashlib.sha256).hexdigest()


def _policy(*, user: User | None, portal: Portal, digest: str) -> tuple[int, int]:
    """The lockout policy a username is held to — chosen so that it says nothing about the username.

    Organizations set their own limits, and the message says how many attempts are left and until
    when a username is locked: were an unknown username held to a fixed policy, a name answering
    "2 attempts left" where the platform default would say 4 would be a real account. So a username
    that belongs to no organization (unknown, or a platform admin's) is held to the policy of an
    organization picked by its keyed digest: the same one every time, and the pick of one looks like
    any member of that organization. Django admin, where nobody has an organization, uses the
    platform's policy for every name. Adding an organization re-draws some picks: a name seen before
    and after could then be told unknown — a rare, slow leak, accepted.
    """
    if portal == Portal.ADMIN:
        return DEFAULT_MAX_FAILURES, DEFAULT_LOCKOUT_MINUTES
    organization = user.organization if user is not None else None
    if organization is not None:
        return organization.login_max_failures, organization.login_lockout_minutes
    policies = list(Organization.objects.order_by("pk").values_list("login_max_failures", "login_lockout_minutes"))
    if not policies:
        return DEFAULT_MAX_FAILURES, DEFAULT_LOCKOUT_MINUTES
    return policies[int(digest[:16], 16) % len(policies)]


def _eligible(user: User, portal: Portal) -> bool:
    if not user.is_active or user.kind != _PORTAL_KIND[portal]:
        return False
    if portal == Portal.ADMIN:
        return user.is_staff
    organization = user.organization
    return organization is not None and organization.is_active


def login_attempt(*, username: str, password: str, portal: Portal, ip: str = "") -> LoginResult:
    """Check one login attempt, counting failures per username under a row lock.

    Unknown usernames, wrong passwords, accounts of another portal and disabled accounts all give
    the same answer after the same work (one Argon2 computation), so nothing reveals whether a
    username exists. The failure counter of a username is locked for the whole check: two
    concurrent wrong guesses cannot both see "one attempt left".
    """
    normalized = normalize_username(username)
    digest = _username_digest(normalized)
    user = User.objects.filter(username=normalized).first() if normalized else None
    organization = user.organization if user is not None else None
    max_failures, lockout_minutes = _policy(user=user, portal=portal, digest=digest)
    now = timezone.now()

    with transaction.atomic():
        LoginThrottle.objects.get_or_create(username_digest=digest)
        throttle = LoginThrottle.objects.select_for_update().get(username_digest=digest)
        if throttle.locked_until is not None and throttle.locked_until > now:
            make_password(password)  # same cost as a real check
            audit_record(
                event_type=AuditEventType.AUTH_LOGIN_REFUSED_LOCKED,
                outcome=Outcome.DENIED,
                actor=user,
                organization=organization,
                ip=ip,
                details={"portal": str(portal)},
            )
            return LoginResult(LoginOutcome.LOCKED, locked_until=throttle.locked_until)
        if throttle.locked_until is not None:  # the lockout is over: start counting afresh
            throttle.failed_count = 0
            throttle.locked_until = None

        if user is not None:
            password_ok = user.check_password(password)
        else:
            make_password(password)
            password_ok = False

        if password_ok and user is not None and _eligible(user, portal):
            throttle.failed_count = 0
            throttle.save(update_fields=["failed_count", "locked_until"])
            audit_record(
                event_type=AuditEventType.AUTH_LOGIN_SUCCEEDED,
                actor=user,
                organization=organization,
                ip=ip,
                details={"portal": str(portal)},
            )
            return LoginResult(LoginOutcome.SUCCESS, user=user)

        throttle.failed_count += 1
        throttle.last_failure_at = now
        details = {"portal": str(portal), "failures": throttle.failed_count}
        if user is None:
            details["username_digest"] = digest[:16]
        if throttle.failed_count >= max_failures:
            throttle.locked_until = now + timedelta(minutes=lockout_minutes)
            throttle.save(update_fields=["failed_count", "locked_until", "last_failure_at"])
            audit_record(
                event_type=AuditEventType.AUTH_LOGIN_LOCKED_OUT,
                outcome=Outcome.FAILURE,
                actor=user,
                organization=organization,
                ip=ip,
                details=details,
            )
            return LoginResult(LoginOutcome.LOCKED, locked_until=throttle.locked_until)
        throttle.save(update_fields=["failed_count", "locked_until", "last_failure_at"])
        audit_record(
            event_type=AuditEventType.AUTH_LOGIN_FAILED,
            outcome=Outcome.FAILURE,
            actor=user,
            organization=organization,
            ip=ip,
            details=details,
        )
        return LoginResult(LoginOutcome.INVALID, attempts_left=max_failures - throttle.failed_count)


def session_start(*, request: HttpRequest, user: User) -> None:
    """Log the user in on this request: a new session id (no fixation), the login time recorded."""
    django_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[SESSION_LOGIN_AT_KEY] = int(timezone.now().timestamp())


def session_end(*, request: HttpRequest, reason: str = "logout") -> None:
    """End the session for good: the server-side row is deleted, not just the cookie."""
    user = request.user if request.user.is_authenticated else None
    if user is not None:
        audit_record(
            event_type=AuditEventType.AUTH_LOGOUT,
            actor=user,
            organization=user.organization,
            ip=client_ip(request),
            details={"reason": reason},
        )
    django_logout(request)


def sessions_clear_expired() -> int:
    """Delete expired server-side sessions (the periodic job); returns how many."""
    deleted, _by_model = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted


def login_throttle_reset(*, actor: User, user: User, ip: str = "") -> None:
    """An operator lifts the login lockout of an account of their organization."""
    with transaction.atomic():
        login_throttle_clear(user=user)
        audit_record(
            event_type=AuditEventType.OPERATOR_LOGIN_UNLOCKED,
            actor=actor,
            organization=user.organization,
            subject=user,
            ip=ip,
        )


def login_throttle_clear(*, user: User) -> None:
    """Forget the failed logins of ``user`` (callers audit the reason)."""
    digest = _username_digest(normalize_username(user.username))
    LoginThrottle.objects.filter(username_digest=digest).update(failed_count=0, locked_until=None)


def login_locked_until(*, user: User) -> datetime | None:
    throttle = LoginThrottle.objects.filter(username_digest=_username_digest(normalize_username(user.username))).first()
    if throttle is None or throttle.locked_until is None or throttle.locked_until <= timezone.now():
        return None
    return throttle.locked_until


def user_password_change(*, user: User, current_password: str, new_password: str, ip: str = "") -> None:
    """Change the password after re-checking the current one; the policy of the organization applies.

    Raises ``ApplicationError`` (wrong current password, unchanged) or Django's ``ValidationError``
    (policy); in both cases nothing is saved but the audit row of a wrong current password.
    """
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        current_ok = locked.check_password(current_password)
        if current_ok:
            if hmac.compare_digest(current_password.encode(), new_password.encode()):
                raise ApplicationError(
                    "password_unchanged",
                    _("The new password must differ from the current one."),
                    field="new_password",
                )
            password_validation.validate_password(new_password, locked)
            locked.set_password(new_password)
            locked.save(update_fields=["password"])
            event = audit_record(
                event_type=AuditEventType.AUTH_PASSWORD_CHANGED, actor=locked, organization=locked.organization, ip=ip
            )
            holder = Holder.objects.select_related("organization", "user").filter(user=locked).first()
            if holder is not None:
                security_notice_send(holder=holder, event="password_changed", reference=f"audit-{event.seq}")
    if not current_ok:
        audit_record(
            event_type=AuditEventType.AUTH_PASSWORD_CHANGE_FAILED,
            outcome=Outcome.FAILURE,
            actor=locked,
            organization=locked.organization,
            ip=ip,
            details={"reason": "wrong_current_password"},
        )
        raise ApplicationError(
            "wrong_current_password", _("The current password is not correct."), field="current_password"
        )
    user.password = locked.password


def user_language_set(*, user: User, language: str) -> None:
    codes = {code for code, _name in settings.LANGUAGES}
    if language not in codes:
        raise ApplicationError("unknown_language", _("This language is not available."))
    if user.preferred_language != language:
        user.preferred_language = language
        user.save(update_fields=["preferred_language"])
