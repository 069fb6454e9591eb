"""Trusted roles: operators, organization admins and platform admins sign in with a second factor."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import StaffEnrolment, StaffEnrolmentPurpose, User
from accounts.services.staff import enrolment_link_issue
from audit.models import AuditEvent
from notifications.models import Message
from otp.models import DeviceState, OtpDevice, SecurityKey
from tests.accounts.softkey import SoftKey, options_in
from tests.conftest import OPERATOR_PASSWORD, login, staff_code

pytestmark = pytest.mark.django_db

CONSOLE_PAGES = ["console:home", "console:renewals", "console:messages", "console:organization", "console:security",
                 "console:team", "console:api_clients"]


def password_only(client: Client, user: User, password: str = OPERATOR_PASSWORD, portal: str = "console"):
    url = reverse("console:login" if portal == "console" else "admin:login")
    return client.post(url, {"username": user.username, "password": password})


def test_a_stolen_password_alone_reaches_no_console_page_but_the_second_factor_step(world, client):
    response = password_only(client, world.alpha.admin.user)
    assert response.status_code == 302 and response["Location"] == reverse("console:second_factor")
    for name in CONSOLE_PAGES:
        page = client.get(reverse(name))
        assert page.status_code == 302 and page["Location"].startswith(reverse("console:login")), name
    assert client.get(reverse("console:second_factor")).status_code == 200
    assert "_auth_user_id" not in client.session  # not logged in at all


def test_django_admin_answers_only_a_session_that_completed_the_second_factor(world, client):
    admin = User.objects.create_superuser("piattaforma", "Amministra-La-Piattaforma-1", email="p@example.org")
    from tests.conftest import staff_token

    staff_token(admin)
    assert password_only(client, admin, "Amministra-La-Piattaforma-1", portal="admin")["Location"] == reverse(
        "console:second_factor"
    )
    listing = client.get(reverse("admin:accounts_organization_changelist"))
    assert listing.status_code == 302 and reverse("admin:login") in listing["Location"]
    signed_in = client.post(reverse("console:second_factor"), {"confirmation_code": staff_code(admin)})
    assert signed_in["Location"] == reverse("admin:index")
    assert client.get(reverse("admin:accounts_organization_changelist")).status_code == 200


def test_the_code_of_the_persons_token_completes_the_sign_in_and_is_audited(world, client):
    response = login(client, world.alpha.operator.user.username, OPERATOR_PASSWORD, portal="console")
    assert response.status_code == 302 and response["Location"] == reverse("console:home")
    assert client.get(reverse("console:home")).status_code == 200
    event = AuditEvent.objects.filter(event_type="auth.second_factor.succeeded").last()
    assert event.actor_username == world.alpha.operator.user.username and event.details["factor"] == "otp"


def test_a_wrong_code_is_refused_counted_and_the_device_locks_at_the_limit(world, client, settings):
    settings.OTP_MAX_FAILURES = 3
    user = world.alpha.operator.user
    password_only(client, user)
    for left in (2, 1):
        refused = client.post(reverse("console:second_factor"), {"confirmation_code": "000000"})
        assert refused.status_code == 400 and f": {left}" in refused.content.decode()
    client.post(reverse("console:second_factor"), {"confirmation_code": "000000"})
    device = OtpDevice.objects.get(staff_user=user)
    assert device.locked_at is not None
    locked = client.post(reverse("console:second_factor"), {"confirmation_code": staff_code(user)})
    assert locked.status_code == 400 and "_auth_user_id" not in client.session


def test_a_replayed_code_is_refused(world, client):
    user = world.alpha.operator.user
    code = staff_code(user)
    password_only(client, user)
    assert client.post(reverse("console:second_factor"), {"confirmation_code": code}).status_code == 302
    other = Client()
    password_only(other, user)
    replay = other.post(reverse("console:second_factor"), {"confirmation_code": code})
    assert replay.status_code == 400 and "_auth_user_id" not in other.session
    assert AuditEvent.objects.filter(event_type="otp.code_replayed").exists()


def test_the_second_factor_step_expires_and_cannot_be_reached_without_the_password(world, client):
    assert client.get(reverse("console:second_factor"))["Location"] == reverse("console:login")
    password_only(client, world.alpha.operator.user)
    session = client.session
    session["auth_pending"]["at"] -= 3600
    session.save()
    late = client.post(reverse("console:second_factor"), {"confirmation_code": staff_code(world.alpha.operator.user)})
    assert late.status_code == 302 and late["Location"] == reverse("console:login")


def test_someone_without_a_factor_is_told_to_ask_for_an_enrolment_link_and_cannot_enrol_with_the_password(
    world, client
):
    user = world.alpha.operator.user
    OtpDevice.objects.filter(staff_user=user).update(state=DeviceState.RETIRED)
    password_only(client, user)
    page = client.get(reverse("console:second_factor")).content.decode()
    assert "link di registrazione" in page
    assert client.get(reverse("console:enrolment_factor")).status_code == 400  # no link, no enrolment
    assert client.post(reverse("console:enrolment_factor"), {"kind": "app", "code": "123456"}).status_code == 400
    assert not OtpDevice.objects.filter(staff_user=user, state=DeviceState.ACTIVE).exists()


# --- Passkeys -------------------------------------------------------------------------------------

def enrol_passkey(client: Client, user: User, key: SoftKey) -> None:
    """Through a reset link: the person's password, then a passkey made by ``key``."""
    link = enrolment_link_issue(user=user, purpose=StaffEnrolmentPurpose.FACTOR_RESET, actor=None)
    path = link.split("testserver", 1)[-1] if "testserver" in link else re.sub(r"^https?://[^/]+", "", link)
    assert client.post(path, {"password": OPERATOR_PASSWORD}).status_code == 302
    page = client.get(reverse("console:enrolment_factor")).content.decode()
    done = client.post(reverse("console:enrolment_factor"),
                       {"kind": "passkey", "name": "YubiKey", "answer": key.create(options_in(page, "create"))})
    assert done.status_code == 302, done.content.decode()[:2000]


