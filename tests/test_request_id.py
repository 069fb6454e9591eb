"""One request id from the proxy through the web process's log lines, the Celery tasks it causes and
the audit rows: kept when it looks like an id, replaced when it does not, answered back."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils.module_loading import import_string

from audit.models import AuditEvent
from audit.services import audit_chain_verify, audit_record
from core.request_id import HEADER, request_id_reset, request_id_set
from signing.models import SigningJob
from tests.certificates.conftest import PIN, ca, ca_hierarchy  # noqa: F401  (fixtures)
from tests.conftest import World
from tests.integration.conftest import eventually, worker, worker_env, worker_process  # noqa: F401  (fixtures)
from tests.signing.conftest import Signer, api_client_for, csc_post, signer, token_for  # noqa: F401
from tests.signing.test_batch_api import _docs, _sign_body

LOGIN_URL = reverse("accounts:login")
FRESH = re.compile(r"[0-9a-f]{32}")  # what the middleware makes when it does not keep the proxy's


def failed_login(client: Client, **headers: str):
    return client.post(LOGIN_URL, {"username": "mario.rossi", "password": "Password-Sbagliata-99"}, headers=headers)


def test_every_response_carries_a_request_id(db, client):
    response = client.get(LOGIN_URL)
    assert FRESH.fullmatch(response[HEADER])
    assert client.get(LOGIN_URL)[HEADER] != response[HEADER]  # one per request


@pytest.mark.parametrize("offered", ["smoke-req-12345678", "a1B2.c3:d4_e5-f6", "x" * 64,
                                     "0f8fad5b-d9cb-469f-a165-70867728950e"])
def test_a_sane_proxy_id_is_kept_and_echoed(db, client, offered):
    assert client.get(LOGIN_URL, headers={HEADER: offered})[HEADER] == offered


@pytest.mark.parametrize("offered", [
    "smoke-req-1234\nX-Injected: 1", "smoke-req-12345678\r\n", "x" * 500, "x" * 65, "richiesta-già-vista",
    "short", "id with spaces 123", "<script>alert(1)</script>", "", "smoke-req-1234;rm",
], ids=["newline", "trailing-crlf", "500-chars", "65-chars", "non-ascii", "too-short", "spaces", "markup", "empty",
        "semicolon"])
def test_a_hostile_or_overlong_proxy_id_is_replaced_by_a_fresh_one(db, client, offered):
    response = client.get(LOGIN_URL, headers={HEADER: offered})
    assert FRESH.fullmatch(response[HEADER]), response[HEADER]
    assert response[HEADER] != offered


def test_the_audit_row_of_a_failed_login_has_the_request_id(world: World, client):
    response = failed_login(client, **{HEADER: "smoke-req-12345678"})

    assert response[HEADER] == "smoke-req-12345678"
    event = AuditEvent.objects.get(event_type="auth.login.failed")
    assert event.request_id == "smoke-req-12345678"
    # A replaced id is the one recorded, not the hostile one offered.
    replaced = failed_login(client, **{HEADER: "bad\nid-1234567890"})
    assert AuditEvent.objects.filter(event_type="auth.login.failed").latest("seq").request_id == replaced[HEADER]


@pytest.fixture
def sql_logged() -> None:
    """Django's SQL log (django.db.backends) on: lines are certainly written during any request."""
    cursors = [(connection, connection.force_debug_cursor) for connection in connections.all()]
    for connection, _ in cursors:
        connection.force_debug_cursor = True
    yield
    for connection, forced in cursors:
        connection.force_debug_cursor = forced


def test_log_lines_written_during_the_request_carry_its_id(world: World, client, caplog, sql_logged):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")  # Django's own config has "django" at INFO

    failed_login(client, **{HEADER: "smoke-req-12345678"})

    during = [record for record in caplog.records if record.name == "django.db.backends"]
    assert during, "no line was logged during the request"
    assert {getattr(record, "request_id", None) for record in during} == {"smoke-req-12345678"}
    # Django's line for an error response ("Bad Request: /accesso/") too, though Django writes it
    # after the middleware chain has returned.
    [answered] = [record for record in caplog.records if record.name == "django.request"]
    assert answered.getMessage().startswith("Bad Request") and answered.request_id == "smoke-req-12345678"
    caplog.clear()
    logging.getLogger("firma.test").warning("outside any request")
    assert caplog.records[0].request_id == ""


