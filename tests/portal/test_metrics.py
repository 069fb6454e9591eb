"""/metrics for Prometheus, scraped from the outside: who may read it, what it counts, what the database
and the broker figures say, and that the sample dashboard and alert rules name only what it exposes.

Counters live in the process's default registry and keep counting across tests: every assertion on
one is about its change during the test. Audit-driven counters move when the audit row commits, so the
actions run under ``django_capture_on_commit_callbacks(execute=True)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from celery import current_app
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from certificates.models import AuthorityRole, Certificate, CertificateAuthority, CertificateState, Crl
from certificates.services import certificate_suspend
from core.errors import ApplicationError
from notifications.models import Message, MessageStatus
from otp.models import DeviceKind
from otp.oath import hotp
from otp.services import device_create, device_verify
from signing.models import Channel
from signing.services import signature_sign_hashes
from tests.certificates.conftest import PIN, active, ca, ca_hierarchy  # noqa: F401  (fixtures)
from tests.conftest import HOLDER_PASSWORD, World, login
from tests.signing.conftest import Signer, authorize
from tests.signing.pdfs import pdf_bytes
from tests.test_settings import manage, production_env

ROOT = Path(__file__).resolve().parent.parent.parent
FOREIGN = "203.0.113.7"
TOKEN = "metrics-token-of-the-tests-" + "x" * 20
SEED = b"12345678901234567890"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: Client, **extra: str) -> tuple[Samples, dict[str, str]]:
    """The samples of one scrape (by name and labels) and each family's type."""
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content[:500]
    samples: Samples = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, types


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def exposed_names(types: dict[str, str]) -> set[str]:
    """Every series name a family of the scrape stands for, whether or not it has samples yet."""
    suffixes = {"counter": ["_total", "_created"], "histogram": ["_bucket", "_sum", "_count", "_created"]}
    names: set[str] = set()
    for family, kind in types.items():
        names.add(family)
        names.update(family + suffix for suffix in suffixes.get(kind, []))
    return names


@pytest.fixture
def fresh(settings):
    """Scrape-time figures read afresh on every scrape (no cache)."""
    settings.METRICS_CACHE_SECONDS = 0


# --- Who may read it -------------------------------------------------------------------------------


def _page(response, path: str) -> bytes:
    """The page without what differs between any two pages: the path shown and the masked CSRF token."""
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", response.content.replace(path.encode(), b""))


def test_a_foreign_address_gets_the_sites_plain_404_whatever_the_method(db, client):
    for method in (client.get, client.post, client.head):
        missing = method("/no-such-page", REMOTE_ADDR=FOREIGN)
        response = method("/metrics", REMOTE_ADDR=FOREIGN)
        assert response.status_code == missing.status_code == 404
        assert _page(response, "/metrics") == _page(missing, "/no-such-page")
        assert b"firma_" not in response.content


def test_an_allowed_address_reads_the_metrics_uncached_and_without_a_cookie(db, client):
    response = client.get("/metrics")  # the test client's address is 127.0.0.1, allowed by default

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "no-store" in response["Cache-Control"]
    assert not response.cookies
    assert b"# TYPE firma_signatures_total counter" in response.content


def test_an_allowed_caller_that_does_not_get_is_told_the_method(db, client):
    assert client.post("/metrics").status_code == 405


def test_addresses_and_networks_of_the_setting_are_admitted_and_no_others(db, client, settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8", "2001:db8::/32", "192.0.2.1"]

    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="2001:db8::5").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::ffff:10.1.1.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.2").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404  # no longer in the list


def test_a_request_through_a_proxy_is_not_admitted_by_the_proxys_address(db, client):
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=FOREIGN)
    assert response.status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_FORWARDED=f"for={FOREIGN}").status_code == 404


def test_the_right_token_opens_it_from_any_address_and_a_wrong_one_does_not(db, client, settings):
    settings.METRICS_TOKEN = TOKEN

    assert client.get("/metrics", REMOTE_ADDR=FOREIGN, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR=FOREIGN, HTTP_AUTHORIZATION=f"Bearer {TOKEN}x").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR=FOREIGN, HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR=FOREIGN, HTTP_AUTHORIZATION="Bearer ").status_code == 404
    # A presented token decides alone, even from an allowed address.
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404