def passkey_sign_in(client: Client, user: User, key: SoftKey, **answer: object):
    password_only(client, user)
    page = client.get(reverse("console:second_factor")).content.decode()
    return client.post(reverse("console:second_factor"),
                       {"confirmation_assertion": key.get(options_in(page), **answer)})


def test_a_passkey_enrolled_through_a_link_signs_in_and_moves_its_counter(world):
    user, key = world.alpha.operator.user, SoftKey()
    enrol_passkey(Client(), user, key)
    stored = SecurityKey.objects.get(user=user)
    assert stored.name == "YubiKey" and bytes(stored.credential_id) == key.credential_id
    client = Client()
    response = passkey_sign_in(client, user, key)
    assert response.status_code == 302 and response["Location"] == reverse("console:home")
    stored.refresh_from_db()
    assert stored.sign_count == key.counter == 1


def test_a_cloned_signature_counter_is_refused_and_the_key_disabled(world):
    user, key = world.alpha.operator.user, SoftKey()
    enrol_passkey(Client(), user, key)
    assert passkey_sign_in(Client(), user, key, counter=5).status_code == 302
    clone = Client()
    refused = passkey_sign_in(clone, user, key, counter=5)  # a copy that signs with a counter already seen
    assert refused.status_code == 400 and "_auth_user_id" not in clone.session
    assert SecurityKey.objects.get(user=user).retired_at is not None
    assert AuditEvent.objects.filter(event_type="staff.security_key_cloned").exists()


@pytest.mark.parametrize("tamper", [{"origin": "https://evil.example"}, {"challenge": "QUJD"}])
def test_an_answer_for_another_origin_or_challenge_is_refused(world, tamper):
    user, key = world.alpha.operator.user, SoftKey()
    enrol_passkey(Client(), user, key)
    client = Client()
    refused = passkey_sign_in(client, user, key, **tamper)
    assert refused.status_code == 400 and "_auth_user_id" not in client.session


@pytest.mark.parametrize("answer", ["", "null", "[]", "{}", '{"rawId": "@@@"}', "x" * 70000, '{"id": 5}'])
def test_a_malformed_passkey_answer_is_a_clear_refusal_not_an_error(world, answer):
    user, key = world.alpha.operator.user, SoftKey()
    enrol_passkey(Client(), user, key)
    client = Client()
    password_only(client, user)
    client.get(reverse("console:second_factor"))
    refused = client.post(reverse("console:second_factor"), {"confirmation_assertion": answer})
    assert refused.status_code == 400


def test_a_passkey_answer_from_one_sign_in_cannot_be_replayed_in_another(world):
    user, key = world.alpha.operator.user, SoftKey()
    enrol_passkey(Client(), user, key)
    first = Client()
    password_only(first, user)
    answer = key.get(options_in(first.get(reverse("console:second_factor")).content.decode()))
    assert first.post(reverse("console:second_factor"), {"confirmation_assertion": answer}).status_code == 302
    second = Client()
    password_only(second, user)
    second.get(reverse("console:second_factor"))
    assert second.post(reverse("console:second_factor"), {"confirmation_assertion": answer}).status_code == 400