def _configured_json_handler(stream: io.StringIO) -> logging.Handler:
    """A handler as settings.LOGGING builds it with LOG_FORMAT=json, writing to ``stream``."""
    options = dict(settings.LOGGING["formatters"]["json"])
    formatter = import_string(options.pop("()"))(**options)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    for name in settings.LOGGING["handlers"]["console"]["filters"]:
        handler.addFilter(import_string(settings.LOGGING["filters"][name]["()"])())
    return handler


def test_json_log_lines_are_one_object_each_with_time_level_logger_request_id_and_message(
        world: World, client, caplog, sql_logged):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    stream = io.StringIO()
    handler = _configured_json_handler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        failed_login(client, **{HEADER: "smoke-req-12345678"})
        logging.getLogger("firma.test").warning("multi-line\nmessage with \"quotes\"")
    finally:
        root.removeHandler(handler)

    lines = stream.getvalue().splitlines()
    assert len(lines) > 5
    objects = [json.loads(line) for line in lines]  # each line is one whole JSON object
    for obj in objects:
        assert {"time", "level", "logger", "request_id", "message"} <= set(obj), obj
    sql = [obj for obj in objects if obj["logger"] == "django.db.backends"]
    assert sql and {obj["request_id"] for obj in sql} == {"smoke-req-12345678"}
    assert {obj["level"] for obj in sql} == {"DEBUG"}
    [answered] = [obj for obj in objects if obj["logger"] == "django.request"]
    assert answered["request_id"] == "smoke-req-12345678" and answered["level"] == "WARNING"
    assert objects[-1]["message"] == "multi-line\nmessage with \"quotes\"" and objects[-1]["request_id"] == ""


def test_a_chain_with_rows_with_and_without_request_id_verifies(db):
    audit_record(event_type="test.event", details={"n": 1})  # as rows written before the column existed
    token = request_id_set("smoke-req-12345678")
    try:
        audit_record(event_type="test.event", details={"n": 2})
    finally:
        request_id_reset(token)
    audit_record(event_type="test.event", details={"n": 3})

    assert list(AuditEvent.objects.order_by("seq").values_list("request_id", flat=True)) == [
        "", "smoke-req-12345678", ""]
    assert audit_chain_verify().ok


def test_an_edited_request_id_breaks_the_chain(db):
    from tests.audit.test_chain import raw

    token = request_id_set("smoke-req-12345678")
    try:
        audit_record(event_type="test.event", details={"n": 1})
    finally:
        request_id_reset(token)
    audit_record(event_type="test.event", details={"n": 2})
    raw("UPDATE audit_auditevent SET request_id = %s WHERE seq = 1", ["someone-else-1234"])

    report = audit_chain_verify()
    assert not report.ok and report.broken_at == 1


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_batch_job_keeps_the_request_id_on_the_audit_rows_the_worker_writes(
        client, worker, world: World, signer: Signer, settings):  # noqa: F811
    settings.SIGNING_BATCH_SYNC_LIMIT = 1
    api_client, secret = api_client_for(world.alpha, scopes=("batch",), name="Esse3")
    token = token_for(client, api_client, secret)["access_token"]
    docs = _docs(2)
    authorized = csc_post(client, "/api/v1/batch/authorize", {
        "userID": signer.holder.user.username, "credentialID": signer.certificate.iut, "PIN": PIN,
        "OTP": signer.otp(),
        "documents": [{"name": name, "sha256": hashlib.sha256(data).hexdigest()} for name, data in docs],
    }, token)
    assert authorized.status_code == 200, authorized.content
    before = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0

    response = csc_post(client, "/api/v1/batch/sign", _sign_body(signer, authorized.json()["SAD"], docs), token,
                        headers={HEADER: "smoke-req-12345678"})

    assert response.status_code == 202, response.content
    assert response[HEADER] == "smoke-req-12345678"
    assert eventually(lambda: SigningJob.objects.get().state in ("done", "failed"), timeout=120)
    assert SigningJob.objects.get().state == "done"
    written = AuditEvent.objects.filter(seq__gt=before)
    signed = written.filter(event_type="signature.created")
    assert signed.exists(), list(written.values_list("event_type", flat=True))
    assert set(written.values_list("request_id", flat=True)) == {"smoke-req-12345678"}
    assert audit_chain_verify().ok
