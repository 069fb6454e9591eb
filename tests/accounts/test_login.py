"""Login to the panel and the console: attempts left, lockout, no user enumeration, sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from accounts.models import LoginThrottle
from accounts.services.authentication import SESSION_LOGIN_AT_KEY, LoginOutcome, Portal, login_attempt
from audit.models import AuditEvent
from tests.conftest import HOLDER_PASSWORD, OPERATOR_PASSWORD, confirmed, login

pytestmark = pytest.mark.django_db


def error_text(response) -> str:
    return " ".join(str(e) for e in response.context["form"].non_field_errors())


def test_wrong_password_says_how_many_attempts_are_left(world, client):
    username = world.alpha.holder.user.username
    first = login(client, username, "not-the-password")
    second = login(client, username, "still-not-it")
    assert first.status_code == 400
    assert "Tentativi rimasti: 4" in first.content.decode()
    assert "Tentativi rimasti: 3" in second.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.clock
def test_account_locks_after_the_organization_limit_and_says_until_when(world, client):
    holder = world.beta.holder  # beta: 3 failures, 30 minutes
    for _ in range(2):
        login(client, holder.user.username, "wrong")
    before = timezone.now()
    locked = login(client, holder.user.username, "wrong")
    text = error_text(locked)
    until = timezone.localtime(before + timedelta(minutes=30))
    assert "bloccato" in text.lower()
    assert until.strftime("%H:%M") in text or (until + timedelta(minutes=1)).strftime("%H:%M") in text
    assert until.strftime("%d/%m/%Y") in text or (until + timedelta(minutes=1)).strftime("%d/%m/%Y") in text
    # While locked, even the right password is refused, with the same message.
    again = login(client, holder.user.username, HOLDER_PASSWORD)
    assert again.status_code == 400
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(event_type="auth.login.locked_out", actor_id=holder.user.pk).count() == 1
    assert AuditEvent.objects.filter(event_type="auth.login.refused_locked", actor_id=holder.user.pk).exists()


def test_default_policy_locks_after_five_failures(world):
    username = world.alpha.holder.user.username
    results = [login_attempt(username=username, password="x", portal=Portal.PANEL) for _ in range(5)]
    assert [r.attempts_left for r in results[:4]] == [4, 3, 2, 1]
    assert results[4].outcome is LoginOutcome.LOCKED
    assert results[4].locked_until is not None


def test_lockout_ends_by_itself_and_counting_starts_afresh(world):
    username = world.beta.holder.user.username
    for _ in range(3):
        login_attempt(username=username, password="x", portal=Portal.PANEL)
    LoginThrottle.objects.update(locked_until=timezone.now() - timedelta(seconds=1))
    result = login_attempt(username=username, password=HOLDER_PASSWORD, portal=Portal.PANEL)
    assert result.outcome is LoginOutcome.SUCCESS


def test_success_resets_the_failure_count(world):
    username = world.alpha.holder.user.username
    login_attempt(username=username, password="x", portal=Portal.PANEL)
    login_attempt(username=username, password=HOLDER_PASSWORD, portal=Portal.PANEL)
    assert login_attempt(username=username, password="x", portal=Portal.PANEL).attempts_left == 4


def test_unknown_username_gets_the_same_message_and_counter_as_a_wrong_password(world, client):
    real = login(client, world.alpha.holder.user.username, "wrong")
    unknown = login(client, "nobody.here", "wrong")
    assert real.status_code == unknown.status_code == 400
    assert "Tentativi rimasti:" in error_text(unknown)
    for _ in range(9):
        last_unknown = login(client, "nobody.here", "wrong")
        if "bloccato" in error_text(last_unknown).lower():
            break
    assert "bloccato" in error_text(last_unknown).lower()  # unknown names lock like real ones


def what_a_stranger_sees(client, username: str) -> list[tuple[int, str]]:
    """Every answer to wrong passwords for ``username`` until it is locked, and once more after."""
    seen = []
    for _ in range(12):
        response = login(client, username, "wrong-password")
        seen.append((response.status_code, error_text(response)))
        if "bloccato" in seen[-1][1].lower():
            response = login(client, username, "wrong-again")
            seen.append((response.status_code, error_text(response)))
            break
    return seen


@pytest.mark.parametrize(
    ("alpha_policy", "beta_policy"),
    [((5, 15), (3, 30)), ((3, 30), (7, 5)), ((10, 60), (4, 1)), ((6, 20), (6, 20))],
)
def test_an_unknown_username_answers_like_a_real_account_whatever_the_organizations_policies(
    world, client, settings, monkeypatch, alpha_policy, beta_policy
):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login_ip": "1000/600s"}
    frozen = timezone.now().replace(second=0, microsecond=0)
    monkeypatch.setattr(timezone, "now", lambda: frozen)  # the lock time in the message is minute-exact
    for tenant, (failures, minutes) in ((world.alpha, alpha_policy), (world.beta, beta_policy)):
        tenant.organization.login_max_failures, tenant.organization.login_lockout_minutes = failures, minutes
        tenant.organization.save()
    real_accounts = {
        tuple(what_a_stranger_sees(client, tenant.holder.user.username)) for tenant in (world.alpha, world.beta)
    }
    for name in ("nobody.here", "mario.rosi", "anna.verdi", "x", "prof.ignoto", "giulia.conti", "a.b", "zz.top"):
        assert tuple(what_a_stranger_sees(client, name)) in real_accounts, name


def test_a_platform_admin_name_on_the_panel_answers_like_any_other_name(world, client, settings):
    """Platform admins have no organization: on the panel their name must not stand out either."""
    from accounts.models import User, UserKind

    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login_ip": "1000/600s"}
    for tenant, failures in ((world.alpha, 3), (world.beta, 7)):
        tenant.organization.login_max_failures = failures
        tenant.organization.save()
    User.objects.create_user(username="root.admin", password="x" * 20, kind=UserKind.PLATFORM_ADMIN, is_staff=True)
    first = error_text(login(client, "root.admin", "wrong"))
    assert first in {"Nome utente o password non validi. Tentativi rimasti: 2",
                     "Nome utente o password non validi. Tentativi rimasti: 6"}


@pytest.fixture
def argon2_work(monkeypatch):
    """Counts Argon2 computations: the cost of an answer, measured without a wall clock."""
    calls: list[str] = []
    original_encode, original_verify = Argon2PasswordHasher.encode, Argon2PasswordHasher.verify

    def encode(self, password, salt):
        calls.append("encode")
        return original_encode(self, password, salt)

    def verify(self, password, encoded):
        calls.append("verify")
        return original_verify(self, password, encoded)

    monkeypatch.setattr(Argon2PasswordHasher, "encode", encode)
    monkeypatch.setattr(Argon2PasswordHasher, "verify", verify)
    return calls


@pytest.mark.parametrize(
    "case",
    ["wrong_password", "unknown_username", "operator_on_panel", "inactive_account", "locked_account"],
)
def test_every_refusal_costs_exactly_one_argon2_computation(world, argon2_work, case):
    username = {
        "wrong_password": world.alpha.holder.user.username,
        "unknown_username": "nobody.here",
        "operator_on_panel": world.alpha.operator.user.username,
        "inactive_account": world.alpha.holders[1].user.username,
        "locked_account": world.beta.holder.user.username,
    }[case]
    password = {"operator_on_panel": OPERATOR_PASSWORD, "inactive_account": HOLDER_PASSWORD}.get(case, "wrong")
    if case == "inactive_account":
        user = world.alpha.holders[1].user
        user.is_active = False
        user.save()
    if case == "locked_account":
        for _ in range(3):
            login_attempt(username=username, password="wrong", portal=Portal.PANEL)
    argon2_work.clear()
    result = login_attempt(username=username, password=password, portal=Portal.PANEL)
    assert result.outcome is not LoginOutcome.SUCCESS
    assert len(argon2_work) == 1


def test_username_is_case_insensitive_and_trimmed(world, client):
    response = login(client, "  Mario.Rossi ", HOLDER_PASSWORD)
    assert response.status_code == 302


def test_login_rotates_the_session_id_and_sets_safe_cookies(world, client):
    client.get(reverse("accounts:login"))
    client.session.save()
    anonymous_key = client.session.session_key
    response = login(client, world.alpha.holder.user.username, HOLDER_PASSWORD)
    assert response.status_code == 302
    assert client.session.session_key != anonymous_key
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


def test_logout_deletes_the_server_side_session(holder_client):
    key = holder_client.session.session_key
    stolen_cookie = holder_client.cookies["sessionid"].value
    response = holder_client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert not Session.objects.filter(session_key=key).exists()
    # A copy of the old cookie is worthless now.
    holder_client.cookies["sessionid"] = stolen_cookie
    assert holder_client.get(reverse("panel:profile")).status_code == 302
    assert AuditEvent.objects.filter(event_type="auth.logout").exists()


def test_logout_needs_post(holder_client):
    assert holder_client.get(reverse("accounts:logout")).status_code == 405
    assert holder_client.get(reverse("panel:profile")).status_code == 200


def test_idle_session_expires(holder_client):
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = holder_client.get(reverse("panel:profile"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_session_older_than_the_absolute_lifetime_ends_however_active(holder_client, settings):
    session = holder_client.session
    session[SESSION_LOGIN_AT_KEY] = int(timezone.now().timestamp()) - settings.SESSION_ABSOLUTE_LIFETIME_SECONDS - 1
    session.save()
    response = holder_client.get(reverse("panel:profile"))
    assert response.status_code == 302
    assert AuditEvent.objects.filter(event_type="auth.logout", details__reason="session_lifetime").exists()


def test_every_request_pushes_the_idle_deadline_and_the_cookie_dies_with_the_browser(holder_client, settings):
    Session.objects.update(expire_date=timezone.now() + timedelta(seconds=30))
    response = holder_client.get(reverse("panel:profile"))
    assert response.cookies["sessionid"]["max-age"] == ""  # no persistent cookie
    expires = Session.objects.get(session_key=holder_client.session.session_key).expire_date
    remaining = (expires - timezone.now()).total_seconds()
    assert settings.SESSION_COOKIE_AGE - 60 < remaining <= settings.SESSION_COOKIE_AGE


def test_next_parameter_cannot_redirect_off_site(world, client):
    url = reverse("accounts:login") + "?next=https://evil.example.com/"
    response = client.post(url, {"username": world.alpha.holder.user.username, "password": HOLDER_PASSWORD})
    assert response["Location"] == reverse("panel:profile")


def test_next_parameter_keeps_a_local_destination(world, client):
    target = reverse("panel:password_change")
    response = client.post(
        reverse("accounts:login"),
        {"username": world.alpha.holder.user.username, "password": HOLDER_PASSWORD, "next": target},
    )
    assert response["Location"] == target


def test_operator_logs_in_to_the_console_not_the_panel(world, client):
    username = world.alpha.operator.user.username
    assert login(client, username, OPERATOR_PASSWORD).status_code == 400
    assert login(client, username, OPERATOR_PASSWORD, portal="console").status_code == 302
    assert client.get(reverse("console:home")).status_code == 200


def test_holder_cannot_log_in_to_the_console(world, client):
    response = login(client, world.alpha.holder.user.username, HOLDER_PASSWORD, portal="console")
    assert response.status_code == 400


def test_console_login_locks_like_the_panel(world, client):
    username = world.beta.operator.user.username
    for _ in range(3):
        response = login(client, username, "wrong", portal="console")
    assert "bloccato" in error_text(response).lower()
    assert login(client, username, OPERATOR_PASSWORD, portal="console").status_code == 400


def test_login_is_rate_limited_per_address(world, client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login_ip": "3/600s"}
    for i in range(3):
        assert login(client, f"user{i}", "x").status_code == 400
    limited = login(client, world.alpha.holder.user.username, HOLDER_PASSWORD)
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) == 600
    assert "_auth_user_id" not in client.session


def test_over_long_and_empty_credentials_get_a_form_error_not_a_crash(world, client):
    response = client.post(reverse("accounts:login"), {"username": "a" * 5000, "password": "b" * 100000})
    assert response.status_code == 400
    response = client.post(reverse("accounts:login"), {})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"username", "password"}


def test_operator_unlocks_a_locked_holder_of_their_organization(world, client):
    holder = world.alpha.holder
    for _ in range(5):
        login_attempt(username=holder.user.username, password="x", portal=Portal.PANEL)
    login(client, world.alpha.operator.user.username, OPERATOR_PASSWORD, portal="console")
    detail = client.get(reverse("console:holder_detail", args=[holder.pk]))
    assert detail.context["locked_until"] is not None
    response = client.post(reverse("console:holder_unlock", args=[holder.pk]), confirmed(client))
    assert response.status_code == 302
    assert login_attempt(username=holder.user.username, password=HOLDER_PASSWORD, portal=Portal.PANEL).outcome is (
        LoginOutcome.SUCCESS
    )
    event = AuditEvent.objects.get(event_type="operator.login_unlocked")
    assert event.actor_id == world.alpha.operator.user.pk
    assert event.subject_id == str(holder.user.pk)


def test_operator_cannot_unlock_a_holder_of_another_organization(world, client):
    foreign = world.beta.holder
    for _ in range(3):
        login_attempt(username=foreign.user.username, password="x", portal=Portal.PANEL)
    login(client, world.alpha.operator.user.username, OPERATOR_PASSWORD, portal="console")
    assert client.post(reverse("console:holder_unlock", args=[foreign.pk]), confirmed(client)).status_code == 404
    result = login_attempt(username=foreign.user.username, password=HOLDER_PASSWORD, portal=Portal.PANEL)
    assert result.outcome is LoginOutcome.LOCKED


def test_every_login_outcome_is_audited_without_the_password(world, client):
    login(client, world.alpha.holder.user.username, "Secret-Guess-1")
    login(client, world.alpha.holder.user.username, HOLDER_PASSWORD)
    types = list(AuditEvent.objects.values_list("event_type", flat=True))
    assert "auth.login.failed" in types and "auth.login.succeeded" in types
    dumped = str(list(AuditEvent.objects.values()))
    assert "Secret-Guess-1" not in dumped and HOLDER_PASSWORD not in dumped