def test_without_a_configured_token_no_bearer_value_opens_it(db, client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR=FOREIGN, HTTP_AUTHORIZATION="Bearer ").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR=FOREIGN, HTTP_AUTHORIZATION="Bearer x").status_code == 404


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("METRICS_ALLOWED_IPS", "127.0.0.1,10.0.0.300/8", "METRICS_ALLOWED_IPS: '10.0.0.300/8' is not an IP"),
        ("METRICS_TOKEN", "short", "METRICS_TOKEN must be at least 32 characters"),
        ("METRICS_CACHE_SECONDS", "-1", "METRICS_CACHE_SECONDS must be at least 0"),
        ("PROMETHEUS_MULTIPROC_DIR", "/nonexistent/metrics", "PROMETHEUS_MULTIPROC_DIR must name an existing"),
    ],
)
def test_a_malformed_metrics_setting_stops_the_process_at_start(tmp_path, variable, value, message):
    result = manage(production_env(tmp_path, **{variable: value}), "check")
    assert result.returncode != 0
    assert message in result.stderr


# --- Requests ----------------------------------------------------------------------------------------


def test_request_latency_is_labelled_by_url_pattern_never_by_the_raw_path(db, client):
    job_id = uuid.uuid4()
    client.get(f"/api/v1/jobs/{job_id}")
    client.get("/no-such-page/98765")
    client.get("/readyz")

    samples, _types = scrape(client)
    labels = [dict(key[1]) for key in samples if key[0] == "firma_http_request_duration_seconds_count"]
    views = {label["view"] for label in labels}
    assert "readyz" in views and "unmatched" in views
    assert {label["status"] for label in labels} <= {"1xx", "2xx", "3xx", "4xx", "5xx"}
    for label in labels:
        assert str(job_id) not in label["view"] and "98765" not in label["view"]
        assert not re.search(r"\d{4,}", label["view"]), label


def test_every_request_is_timed_once_under_its_view_method_and_status_class(db, client):
    before, _ = scrape(client)
    client.get("/healthz")
    client.get("/healthz")
    after, _ = scrape(client)

    key = {"view": "healthz", "method": "GET", "status": "2xx"}
    assert value(after, "firma_http_request_duration_seconds_count", **key) - value(
        before, "firma_http_request_duration_seconds_count", **key) == 2


# --- Counters from the audit trail ------------------------------------------------------------------


def test_a_failed_login_is_counted_once(world: World, client, django_capture_on_commit_callbacks):
    before, _ = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        response = login(client, world.alpha.holder.user.username, "not-the-password")
    after, _ = scrape(client)

    assert response.status_code != 302  # refused, not logged in
    key = {"portal": "panel", "reason": "invalid"}
    assert value(after, "firma_login_failures_total", **key) - value(before, "firma_login_failures_total", **key) == 1
    assert value(after, "firma_login_lockouts_total", portal="panel") == value(
        before, "firma_login_lockouts_total", portal="panel")


def test_a_lockout_and_the_logins_it_refuses_are_counted(world: World, client, django_capture_on_commit_callbacks):
    username = world.beta.holder.user.username  # beta locks after 3 failures
    before, _ = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            login(client, username, "not-the-password")
        login(client, username, HOLDER_PASSWORD)  # refused: locked
    after, _ = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("firma_login_failures_total", portal="panel", reason="invalid") == 3
    assert delta("firma_login_failures_total", portal="panel", reason="locked") == 1
    assert delta("firma_login_lockouts_total", portal="panel") == 1


@pytest.fixture
def panel_signer(world: World, ca, holder_client: Client):  # noqa: F811
    holder = world.alpha.holder
    certificate = active(holder)
    device = device_create(kind=DeviceKind.HARDWARE_HOTP, seed=SEED, holder=holder, serial="1234567890123")
    return holder, certificate, device


def test_a_panel_signature_is_counted_under_its_level_and_the_panel(
    panel_signer, holder_client, django_capture_on_commit_callbacks
):
    _holder, _certificate, device = panel_signer
    documents = [
        SimpleUploadedFile(f"verbale-{n}.pdf", pdf_bytes(f"Esame {n}"), content_type="application/pdf")
        for n in range(2)
    ]
    before, _ = scrape(holder_client)
    with django_capture_on_commit_callbacks(execute=True):
        response = holder_client.post(
            reverse("panel:signing"),
            {
                "level": "B-T", "appearance": "invisible", "page": "1", "reason": "Approvazione", "location": "Modena",
                "pin": PIN, "device": str(device.public_id), "code": hotp(SEED, 0), "documents": documents,
            },
        )
    after, _ = scrape(holder_client)

    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    key = {"level": "B-T", "channel": "panel"}
    assert value(after, "firma_signatures_total", **key) - value(before, "firma_signatures_total", **key) == 2
    other = {"level": "B-T", "channel": "csc"}
    assert value(after, "firma_signatures_total", **other) == value(before, "firma_signatures_total", **other)


