"""Liveness and readiness as a load balancer sees them, and outages answered 503 (never 500)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

import pytest
from django.db import OperationalError, connection
from django.db.backends.utils import CursorWrapper
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from certificates.models import AuthorityRole, CertificateAuthority, Crl
from portal.views import health
from tests.certificates.conftest import ca, ca_hierarchy  # noqa: F401  (fixtures)

CHECKS = {"database", "migrations", "cache", "broker", "key_vault", "tsa_certificate", "crl"}


def _failed(response) -> dict[str, str]:  # noqa: ANN001
    return {name: check.get("error", "") for name, check in response.json()["checks"].items() if not check["ok"]}


@contextmanager
def database_gone() -> Iterator[None]:
    """Every statement fails as it does when PostgreSQL is stopped mid-flight."""
    def refused(*args, **kwargs):  # noqa: ANN002, ANN003
        raise OperationalError("server closed the connection unexpectedly")

    with mock.patch.object(CursorWrapper, "execute", refused), mock.patch.object(CursorWrapper, "executemany", refused):
        yield


def test_liveness_answers_without_touching_the_database(client, db):
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert len(queries) == 0
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_readiness_is_green_with_every_check_named_and_timed(client, ca):  # noqa: F811
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok" and set(body["checks"]) == CHECKS
    assert all(check["ok"] and isinstance(check["ms"], float) for check in body["checks"].values())


def test_readiness_polled_often_stays_cheap_and_is_never_throttled(client, ca):  # noqa: F811
    client.get("/readyz")  # the first call also checks the migrations, once per process
    with CaptureQueriesContext(connection) as queries:
        answers = [client.get("/readyz").status_code for _ in range(30)]
    assert answers == [200] * 30
    assert len(queries) <= 30 * 6  # a handful of indexed reads per poll
    assert not client.cookies.get("sessionid")  # no session is created for a probe


def test_readiness_turns_red_when_the_tsa_certificate_expires_within_30_days(client, ca):  # noqa: F811
    CertificateAuthority.objects.filter(role=AuthorityRole.TSA, is_current=True).update(
        not_after=timezone.now() + timedelta(days=20, hours=1))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert _failed(response) == {"tsa_certificate": "the TSA certificate expires in 20 days"}


def test_an_external_tsa_is_not_the_internal_certificates_concern(client, ca, settings):  # noqa: F811
    settings.SIGNING_TSA_URL = "https://tsa.example.org/"
    CertificateAuthority.objects.filter(role=AuthorityRole.TSA, is_current=True).update(
        not_after=timezone.now() + timedelta(days=2))
    assert client.get("/readyz").status_code == 200


def test_readiness_turns_red_when_a_crl_is_past_its_next_update(client, ca):  # noqa: F811
    Crl.objects.filter(authority__role=AuthorityRole.ISSUING).update(next_update=timezone.now() - timedelta(minutes=1))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert _failed(response) == {"crl": "the issuing CA's CRL is past its nextUpdate"}


def test_readiness_turns_red_with_migrations_not_applied(client, ca, monkeypatch):  # noqa: F811
    monkeypatch.setattr(health, "_migrated", False)
    monkeypatch.setattr(health, "migrations_pending", lambda: ["signing.0099_next", "audit.0099_next"])
    response = client.get("/readyz")
    assert response.status_code == 503 and _failed(response) == {"migrations": "2 migrations not applied"}


def test_readiness_turns_red_when_the_broker_cannot_be_reached(client, ca, monkeypatch):  # noqa: F811
    from config.celery import app

    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:9/0")  # nothing listens on port 9
    # Celery reads CELERY_BROKER_URL from the environment before its settings (CI sets it); set after
    # the line above, which would otherwise note this value as the one to restore.
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:9/0")
    response = client.get("/readyz")
    assert response.status_code == 503 and set(_failed(response)) == {"broker"}


def test_readiness_turns_red_when_the_cache_loses_what_is_written(client, ca, monkeypatch):  # noqa: F811
    monkeypatch.setattr(health.cache, "get", lambda *args, **kwargs: None)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert _failed(response) == {"cache": "the cache does not keep what is written"}


def test_readiness_turns_red_when_the_database_is_gone_and_says_only_what_failed(client, ca):  # noqa: F811
    client.get("/readyz")
    with database_gone():
        response = client.get("/readyz")
    assert response.status_code == 503
    assert _failed(response)["database"] == "OperationalError"
    assert b"server closed" not in response.content

    assert client.get("/readyz").status_code == 200  # back without a restart


@pytest.fixture
def production_client(settings) -> Client:
    """A client that gets what a browser gets when the server fails (DEBUG off, no exception re-raised)."""
    settings.DEBUG = False
    return Client(raise_request_exception=False)


def test_a_panel_page_with_the_database_gone_is_a_503_to_retry_not_a_500(world, holder_client, production_client):
    production_client.cookies = holder_client.cookies

    with database_gone():
        response = production_client.get("/", HTTP_ACCEPT_LANGUAGE="it")

    assert response.status_code == 503 and response["Retry-After"] == "30"
    body = response.content.decode()
    assert "Servizio temporaneamente non disponibile" in body and "database" in body


def test_an_api_call_with_the_database_gone_is_a_json_503(world, production_client):
    with database_gone():
        response = production_client.post("/api/v1/validation", HTTP_AUTHORIZATION="Bearer abc")

    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert response.json()["code"] == "temporarily_unavailable"


def test_a_csc_token_request_with_the_database_gone_is_a_503_in_the_oauth_error_shape(world, production_client):
    with database_gone():
        response = production_client.post("/csc/v2/oauth2/token", {
            "grant_type": "client_credentials", "client_id": "x", "client_secret": "y"})

    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert response.json()["error"] == "temporarily_unavailable"


def test_any_other_server_error_stays_a_500(production_client, db, monkeypatch):
    def broken(*args, **kwargs):  # noqa: ANN002, ANN003
        raise RuntimeError("a bug")

    monkeypatch.setattr(health, "JsonResponse", broken)
    response = production_client.get("/healthz")
    assert response.status_code == 500


def test_ocsp_with_the_database_gone_answers_try_later_that_relying_parties_retry(world, ca, client):  # noqa: F811
    from cryptography.x509 import ocsp

    from tests.certificates.conftest import active
    from tests.certificates.test_ocsp_crl import _ocsp_request

    certificate = active(world.alpha.holder)
    request = _ocsp_request(certificate.der, ca["issuing"].der)

    with database_gone():
        response = client.post("/ca/ocsp/", request, content_type="application/ocsp-request")

    assert response.status_code == 200 and response["Content-Type"] == "application/ocsp-response"
    assert ocsp.load_der_ocsp_response(response.content).response_status == ocsp.OCSPResponseStatus.TRY_LATER
    answer = client.post("/ca/ocsp/", request, content_type="application/ocsp-request")  # back by itself
    assert ocsp.load_der_ocsp_response(answer.content).response_status == ocsp.OCSPResponseStatus.SUCCESSFUL


def test_the_tsa_with_the_database_gone_rejects_with_system_failure(ca, client):  # noqa: F811
    import hashlib

    from asn1crypto import tsp

    from signing.tsa import TimeStampResponse

    request = tsp.TimeStampReq({"version": 1, "cert_req": True, "message_imprint": {
        "hash_algorithm": {"algorithm": "sha256"}, "hashed_message": hashlib.sha256(b"x").digest()}}).dump()

    with database_gone():
        response = client.post("/tsa/", request, content_type="application/timestamp-query")

    assert response.status_code == 200 and response["Content-Type"] == "application/timestamp-reply"
    status = TimeStampResponse.load(response.content)["status"]
    assert status["status"].native == "rejection" and status["fail_info"].native == {"system_failure"}
