"""Password recovery and username recovery without login."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import RecoveryKind, RecoveryRequest, RecoveryState, User
from accounts.services.authentication import LoginOutcome, Portal, login_attempt
from accounts.services.people import holder_user_code_issue
from accounts.services.recovery import recovery_process
from audit.models import AuditEvent
from notifications.models import Message
from notifications.tasks import message_deliver_task
from otp.models import SmsCode
from tests.conftest import HOLDER_PASSWORD
from tests.notifications.backends import ScriptedSmsBackend
from tests.stubs.recaptcha import RecaptchaStub

START_URL = reverse("accounts:password_recovery")
CODE_URL = reverse("accounts:password_recovery_code")
USERNAME_URL = reverse("accounts:username_recovery")
NEW_PASSWORD = "Nuova-Parola-Di-Accesso-2026"

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> Client:
    """A visitor who chose English (the pages follow the language cookie, not the test thread)."""
    return english(Client())


def english(client: Client) -> Client:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture(autouse=True)
def scripted_sms(settings):
    settings.SMS_BACKEND = "tests.notifications.backends.ScriptedSmsBackend"
    ScriptedSmsBackend.script = []
    ScriptedSmsBackend.sent = []
    return ScriptedSmsBackend


@pytest.fixture
def user_code(world) -> str:
    return holder_user_code_issue(holder=world.alpha.holder)


def run_worker() -> None:
    """What the Celery worker does after each recovery page: process the requests, deliver the messages."""
    for pk in RecoveryRequest.objects.filter(state=RecoveryState.STARTED).values_list("pk", flat=True):
        recovery_process(recovery_id=pk)
    for pk in Message.objects.filter(status="queued").values_list("pk", flat=True):
        message_deliver_task(pk)


def start(client: Client, username: str, code: str, token: str = RecaptchaStub.PASSED):
    return client.post(START_URL, {"username": username, "user_code": code, "g-recaptcha-response": token})


def sms_code() -> str:
    return re.search(r"\b(\d{6})\b", ScriptedSmsBackend.sent[-1].text).group(1)


def link_path() -> str:
    match = re.search(r"https?://\S+/accesso/recupero-password/nuova/\S+/", mail.outbox[-1].body)
    assert match, mail.outbox[-1].body
    return urlsplit(match.group(0)).path


def test_password_recovery_end_to_end_with_sms_code_and_e_mail_link(world, client, recaptcha, user_code):
    holder = world.alpha.holder
    response = start(client, holder.user.username, f"{user_code[:5]} {user_code[5:]}")
    assert response.status_code == 302 and response["Location"] == CODE_URL
    run_worker()
    assert ScriptedSmsBackend.sent[-1].recipient == holder.mobile

    response = client.post(CODE_URL, {"code": sms_code()})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:password_recovery_email_sent")
    run_worker()
    assert mail.outbox[-1].to == [holder.email]
    path = link_path()

    page = client.get(path)
    assert page.status_code == 200 and 'name="new_password"' in page.content.decode()
    response = Client().post(path, {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("accounts:password_recovery_done")
    done = Client().get(response["Location"]).content.decode()
    assert f"next={reverse('otp:device_resync')}" in done  # the prompt to synchronize the device

    assert login_attempt(username=holder.user.username, password=NEW_PASSWORD, portal=Portal.PANEL).outcome \
        is LoginOutcome.SUCCESS
    assert AuditEvent.objects.filter(event_type="auth.password.recovered", actor_id=holder.user_id).exists()
    assert Message.objects.filter(holder=holder, message_type="security_notice").exists()
    # The link works once.
    again = Client().get(path)
    assert again.status_code == 400


def test_a_code_of_an_earlier_recovery_says_already_used_and_is_not_counted(world, client, recaptcha, user_code):
    start(client, world.alpha.holder.user.username, user_code)
    run_worker()
    used = sms_code()
    assert client.post(CODE_URL, {"code": used}).status_code == 302
    SmsCode.objects.update(created_at=timezone.now() - timedelta(minutes=1))  # past the resend cooldown
    again = english(Client())
    start(again, world.alpha.holder.user.username, user_code)
    run_worker()
    fresh = sms_code()
    if fresh == used:  # one chance in a million: the replay would be the live code
        return

    response = again.post(CODE_URL, {"code": used})

    assert response.status_code == 400
    assert "This code has already been used. Use a new code." in response.content.decode()
    assert RecoveryRequest.objects.latest("created_at").code_attempts == 0
    assert again.post(CODE_URL, {"code": fresh}).status_code == 302


def test_the_link_expires_after_fifteen_minutes(world, client, recaptcha, user_code):
    start(client, world.alpha.holder.user.username, user_code)
    run_worker()
    client.post(CODE_URL, {"code": sms_code()})
    run_worker()
    path = link_path()
    RecoveryRequest.objects.update(link_expires_at=timezone.now() - timedelta(seconds=1))
    response = english(Client()).post(path, {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD})
    assert response.status_code == 400
    assert "valid for 15 minutes" in response.content.decode()
    assert check_password(HOLDER_PASSWORD, User.objects.get(pk=world.alpha.holder.user_id).password)


def test_a_password_refused_by_the_policy_keeps_the_link_usable(world, client, recaptcha, user_code):
    start(client, world.alpha.holder.user.username, user_code)
    run_worker()
    client.post(CODE_URL, {"code": sms_code()})
    run_worker()
    path = link_path()
    response = Client().post(path, {"new_password": "short", "new_password_confirm": "short"})
    assert response.status_code == 400
    response = Client().post(path, {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD})
    assert response.status_code == 302


class StatementLog:
    """Every SQL statement the code under test runs (``CaptureQueriesContext`` loses them when a request starts)."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, execute, sql, params, many, context):
        self.statements.append(sql.split()[0].upper())
        return execute(sql, params, many, context)

    def kinds(self) -> list[str]:
        return [kind for kind in self.statements if kind in ("SELECT", "INSERT", "UPDATE", "DELETE")]