@pytest.fixture
def signer(world: World, ca) -> Signer:  # noqa: F811
    holder = world.alpha.holder
    certificate = active(holder)
    device = device_create(kind=DeviceKind.HARDWARE_HOTP, seed=SEED, holder=holder, serial="4000000000001")
    return Signer(holder=holder, certificate=certificate, device=device)


def test_hashes_signed_through_the_csc_channel_are_counted_as_hash_signatures(
    signer, client, django_capture_on_commit_callbacks
):
    hashes = [hashlib.sha256(f"documento {n}".encode()).digest() for n in range(3)]
    before, _ = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        _activation, token = authorize(signer, hashes=hashes, channel=Channel.CSC)
        signature_sign_hashes(sad_token=token, hashes=hashes, certificate=signer.certificate)
    after, _ = scrape(client)

    key = {"level": "hash", "channel": "csc"}
    assert value(after, "firma_signatures_total", **key) - value(before, "firma_signatures_total", **key) == 3


def test_a_refused_sad_is_counted_by_step_and_reason(signer, client, django_capture_on_commit_callbacks):
    hashes = [hashlib.sha256(b"verbale").digest()]
    before, _ = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        _activation, token = authorize(signer, hashes=hashes, channel=Channel.CSC)
        signature_sign_hashes(sad_token=token, hashes=hashes, certificate=signer.certificate)
        for _ in range(2):  # spent: each further use is refused
            with pytest.raises(ApplicationError) as refused:
                signature_sign_hashes(sad_token=token, hashes=hashes, certificate=signer.certificate)
            assert refused.value.code == "sad_expired"
    after, _ = scrape(client)

    key = {"step": "sign", "reason": "sad_expired"}
    assert value(after, "firma_signature_refusals_total", **key) - value(
        before, "firma_signature_refusals_total", **key) == 2


def test_wrong_otp_codes_and_the_device_lock_are_counted(world: World, client, settings,
                                                          django_capture_on_commit_callbacks):
    settings.OTP_MAX_FAILURES = 3
    device = device_create(kind=DeviceKind.HARDWARE_HOTP, seed=SEED, holder=world.alpha.holder, serial="4000000000002")
    before, _ = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            assert not device_verify(device=device, code="000000", purpose="sign").ok
    after, _ = scrape(client)

    key = {"factor": "device", "purpose": "sign"}
    assert value(after, "firma_otp_failures_total", **key) - value(before, "firma_otp_failures_total", **key) == 3
    assert value(after, "firma_otp_device_locks_total") - value(before, "firma_otp_device_locks_total") == 1


def test_nothing_is_counted_for_an_attempt_whose_transaction_is_rolled_back(world: World, client):
    # Under the test's transaction nothing commits: the audit rows exist, the counters wait for a commit
    # that never comes, exactly as for a request whose transaction fails after auditing.
    before, _ = scrape(client)
    login(client, world.alpha.holder.user.username, "not-the-password")
    after, _ = scrape(client)

    key = {"portal": "panel", "reason": "invalid"}
    assert value(after, "firma_login_failures_total", **key) == value(before, "firma_login_failures_total", **key)


# --- Figures from the database and the broker --------------------------------------------------------


def message(status: str, *, age: timedelta, **fields: object) -> Message:
    now = timezone.now()
    return Message.objects.create(
        idempotency_key=str(uuid.uuid4()), channel="email", recipient="someone@example.org", message_type="test",
        language="it", body_text="…", status=status, created_at=now - age, updated_at=now - age,
        sent_at=now - age if status == MessageStatus.SENT else None, **fields,
    )


def test_the_outbox_figures_match_the_queued_and_dead_messages(db, client, fresh):
    message(MessageStatus.QUEUED, age=timedelta(minutes=7))
    message(MessageStatus.QUEUED, age=timedelta(minutes=1))
    message(MessageStatus.DEAD, age=timedelta(hours=2))
    message(MessageStatus.SENT, age=timedelta(days=1))

    samples, _ = scrape(client)

    assert value(samples, "firma_messages", status="queued") == 2
    assert value(samples, "firma_messages", status="dead") == 1
    assert value(samples, "firma_messages", status="failed") == 0
    assert ("firma_messages", (("status", "sent"),)) not in samples
    assert 7 * 60 <= value(samples, "firma_messages_oldest_queued_age_seconds") < 7 * 60 + 30


