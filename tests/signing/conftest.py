"""API clients and tokens on top of the shared world and the test CA."""

from __future__ import annotations

import base64

import pytest
from django.test import Client

from accounts.models import ApiClient
from accounts.services.api_clients import api_client_create
from tests.certificates.conftest import ca, ca_hierarchy, english_messages  # noqa: F401  (shared fixtures)


def api_client_for(tenant, *, scopes=("csc",), name="Exam records") -> tuple[ApiClient, str]:
    return api_client_create(actor=tenant.admin.user, name=name, scopes=list(scopes))


def token_for(client: Client, api_client: ApiClient, secret: str, **extra) -> dict:
    basic = base64.b64encode(f"{api_client.application.client_id}:{secret}".encode()).decode()
    response = client.post(
        "/oauth2/token", {"grant_type": "client_credentials", **extra}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def alpha_api(world) -> tuple[ApiClient, str]:
    return api_client_for(world.alpha)


@pytest.fixture
def alpha_token(client, alpha_api) -> str:
    return token_for(client, *alpha_api)["access_token"]


def csc_post(client: Client, path: str, body=None, token: str | None = None, **extra):
    import json

    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    data = body if isinstance(body, str | bytes) else json.dumps(body or {})
    return client.post(path, data=data, content_type=extra.pop("content_type", "application/json"), **headers, **extra)