# --- Enrolment links ------------------------------------------------------------------------------

def link_path(link: str) -> str:
    return re.sub(r"^https?://[^/]+", "", link)


def test_an_invitation_link_sets_the_password_enrols_an_app_and_then_works_no_more(world, client):
    from accounts.services.staff import operator_invite

    operator, link = operator_invite(
        actor=world.alpha.admin.user, organization=world.alpha.organization, email="nuova@alpha.example.org",
        given_name="Anna", surname="Verdi", role="operator",
    )
    mail = Message.objects.get(message_type="staff_invitation")
    assert mail.recipient == "nuova@alpha.example.org" and link_path(link) in mail.body_text
    password = {"password": "Nuova-Password-Lunga-1", "password_again": "Nuova-Password-Lunga-1"}
    assert client.post(link_path(link), password)["Location"] == reverse("console:enrolment_factor")
    page = client.get(reverse("console:enrolment_factor")).content.decode()
    secret = re.search(r'data-testid="enrolment-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    import base64
    import time

    from otp.oath import totp

    seed = base64.b32decode(secret + "=" * (-len(secret) % 8))
    done = client.post(reverse("console:enrolment_factor"), {"kind": "app", "code": totp(seed, time.time())})
    assert done.status_code == 302 and done["Location"] == reverse("console:home")
    assert client.get(reverse("console:home")).status_code == 200  # signed in
    assert StaffEnrolment.objects.get(user=operator.user).used_at is not None
    reused = Client().get(link_path(link))
    assert reused.status_code == 400 and "non è più valido" in reused.content.decode()


def test_an_expired_or_superseded_link_is_refused(world, client):
    user = world.alpha.operator.user
    old = enrolment_link_issue(user=user, purpose=StaffEnrolmentPurpose.FACTOR_RESET, actor=None)
    new = enrolment_link_issue(user=user, purpose=StaffEnrolmentPurpose.FACTOR_RESET, actor=None)
    assert client.get(link_path(old)).status_code == 400
    assert client.get(link_path(new)).status_code == 200
    StaffEnrolment.objects.filter(user=user).update(
        created_at=timezone.now() - timedelta(days=10), expires_at=timezone.now() - timedelta(days=7)
    )
    assert client.get(link_path(new)).status_code == 400
    for garbage in ("x", "a" * 300, "%00", "../../etc"):
        assert client.get(f"/operatore/attivazione/{garbage}/").status_code in (400, 404)


def test_a_reset_link_asks_for_the_current_password(world, client):
    user = world.alpha.operator.user
    link = enrolment_link_issue(user=user, purpose=StaffEnrolmentPurpose.FACTOR_RESET, actor=None)
    wrong = client.post(link_path(link), {"password": "not-the-password"})
    assert wrong.status_code == 400
    assert client.get(reverse("console:enrolment_factor")).status_code == 400
    assert AuditEvent.objects.filter(event_type="staff.enrolment_password_failed").exists()


def test_sessions_end_when_the_factor_is_reset(world, operator_client):
    from accounts.services.staff import staff_factor_reset

    assert operator_client.get(reverse("console:home")).status_code == 200
    staff_factor_reset(actor=world.alpha.admin.user, user=world.alpha.operator.user)
    assert operator_client.get(reverse("console:home")).status_code == 302
    assert not OtpDevice.objects.filter(staff_user=world.alpha.operator.user, state=DeviceState.ACTIVE).exists()
    assert Message.objects.filter(message_type="staff_factor_reset").count() == 1


def test_ones_own_factors_change_only_with_a_fresh_factor_and_never_down_to_none(world, operator_client):
    user = world.alpha.operator.user
    device = OtpDevice.objects.get(staff_user=user)
    remove = reverse("console:security_remove", args=["codice", device.public_id])
    refused = operator_client.post(remove)
    assert refused.status_code == 403  # the confirmation page: nothing removed
    assert OtpDevice.objects.get(pk=device.pk).state == DeviceState.ACTIVE
    last = operator_client.post(remove, {"confirmation_code": staff_code(user)})
    assert last.status_code == 302  # confirmed, but it is the only factor: kept, with a message
    assert OtpDevice.objects.get(pk=device.pk).state == DeviceState.ACTIVE
    assert operator_client.post(reverse("console:security_add")).status_code == 403