def test_a_message_handed_to_the_provider_is_counted_as_sent_under_its_channel(world: World, client):
    from notifications.catalog import SECURITY_EVENTS
    from notifications.services import message_enqueue
    from notifications.services_delivery import message_deliver

    holder = world.alpha.holder
    queued = message_enqueue(
        message_type="security_notice", channel="email", recipient=holder.email, holder=holder,
        context={"holder_name": holder.full_name, "event_text": SECURITY_EVENTS["phone_changed"],
                 "occurred_at": timezone.localtime()},
        idempotency_key="metrics-sent-1",
    )
    before, _ = scrape(client)

    assert message_deliver(message_id=queued.pk) == "sent"
    assert message_deliver(message_id=queued.pk) == "skipped"  # a redelivered task sends, and counts, nothing
    after, _ = scrape(client)

    sent = "firma_messages_sent_total"
    assert value(after, sent, channel="email") - value(before, sent, channel="email") == 1
    assert value(after, sent, channel="sms") == value(before, sent, channel="sms")


def test_with_nothing_queued_the_oldest_queued_age_is_zero(db, client, fresh):
    message(MessageStatus.SENDING, age=timedelta(hours=1))
    samples, _ = scrape(client)
    assert value(samples, "firma_messages_oldest_queued_age_seconds") == 0
    assert value(samples, "firma_messages", status="sending") == 1


def test_certificates_are_counted_by_state_and_those_expiring_within_30_days(world: World, ca, client, fresh):  # noqa: F811
    first, second = active(world.alpha.holder), active(world.beta.holder)
    Certificate.objects.filter(pk=first.pk).update(not_after=timezone.now() + timedelta(days=10))
    certificate_suspend(certificate=second, note="test")

    samples, _ = scrape(client)

    for state in CertificateState.values:
        assert value(samples, "firma_certificates", state=state) == Certificate.objects.filter(state=state).count()
    assert value(samples, "firma_certificates", state="active") >= 1
    assert value(samples, "firma_certificates", state="suspended") == 1
    assert value(samples, "firma_certificates_expiring", within="30d") == 1


def test_the_crl_next_update_and_the_tsa_not_after_are_unix_timestamps(db, ca, client, fresh):  # noqa: F811
    samples, _ = scrape(client)

    for role in (AuthorityRole.ISSUING, AuthorityRole.ROOT):
        latest = Crl.objects.filter(authority__role=role, authority__is_current=True).order_by("-number").first()
        assert latest is not None
        assert value(samples, "firma_crl_next_update_timestamp_seconds", authority=role) == pytest.approx(
            latest.next_update.timestamp())
    tsa = CertificateAuthority.objects.get(role=AuthorityRole.TSA, is_current=True)
    assert value(samples, "firma_tsa_certificate_not_after_timestamp_seconds") == pytest.approx(
        tsa.not_after.timestamp())


def test_without_a_ca_the_crl_and_tsa_gauges_have_no_sample(db, client, fresh):
    samples, types = scrape(client)
    assert "firma_crl_next_update_timestamp_seconds" in types
    assert not [key for key in samples if key[0].startswith(("firma_crl_", "firma_tsa_"))]


def test_pending_renewal_requests_are_counted(db, client, fresh, monkeypatch):
    import portal.metrics

    monkeypatch.setattr(portal.metrics, "renewal_pending_count", lambda: 4)
    samples, _ = scrape(client)
    assert value(samples, "firma_renewal_requests_pending") == 4


def test_a_task_sent_to_a_queue_shows_in_that_queues_depth(db, client, fresh):
    before, _ = scrape(client)
    assert value(before, "firma_metrics_source_up", source="broker") == 1
    try:
        current_app.send_task("tests.metrics.never_run", queue="messages")
        after, _ = scrape(client)
    finally:
        with current_app.connection_for_write() as connection:
            connection.default_channel.queue_purge("messages")

    assert value(after, "firma_celery_queue_messages", queue="messages") - value(
        before, "firma_celery_queue_messages", queue="messages") == 1
    assert {dict(key[1])["queue"] for key in after if key[0] == "firma_celery_queue_messages"} >= {
        "messages", "signing", "default"}


def test_the_queue_names_are_the_lanes_with_the_installations_prefix(db, client, fresh, settings):
    settings.CELERY_QUEUE_PREFIX = "uni-"

    samples, _ = scrape(client)

    queues = {dict(key[1])["queue"] for key in samples if key[0] == "firma_celery_queue_messages"}
    assert queues == {"uni-messages", "uni-signing", "uni-default"}


def test_the_figures_are_read_once_per_cache_period(db, client, settings):
    settings.METRICS_CACHE_SECONDS = 60
    message(MessageStatus.DEAD, age=timedelta(minutes=1))
    first, _ = scrape(client)
    message(MessageStatus.DEAD, age=timedelta(minutes=1))
    second, _ = scrape(client)

    assert value(first, "firma_messages", status="dead") == value(second, "firma_messages", status="dead") == 1


