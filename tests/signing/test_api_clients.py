"""API clients: OAuth 2.0 client credentials per organization, managed by the organization admin."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import check_password, identify_hasher
from django.utils import timezone
from oauth2_provider.models import AccessToken

from accounts.models import ApiClient
from audit.models import AuditEvent
from tests.certificates.conftest import active
from tests.conftest import OPERATOR_PASSWORD, confirmed, login
from tests.signing.conftest import api_client_for, csc_post, token_for


def console(client, operator):
    response = login(client, operator.user.username, OPERATOR_PASSWORD, portal="console")
    assert response.status_code == 302
    return client


def test_a_client_of_alpha_gets_a_short_lived_token_with_its_scopes(client, alpha_api, settings):
    body = token_for(client, *alpha_api)
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.API_ACCESS_TOKEN_SECONDS == 600
    assert body["scope"] == "csc"
    assert "refresh_token" not in body
    # Stored only as a checksum: the bearer value is nowhere in the database.
    stored = AccessToken.objects.get()
    assert stored.token == "" and body["access_token"] not in stored.token_checksum


def test_the_token_endpoint_takes_form_body_and_json_and_the_csc_path(client, alpha_api):
    api_client, secret = alpha_api
    form = {"grant_type": "client_credentials", "client_id": api_client.client_id, "client_secret": secret}
    assert client.post("/oauth2/token", form).status_code == 200
    assert client.post("/csc/v1/oauth2/token", form).status_code == 200
    assert client.post("/csc/v2/oauth2/token", form, content_type="application/json").status_code == 200


def test_only_client_credentials_and_only_granted_scopes(client, alpha_api):
    api_client, secret = alpha_api
    basic = base64.b64encode(f"{api_client.client_id}:{secret}".encode()).decode()
    refused = client.post("/oauth2/token", {"grant_type": "password", "username": "x", "password": "y"},
                          HTTP_AUTHORIZATION=f"Basic {basic}")
    assert refused.status_code in (400, 401) and refused.json()["error"] in ("unauthorized_client", "invalid_grant",
                                                                              "unsupported_grant_type")
    scoped = client.post("/oauth2/token", {"grant_type": "client_credentials", "scope": "batch"},
                         HTTP_AUTHORIZATION=f"Basic {basic}")
    assert scoped.status_code == 400 and scoped.json()["error"] == "invalid_scope"


def test_a_wrong_secret_gets_no_token(client, alpha_api):
    api_client, _secret = alpha_api
    response = client.post("/oauth2/token", {"grant_type": "client_credentials", "client_id": api_client.client_id,
                                             "client_secret": "wrong"})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("body", "content_type", "headers", "status"),
    [
        (b"[" * 5000 + b"]" * 5000, "application/json", {}, 400),
        (b'{"grant_type": "client_credentials", "client_id": "\\ud800", "client_secret": "x"}', "application/json",
         {}, 401),
        (b'{"grant_type": "client_credentials", "client_id": "a\\u0000b", "client_secret": "x"}', "application/json",
         {}, 401),
        (b"grant_type=client_credentials&client_id=a%00b&client_secret=x", "application/x-www-form-urlencoded", {},
         401),
        (b"grant_type=client_credentials", "application/x-www-form-urlencoded",
         {"HTTP_AUTHORIZATION": "Basic \xff\xfe\xe9"}, 401),
        (b"grant_type=client_credentials", "application/x-www-form-urlencoded",
         {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"%00:x").decode()}, 401),
        (b"garbage", "multipart/form-data", {}, 400),
        (b"&".join([b"a=1"] * 2000), "application/x-www-form-urlencoded", {}, 400),
    ],
    ids=["deeply-nested-json", "lone-surrogate", "nul-in-json", "nul-in-form", "non-ascii-basic", "nul-in-basic",
         "multipart-without-boundary", "too-many-fields"],
)
def test_malformed_token_requests_get_a_json_4xx(client, db, body, content_type, headers, status):
    for path in ("/oauth2/token", "/csc/v2/oauth2/token"):
        response = client.generic("POST", path, body, content_type=content_type, **headers)
        assert response.status_code == status, (path, response.content[:300])
        assert response["Content-Type"].startswith("application/json")
        assert response.json()["error"] in ("invalid_client", "invalid_request", "unsupported_grant_type")


def test_the_token_lists_only_its_organizations_holders(client, world, ca, alpha_token):
    mine = active(world.alpha.holder)
    theirs = active(world.beta.holder)
    listed = csc_post(client, "/csc/v1/credentials/list", {"userID": world.alpha.holder.user.username}, alpha_token)
    assert listed.status_code == 200, listed.content
    assert listed.json()["credentialIDs"] == [mine.iut]

    foreign = csc_post(client, "/csc/v1/credentials/list", {"userID": world.beta.holder.user.username}, alpha_token)
    unknown = csc_post(client, "/csc/v1/credentials/list", {"userID": "nobody.at.all"}, alpha_token)
    assert foreign.status_code == unknown.status_code == 400
    expected = {"error": "invalid_request", "error_description": "Invalid parameter userID"}
    assert foreign.json() == unknown.json() == expected

    foreign_info = csc_post(client, "/csc/v1/credentials/info", {"credentialID": theirs.iut}, alpha_token)
    unknown_info = csc_post(client, "/csc/v1/credentials/info", {"credentialID": "0" * 16}, alpha_token)
    assert foreign_info.status_code == unknown_info.status_code == 400
    assert foreign_info.json() == unknown_info.json()


def test_a_revoked_client_gets_401_and_no_new_token(client, world, alpha_api, alpha_token):
    api_client, secret = alpha_api
    from accounts.services.api_clients import api_client_revoke

    api_client_revoke(actor=world.alpha.admin.user, api_client=api_client)
    response = csc_post(client, "/csc/v1/credentials/list", {"userID": "mario.rossi"}, alpha_token)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert "Bearer" in response["WWW-Authenticate"]
    again = client.post("/oauth2/token", {"grant_type": "client_credentials", "client_id": api_client.client_id,
                                          "client_secret": secret})
    assert again.status_code == 401 and again.json()["error"] == "invalid_client"


def test_an_expired_token_gets_401_in_csc_form(client, alpha_token):
    AccessToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    response = csc_post(client, "/csc/v1/credentials/list", {"userID": "mario.rossi"}, alpha_token)
    assert response.status_code == 401
    assert set(response.json()) == {"error", "error_description"}


def test_no_token_or_garbage_gets_401(client):
    assert csc_post(client, "/csc/v1/credentials/list", {"userID": "x"}).status_code == 401
    garbage = csc_post(client, "/csc/v1/credentials/list", {"userID": "x"}, "é" * 10)
    assert garbage.status_code == 401 and garbage.json()["error"] == "invalid_token"


def test_a_token_without_the_csc_scope_gets_403_in_csc_form(client, world):
    batch_only, secret = api_client_for(world.alpha, scopes=["batch"], name="Batch only")
    token = token_for(client, batch_only, secret)["access_token"]
    response = csc_post(client, "/csc/v1/credentials/list", {"userID": "mario.rossi"}, token)
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert set(response.json()) == {"error", "error_description"}


def test_the_admin_creates_a_client_and_sees_the_secret_once_stored_hashed(client, world):
    console(client, world.alpha.admin)
    page = client.get("/operatore/api/")
    assert page.status_code == 200
    created = client.post("/operatore/api/nuovo/", confirmed(client, {"name": "Esse3", "scopes": ["csc", "batch"]}))
    assert created.status_code == 200
    api_client = ApiClient.objects.get(name="Esse3")
    secret = created.context["client_secret"]
    assert secret and secret in created.content.decode()
    assert api_client.organization == world.alpha.organization and api_client.scopes == ["batch", "csc"]
    stored = api_client.application.client_secret
    assert stored != secret and identify_hasher(stored) and check_password(secret, stored)
    listing = client.get("/operatore/api/").content.decode()
    assert "Esse3" in listing and api_client.client_id in listing and secret not in listing
    event = AuditEvent.objects.filter(event_type="api_client.created").get()
    assert event.actor_id == world.alpha.admin.user.pk and event.organization_id == world.alpha.organization.pk
    assert secret not in str(event.details)
    # The secret works once, for a token.
    assert token_for(client, api_client, secret)["scope"] == "batch csc"


def test_the_admin_revokes_a_client_audited(client, world, alpha_api):
    api_client, _secret = alpha_api
    console(client, world.alpha.admin)
    response = client.post(f"/operatore/api/{api_client.pk}/revoca/", confirmed(client))
    assert response.status_code == 302
    api_client.refresh_from_db()
    assert api_client.revoked_at is not None and api_client.revoked_by == world.alpha.admin.user
    assert AuditEvent.objects.filter(event_type="api_client.revoked", subject_id=str(api_client.pk)).exists()


def test_a_plain_operator_cannot_manage_clients(client, world, alpha_api):
    api_client, _secret = alpha_api
    console(client, world.alpha.operator)
    assert client.get("/operatore/api/").status_code == 403
    # Refused for the role, even with a fresh factor: never a confirmation page (also a 403).
    for refused in (
        client.post("/operatore/api/nuovo/", confirmed(client, {"name": "X", "scopes": ["csc"]})),
        client.post(f"/operatore/api/{api_client.pk}/revoca/", confirmed(client)),
    ):
        assert refused.status_code == 403
        assert "console/confirm.html" not in [template.name for template in refused.templates]
    assert ApiClient.objects.count() == 1 and ApiClient.objects.get().revoked_at is None
    assert "/operatore/api/" not in client.get("/operatore/").content.decode()


def test_another_organizations_clients_are_invisible(client, world, alpha_api):
    api_client, _secret = alpha_api
    console(client, world.beta.admin)
    assert api_client.client_id not in client.get("/operatore/api/").content.decode()
    assert client.post(f"/operatore/api/{api_client.pk}/revoca/", confirmed(client)).status_code == 404
    api_client.refresh_from_db()
    assert api_client.revoked_at is None


def test_wrong_secrets_are_rate_limited_per_client_and_address(client, alpha_api, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "api_token_client_ip": "2/600s"}
    api_client, _secret = alpha_api
    form = {"grant_type": "client_credentials", "client_id": api_client.client_id, "client_secret": "wrong"}
    assert [client.post("/oauth2/token", form).status_code for _ in range(3)] == [401, 401, 429]


def test_api_calls_are_rate_limited_per_client(client, alpha_token, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "api_client": "2/60s"}
    codes = [csc_post(client, "/csc/v1/credentials/list", {"userID": "x"}, alpha_token).status_code for _ in range(3)]
    assert codes == [400, 400, 429]