def _observed(client: Client, username: str, code: str, monkeypatch) -> tuple:
    """Everything a visitor can observe of step one, plus what stands for its time: Argon2 checks and writes."""
    checks = []

    def counting(password, encoded, *args, **kwargs):
        checks.append(encoded.split("$")[0])
        return check_password(password, encoded, *args, **kwargs)

    monkeypatch.setattr("accounts.services.people.check_password", counting)
    audit_before = AuditEvent.objects.count()
    log = StatementLog()
    with connection.execute_wrapper(log):
        response = start(client, username, code)
    follow = client.get(response["Location"]).content.decode()
    writes = log.kinds()
    page = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", follow)
    return response.status_code, response["Location"], page, checks, writes, AuditEvent.objects.count() - audit_before


def test_password_recovery_does_not_reveal_whether_the_account_exists(world, recaptcha, user_code, monkeypatch):
    existing = world.alpha.holder.user.username
    right = _observed(Client(), existing, user_code, monkeypatch)
    wrong_code = _observed(Client(), existing, "0000000000", monkeypatch)
    unknown = _observed(Client(), "nobody.here", user_code, monkeypatch)
    # Same status, same next page, same page text; one Argon2 check, the same writes, one audit row.
    assert right[:3] == wrong_code[:3] == unknown[:3]
    assert right[3] == wrong_code[3] == unknown[3] == ["argon2"]
    assert right[4] == wrong_code[4] == unknown[4] and "INSERT" in right[4]
    assert right[5] == wrong_code[5] == unknown[5] == 1
    assert RecoveryRequest.objects.filter(holder__isnull=False).count() == 1
    run_worker()
    assert len(ScriptedSmsBackend.sent) == 1  # only the real request gets an SMS


def test_a_request_that_matched_nothing_refuses_every_code_like_a_real_one(world, client, recaptcha):
    start(client, "nobody.here", "1234567890")
    run_worker()
    for _attempt in range(4):
        response = client.post(CODE_URL, {"code": "123456"})
        assert response.status_code == 400 and "not correct or has expired" in response.content.decode()
    response = client.post(CODE_URL, {"code": "123456"})
    assert "no longer valid" in response.content.decode()
    assert not mail.outbox


def test_five_wrong_sms_codes_spend_the_request(world, client, recaptcha, user_code):
    start(client, world.alpha.holder.user.username, user_code)
    run_worker()
    right = sms_code()
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for _attempt in range(5):
        client.post(CODE_URL, {"code": wrong})
    response = client.post(CODE_URL, {"code": right})
    assert response.status_code == 302 and response["Location"] == START_URL  # the session forgot it
    assert RecoveryRequest.objects.get().state == RecoveryState.STARTED and not mail.outbox


def test_a_failed_captcha_stops_before_anything_is_recorded(world, client, recaptcha, user_code):
    response = start(client, world.alpha.holder.user.username, user_code, token="forged")
    assert response.status_code == 400 and "did not succeed" in response.content.decode()
    response = start(client, world.alpha.holder.user.username, user_code, token="")
    assert "Tick the box" in response.content.decode()
    response = start(client, world.alpha.holder.user.username, user_code, token=RecaptchaStub.UNREACHABLE)
    assert response.status_code == 400 and "could not be verified" in response.content.decode()
    assert not RecoveryRequest.objects.exists()
    assert recaptcha.calls[0]["secret"] == "6LeIxAcTAAAAAGG-vFI1TnRWxMZNFuojJ4WifJWe"  # the test key of DEBUG


def test_recovery_pages_allow_googles_script_only_where_the_captcha_is(client):
    start_page = client.get(START_URL)
    assert "https://www.google.com/recaptcha/" in start_page["Content-Security-Policy"]
    assert "https://www.google.com/recaptcha/" not in client.get(reverse("accounts:login"))["Content-Security-Policy"]