def test_a_cache_that_cannot_be_read_costs_a_fresh_read_not_the_scrape(db, client, settings, monkeypatch):
    import portal.metrics

    def down(*_args: object, **_kwargs: object) -> None:
        raise ConnectionError("cache down")

    settings.METRICS_CACHE_SECONDS = 60
    monkeypatch.setattr(portal.metrics.cache, "get", down)
    monkeypatch.setattr(portal.metrics.cache, "set", down)
    message(MessageStatus.DEAD, age=timedelta(minutes=1))

    samples, _ = scrape(client)
    assert value(samples, "firma_messages", status="dead") == 1


def test_a_database_that_cannot_be_read_is_reported_and_the_scrape_still_answers(db, client, fresh, monkeypatch):
    import portal.metrics

    def broken() -> None:
        raise RuntimeError("connection refused")

    monkeypatch.setattr(portal.metrics, "message_counts_outstanding", broken)
    samples, types = scrape(client)

    assert value(samples, "firma_metrics_source_up", source="database") == 0
    assert value(samples, "firma_metrics_source_up", source="broker") == 1
    assert "firma_messages" not in types and "firma_signatures" in types


def test_no_label_carries_a_username_an_address_or_a_serial(world: World, ca, client, fresh,  # noqa: F811
                                                            django_capture_on_commit_callbacks):
    certificate = active(world.alpha.holder)
    with django_capture_on_commit_callbacks(execute=True):
        login(client, world.alpha.holder.user.username, "not-the-password")
    samples, _ = scrape(client)

    label_values = {v for key in samples for _name, v in key[1]}
    for secret in (world.alpha.holder.user.username, "127.0.0.1", str(certificate.serial), "alpha"):
        assert secret not in label_values


# --- The sample dashboard and alert rules -------------------------------------------------------------

# Names PromQL knows without any exporter.
_PROMQL_WORDS = {
    "sum", "rate", "irate", "increase", "by", "without", "histogram_quantile", "max", "min", "avg", "count", "time",
    "le", "and", "or", "unless", "on", "ignoring", "group_left", "group_right", "offset", "bool", "clamp_min",
    "max_over_time", "min_over_time", "avg_over_time", "absent", "vector", "topk", "label_replace", "sort_desc",
}


def _metric_names(expression: str) -> set[str]:
    without_strings = re.sub(r'"[^"]*"', "", expression)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_strings)
    without_labels = re.sub(r"\{[^}]*\}", "", without_ranges)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_labels))
    return {word for word in words if word.startswith("firma_") or word not in _PROMQL_WORDS and "_" in word}


def _dashboard_expressions(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        return found + [e for child in node.values() for e in _dashboard_expressions(child)]
    if isinstance(node, list):
        return [e for child in node for e in _dashboard_expressions(child)]
    return []


def test_the_dashboard_and_the_alert_rules_name_only_exposed_metrics(db, client):
    client.get("/readyz")  # the histogram family is there either way; a sample makes it concrete
    _samples, types = scrape(client)
    exposed = exposed_names(types)

    rules = yaml.safe_load((ROOT / "deploy" / "prometheus-alerts.yml").read_text(encoding="utf-8"))
    alert_expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text(encoding="utf-8"))
    panel_expressions = _dashboard_expressions(dashboard)

    assert len(alert_expressions) >= 5 and len(panel_expressions) >= 8
    for expression in alert_expressions + panel_expressions:
        names = _metric_names(expression)
        assert names, expression
        assert names <= exposed, (expression, names - exposed)
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert {"FirmaMessagesDead", "FirmaCrlNextUpdateNear", "FirmaTsaCertificateExpiring"} <= alerts


# --- Several processes ---------------------------------------------------------------------------------

_COUNT_IN_A_PROCESS = """
import django
django.setup()
from audit.metrics import audit_event_count
audit_event_count("signature.created", {"level": "B-LTA", "channel": "api", "count": 2})
"""
_SCRAPE_IN_A_PROCESS = """
import django
django.setup()
from core.metrics import exposition
print(exposition()[0].decode())
"""


def test_in_multiprocess_mode_a_scrape_adds_up_every_processs_counts(tmp_path):
    env = {
        **os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings_test",
    }

    def run(code: str) -> str:
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    run(_COUNT_IN_A_PROCESS)  # a gunicorn worker
    run(_COUNT_IN_A_PROCESS)  # a Celery worker signing a batch job
    text = run(_SCRAPE_IN_A_PROCESS)  # the worker the scrape reached, which counted nothing itself

    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("firma_signatures_total", (("channel", "api"), ("level", "B-LTA")))] == 4
