"""The token endpoint under secret guessing: failures are counted per client and source address, so a
stranger cannot lock an organization's system out, and the organization admins hear about it."""

from __future__ import annotations

import base64

import pytest

from audit.models import AuditEvent
from core import ratelimit
from notifications.models import Message
from tests.conftest import OPERATOR_PASSWORD, login
from tests.signing.conftest import api_client_for

STRANGER = "203.0.113.7"
REAL = "198.51.100.20"


def ask(client, client_id: str, secret: str, ip: str):
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return client.post("/oauth2/token", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}",
                       REMOTE_ADDR=ip)


def spray(client, client_id: str, ip: str, times: int) -> list[int]:
    return [ask(client, client_id, "wrong-secret", ip).status_code for _ in range(times)]


def test_wrong_secrets_from_one_address_do_not_lock_the_real_client_out(client, alpha_api):
    api_client, secret = alpha_api
    codes = spray(client, api_client.client_id, STRANGER, 31)
    assert 429 in codes  # the stranger's address is stopped…
    response = ask(client, api_client.client_id, secret, REAL)
    assert response.status_code == 200, response.content  # …the real system, elsewhere, is not
    assert response.json()["access_token"]


def test_failures_are_limited_per_client_and_address_and_a_token_costs_nothing(client, alpha_api, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "api_token_client_ip": "3/600s"}
    api_client, secret = alpha_api
    # Correct requests do not spend the failure budget.
    assert [ask(client, api_client.client_id, secret, REAL).status_code for _ in range(5)] == [200] * 5
    assert spray(client, api_client.client_id, STRANGER, 4) == [401, 401, 401, 429]
    # Once an address has spent its budget for the client, nothing from there is checked: no oracle.
    refused = ask(client, api_client.client_id, secret, STRANGER)
    assert refused.status_code == 429 and refused.json()["error"] == "too_many_requests"
    assert refused["Retry-After"] == "600"
    assert ask(client, api_client.client_id, secret, REAL).status_code == 200


def test_a_correct_secret_from_a_new_address_works_during_an_ongoing_spray(client, alpha_api, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "api_token_client_ip": "3/600s"}
    api_client, secret = alpha_api
    for round_ in range(3):
        for host in range(1, 6):
            spray(client, api_client.client_id, f"203.0.113.{host}", 4)
        fresh = ask(client, api_client.client_id, secret, f"198.51.100.{50 + round_}")
        assert fresh.status_code == 200, fresh.content


def test_every_request_is_still_limited_per_address(client, alpha_api, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "api_token_ip": "3/600s"}
    api_client, secret = alpha_api
    codes = [ask(client, api_client.client_id, secret, STRANGER).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert ask(client, api_client.client_id, secret, REAL).status_code == 200


def test_each_failure_for_a_known_client_is_audited_with_its_address(client, world, alpha_api):
    api_client, _secret = alpha_api
    spray(client, api_client.client_id, STRANGER, 2)
    spray(client, "no-such-client", STRANGER, 2)
    events = AuditEvent.objects.filter(event_type="api_client.token_refused")
    assert events.count() == 2
    assert {(e.ip, e.outcome, e.subject_id, e.organization_id) for e in events} == {
        (STRANGER, "failure", str(api_client.pk), world.alpha.organization.pk)
    }
    assert all("wrong-secret" not in str(e.details) for e in events)


def test_repeated_failures_alert_the_organization_admins_once_per_window(client, world, alpha_api, settings,
                                                                        monkeypatch):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "api_token_failures_alert": "5/3600s"}
    api_client, _secret = alpha_api
    admin = world.alpha.admin
    for host in range(1, 5):
        spray(client, api_client.client_id, f"203.0.113.{host}", 3)  # 12 failures from 4 addresses
    alerts = Message.objects.filter(message_type="api_client_token_failures")
    assert [(m.recipient, m.organization_id) for m in alerts] == [
        (admin.email, world.alpha.organization.pk)
    ]  # one e-mail, to the admin only (not the plain operator), not one per failure
    message = alerts.get()
    assert api_client.name in message.body_text and api_client.client_id in message.body_text
    assert "/operatore/api/" in message.body_text
    alerted = AuditEvent.objects.filter(event_type="api_client.token_failures_alerted")
    assert alerted.count() == 1
    assert alerted.get().details["failures"] == 5 and alerted.get().subject_id == str(api_client.pk)

    # The next window alerts again, once.
    real_time = ratelimit.time.time
    monkeypatch.setattr(ratelimit.time, "time", lambda: real_time() + 3600)
    for host in range(5, 8):
        spray(client, api_client.client_id, f"203.0.113.{host}", 3)
    assert Message.objects.filter(message_type="api_client_token_failures").count() == 2
    assert AuditEvent.objects.filter(event_type="api_client.token_failures_alerted").count() == 2


def test_the_console_shows_the_alert_to_the_organization_admin_only(client, world, alpha_api, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "api_token_failures_alert": "2/3600s"}
    api_client, _secret = alpha_api
    spray(client, api_client.client_id, STRANGER, 2)

    assert login(client, world.alpha.admin.user.username, OPERATOR_PASSWORD, portal="console").status_code == 302
    for page in ("/operatore/api/", "/operatore/"):
        html = client.get(page).content.decode()
        assert 'data-testid="api-client-alert"' in html and api_client.name in html, page
    client.logout()
    assert login(client, world.alpha.operator.user.username, OPERATOR_PASSWORD, portal="console").status_code == 302
    assert 'data-testid="api-client-alert"' not in client.get("/operatore/").content.decode()
    client.logout()
    assert login(client, world.beta.admin.user.username, OPERATOR_PASSWORD, portal="console").status_code == 302
    assert 'data-testid="api-client-alert"' not in client.get("/operatore/api/").content.decode()


@pytest.mark.parametrize("path", ["/oauth2/token", "/csc/v1/oauth2/token", "/csc/v2/oauth2/token"])
def test_a_revoked_or_foreign_client_id_sprayed_alerts_nobody(client, world, path, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "api_token_failures_alert": "2/3600s"}
    from accounts.services.api_clients import api_client_revoke

    revoked, _secret = api_client_for(world.beta, name="Old system")
    api_client_revoke(actor=world.beta.admin.user, api_client=revoked)
    for client_id in (revoked.client_id, "made-up-client-id"):
        for _ in range(3):
            response = client.post(path, {"grant_type": "client_credentials", "client_id": client_id,
                                          "client_secret": "wrong"}, REMOTE_ADDR=STRANGER)
            assert response.status_code == 401
    assert not Message.objects.filter(message_type="api_client_token_failures").exists()