def test_password_recovery_is_rate_limited_per_account(world, recaptcha, user_code):
    username = world.alpha.holder.user.username
    for index in range(5):
        assert start(Client(REMOTE_ADDR=f"10.0.0.{index}"), username, "0000000000").status_code == 302
    response = start(Client(REMOTE_ADDR="10.0.1.1"), username.upper(), user_code)
    assert response.status_code == 429
    assert start(Client(REMOTE_ADDR="10.0.1.2"), world.alpha.holders[1].user.username, "1").status_code == 302


def test_password_recovery_is_rate_limited_per_address(world, recaptcha):
    client = Client(REMOTE_ADDR="10.9.9.9")
    statuses = [start(client, f"someone.{index}", "1").status_code for index in range(31)]
    assert statuses[:30] == [302] * 30 and statuses[30] == 429


def test_a_stale_or_forged_link_is_refused_with_a_clear_message(client):
    response = client.get(reverse("accounts:password_recovery_reset", kwargs={"token": "x" * 43}))
    assert response.status_code == 400 and "not valid" in response.content.decode()
    response = client.get(reverse("accounts:password_recovery_reset", kwargs={"token": "y" * 500}))
    assert response.status_code == 400


def test_the_code_page_without_a_request_goes_back_to_the_start(client):
    assert client.get(CODE_URL)["Location"] == START_URL
    session = client.session
    session["password_recovery"] = "not-a-uuid"
    session.save()
    assert client.post(CODE_URL, {"code": "123456"}).status_code == 400


def test_the_recovery_resets_a_login_lockout_and_ends_other_sessions(world, recaptcha, user_code, holder_client):
    holder = world.alpha.holder
    for _attempt in range(5):
        login_attempt(username=holder.user.username, password="wrong", portal=Portal.PANEL)
    client = Client()
    start(client, holder.user.username, user_code)
    run_worker()
    client.post(CODE_URL, {"code": sms_code()})
    run_worker()
    Client().post(link_path(), {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD})
    assert login_attempt(username=holder.user.username, password=NEW_PASSWORD, portal=Portal.PANEL).outcome \
        is LoginOutcome.SUCCESS
    assert holder_client.get(reverse("panel:profile")).status_code == 302  # the old session is over


def test_a_holder_without_a_user_code_cannot_recover_the_password(world, client, recaptcha):
    start(client, world.alpha.holder.user.username, "")
    run_worker()
    assert not ScriptedSmsBackend.sent


# -------------------------------------------------------------------------------------- username


def username_post(client: Client, cf: str, email: str):
    data = {"codice_fiscale": cf, "email": email, "g-recaptcha-response": RecaptchaStub.PASSED}
    return client.post(USERNAME_URL, data)


def test_username_recovery_sends_the_username_to_the_registered_e_mail(world, client, recaptcha):
    holder = world.alpha.holder
    response = username_post(client, holder.codice_fiscale.lower(), holder.email.upper())
    assert response.status_code == 302 and response["Location"] == reverse("accounts:username_recovery_sent")
    run_worker()
    assert mail.outbox[-1].to == [holder.email]
    assert holder.user.username in mail.outbox[-1].body
    assert RecoveryRequest.objects.get().state == RecoveryState.COMPLETED


def test_username_recovery_does_not_reveal_whether_the_data_match(world, recaptcha):
    holder = world.alpha.holder
    observed = []
    for cf, email in [(holder.codice_fiscale, holder.email), (holder.codice_fiscale, "other@example.org"),
                      ("RSSMRA80A01H501U", holder.email)]:
        client = Client()
        log = StatementLog()
        with connection.execute_wrapper(log):
            response = username_post(client, cf, email)
        page = client.get(response["Location"]).content.decode()
        page = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page)
        observed.append((response.status_code, response["Location"], page, log.kinds()))
    assert observed[0] == observed[1] == observed[2]
    assert observed[0][3].count("INSERT") >= 2  # the request row and its audit row, every time
    run_worker()
    assert len(mail.outbox) == 1
    assert RecoveryRequest.objects.filter(kind=RecoveryKind.USERNAME).count() == 3


def test_username_recovery_is_rate_limited_per_codice_fiscale(world, recaptcha):
    holder = world.alpha.holder
    for index in range(5):
        assert username_post(Client(REMOTE_ADDR=f"10.1.0.{index}"), holder.codice_fiscale, "x@example.org") \
            .status_code == 302
    assert username_post(Client(REMOTE_ADDR="10.1.1.1"), holder.codice_fiscale, holder.email).status_code == 429


@pytest.mark.parametrize("cf, email", [("SHORT", "a@example.org"), ("RSSMRA80A01H501U", "not-an-email"),
                                       ("RSSMRA80A01H501U\x00", "a@example.org"), ("", "")])
def test_malformed_username_recovery_input_gets_a_message_not_a_500(client, recaptcha, cf, email):
    response = username_post(client, cf, email)
    assert response.status_code == 400
    assert not RecoveryRequest.objects.exists()


def test_the_login_page_links_both_recoveries(client):
    page = client.get(reverse("accounts:login")).content.decode()
    assert START_URL in page and USERNAME_URL in page
