"""Nothing secret is ever logged, even with every logger at DEBUG and Django's SQL logging on.

Each test runs a real flow through Django's test client with every log record captured (the message
with its arguments, the exception text, the stack, every extra attribute), then looks for each
secret the flow used: passwords, PINs, OTP and SMS codes (right and wrong ones), enrolment seeds, user
codes, temporary passwords, SADs, API client secrets and access tokens. One test runs a batch job on a
real Celery worker and searches the worker's own log for the SAD and the PIN.

A value the flow passes to the database in clear is found too: SQL statements are logged with their
parameters, so a secret stored unhashed fails here as well.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import time
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core import mail
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils.module_loading import import_string

from accounts.services.people import holder_user_code_issue
from certificates.models import CertificateState
from otp.models import DeviceKind, OtpDevice
from otp.oath import hotp, totp
from otp.services import device_create
from signing.models import SigningJob
from tests.accounts.test_recovery import CODE_URL, link_path, run_worker, start, username_post
from tests.certificates.conftest import PIN, active, ca, ca_hierarchy  # noqa: F401  (fixtures)
from tests.certificates.test_activation import NEW_PASSWORD as ACTIVATION_PASSWORD
from tests.certificates.test_activation import PIN as ACTIVATION_PIN
from tests.certificates.test_activation import latest_sms_code, secrets_of
from tests.certificates.test_issuance import register
from tests.conftest import HOLDER_PASSWORD, World, login
from tests.integration.conftest import eventually, worker_env, worker_process  # noqa: F401  (fixtures)
from tests.notifications.backends import ScriptedSmsBackend
from tests.signing.conftest import Signer, api_client_for, csc_post, sha256_sign_algo, signer, token_for  # noqa: F401
from tests.signing.test_batch_api import _docs, _sign_body

# Loggers that are quiet unless asked: all of them at DEBUG, with whatever else exists by then.
VERBOSE_LOGGERS = (
    "django", "django.db.backends", "django.request", "django.server", "django.security", "django.template",
    "celery", "celery.app.trace", "celery.pool", "celery.worker", "kombu", "amqp", "redis",
    "pyhanko", "pyhanko_certvalidator", "oauthlib", "oauth2_provider", "urllib3", "requests", "httpx",
    "twilio", "asn1crypto", "cryptography", "argon2", "PyKCS11",
)

# Attributes every LogRecord has; anything else on a record came in as ``extra`` and is searched too.
_STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


def rendered(record: logging.LogRecord) -> str:
    """Everything a handler could write about ``record``, as one string."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001  (a bad format string must not hide its arguments)
        message = f"{record.msg!r} % {record.args!r}"
    parts = [message, repr(record.msg), repr(record.args)]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    if record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    parts += [f"{key}={value!r}" for key, value in vars(record).items() if key not in _STANDARD_ATTRIBUTES]
    return "\n".join(parts)


class Collected(logging.Handler):
    """Every record the configured handler would write: it carries that handler's filters
    (settings.LOGGING), which are part of what the product decides never to write."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        configured = settings.LOGGING["filters"]
        for name in settings.LOGGING["handlers"]["console"].get("filters", []):
            self.addFilter(import_string(configured[name]["()"])())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        return "\n".join(rendered(record) for record in self.records)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[Collected]:
    """Every record of every logger at DEBUG, SQL included, for the whole test."""
    caplog.set_level(logging.DEBUG)
    handler = Collected()
    names = set(VERBOSE_LOGGERS) | {name for name in logging.root.manager.loggerDict}
    saved: list[tuple[logging.Logger, int, bool]] = []
    for name in sorted(names):
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.disabled))
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        if not logger.propagate:  # records of a non-propagating logger never reach the root
            logger.addHandler(handler)
    root = logging.getLogger()
    root.addHandler(handler)
    # Django logs SQL (django.db.backends, with the parameters) only for a "debug cursor".
    cursors = [(connection, connection.force_debug_cursor) for connection in connections.all()]
    for connection, _ in cursors:
        connection.force_debug_cursor = True
    try:
        yield handler
    finally:
        for connection, forced in cursors:
            connection.force_debug_cursor = forced
        root.removeHandler(handler)
        for logger, level, disabled in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.disabled = disabled


def _pattern(value: str) -> re.Pattern[str]:
    # A short code standing alone: "755224" is not found inside a hash, a uuid or the microseconds of
    # a timestamp ("…:18.755224"), where it would only be a coincidence of digits.
    return re.compile(rf"(?<![0-9A-Za-z.]){re.escape(value)}(?![0-9A-Za-z])")


def assert_nowhere(text: str, secrets: dict[str, str]) -> None:
    """None of ``secrets`` (label → value), nor its base64 or hex form, is in ``text``."""
    leaked = []
    for label, value in secrets.items():
        assert value, f"{label}: the test lost the secret it meant to look for"
        forms = {value, base64.b64encode(value.encode()).decode().rstrip("="), value.encode().hex()}
        if any(_pattern(form).search(text) for form in forms):
            line = next((line for line in text.splitlines() if value in line), "")
            leaked.append(f"{label} ({value!r}) in: {line[:300]}")
    assert not leaked, "secrets in the logs:\n" + "\n".join(leaked)


def assert_captured(logs: Collected, *values: str) -> str:
    """The log text, after checking that it is not empty: SQL was logged, and with it ``values`` (harmless
    ones the flow used, e.g. a username) — proof that a secret logged the same way would be found."""
    text = logs.text()
    assert any(record.name == "django.db.backends" for record in logs.records), "no SQL was logged"
    for value in values:
        assert _pattern(value).search(text), f"{value!r} is not in the logs: the capture is not working"
    return text


def _other_code(*right: str) -> str:
    """A six-digit code that is none of ``right``."""
    return next(code for code in ("739164", "482957", "605318") if code not in right)


# --- signing -------------------------------------------------------------------------------------------


def test_panel_login_and_a_panel_signature_log_no_password_pin_or_otp(logs, world: World, signer: Signer):  # noqa: F811
    client = Client()
    username = world.alpha.holder.user.username
    assert login(client, username, "Password-Sbagliata-99").status_code != 302
    assert login(client, username, HOLDER_PASSWORD).status_code == 302
    pdf = _docs(1)[0][1]
    from django.core.files.uploadedfile import SimpleUploadedFile

    def sign(pin: str, code: str):
        return client.post(reverse("panel:signing"), {
            "level": "B-B", "appearance": "invisible", "page": "1", "reason": "Approvazione verbale",
            "location": "Modena", "pin": pin, "device": str(signer.device.public_id), "code": code,
            "documents": [SimpleUploadedFile("verbale.pdf", pdf, content_type="application/pdf")],
        })

    wrong_pin = "9078563412"
    first = signer.otp()
    refused = sign(wrong_pin, first)
    wrong_code = _other_code(hotp(b"12345678901234567890", signer.counter))
    refused_code = sign(PIN, wrong_code)
    right = signer.otp()
    signed = sign(PIN, right)

    assert refused.status_code == 400 and refused_code.status_code == 400
    assert signed.status_code == 200 and signed["Content-Type"] == "application/pdf", signed.content[:2000]
    assert_nowhere(assert_captured(logs, username), {
        "password": HOLDER_PASSWORD, "wrong password": "Password-Sbagliata-99", "PIN": PIN, "wrong PIN": wrong_pin,
        "OTP with the wrong PIN": first, "wrong OTP": wrong_code, "OTP": right,
    })


def test_csc_authorize_sign_hash_and_batch_sign_log_no_pin_otp_sad_or_client_credentials(
        logs, client, world: World, signer: Signer):  # noqa: F811
    csc_client, csc_secret = api_client_for(world.alpha)
    csc_token = token_for(client, csc_client, csc_secret)["access_token"]
    batch_client, batch_secret = api_client_for(world.alpha, scopes=("batch",), name="Esse3")
    batch_token = token_for(client, batch_client, batch_secret)["access_token"]
    digests = [hashlib.sha256(f"exam record {i}".encode()).digest() for i in range(2)]
    hashes = [base64.b64encode(d).decode() for d in digests]

    wrong_pin = "9078563412"
    otp_wrong_pin = signer.otp()
    refused = csc_post(client, "/csc/v1/credentials/authorize", {
        "credentialID": signer.certificate.iut, "numSignatures": 2, "hash": hashes, "PIN": wrong_pin,
        "OTP": otp_wrong_pin}, csc_token)
    otp = signer.otp()
    authorized = csc_post(client, "/csc/v1/credentials/authorize", {
        "credentialID": signer.certificate.iut, "numSignatures": 2, "hash": hashes, "PIN": PIN, "OTP": otp},
        csc_token)
    assert refused.status_code == 400 and authorized.status_code == 200, authorized.content
    sad = authorized.json()["SAD"]
    signed = csc_post(client, "/csc/v1/signatures/signHash", {
        "credentialID": signer.certificate.iut, "SAD": sad, "hash": hashes,
        "signAlgo": sha256_sign_algo(signer.certificate)}, csc_token)
    replayed = csc_post(client, "/csc/v1/signatures/signHash", {
        "credentialID": signer.certificate.iut, "SAD": sad, "hash": hashes,
        "signAlgo": sha256_sign_algo(signer.certificate)}, csc_token)
    assert signed.status_code == 200 and replayed.status_code == 400

    docs = _docs(2)
    batch_otp = signer.otp()
    batch = csc_post(client, "/api/v1/batch/authorize", {
        "userID": signer.holder.user.username, "credentialID": signer.certificate.iut, "PIN": PIN, "OTP": batch_otp,
        "documents": [{"name": name, "sha256": hashlib.sha256(data).hexdigest()} for name, data in docs],
    }, batch_token)
    assert batch.status_code == 200, batch.content
    batch_sad = batch.json()["SAD"]
    batch_signed = csc_post(client, "/api/v1/batch/sign", _sign_body(signer, batch_sad, docs), batch_token)
    assert batch_signed.status_code == 200, batch_signed.content

    assert_nowhere(assert_captured(logs, signer.holder.user.username), {
        "PIN": PIN, "wrong PIN": wrong_pin, "OTP with the wrong PIN": otp_wrong_pin, "OTP": otp,
        "SAD": sad, "batch OTP": batch_otp, "batch SAD": batch_sad,
        "CSC client secret": csc_secret, "CSC access token": csc_token,
        "batch client secret": batch_secret, "batch access token": batch_token,
    })


# --- OTP -----------------------------------------------------------------------------------------------


def test_app_enrolment_and_device_tests_log_no_seed_and_no_code(logs, world: World, holder_client: Client):
    enrol = reverse("otp:app_enrol")
    assert holder_client.post(enrol, {"password": "Password-Sbagliata-99"}).status_code == 400
    assert holder_client.post(enrol, {"password": HOLDER_PASSWORD}).status_code == 302
    page = holder_client.get(enrol)
    found = re.search(rb'data-testid="enrolment-secret">(.*?)</p>', page.content, re.S)
    assert found is not None
    secret = re.sub(r"<[^>]+>|\s", "", found.group(1).decode())
    seed = base64.b32decode(secret + "=" * (-len(secret) % 8))
    device = OtpDevice.objects.get(holder=world.alpha.holder, kind=DeviceKind.APP_TOTP)
    confirm = reverse("otp:app_confirm", args=[device.public_id])
    code = totp(seed, time.time())
    wrong = _other_code(code, totp(seed, time.time() + 30), totp(seed, time.time() - 30))
    assert holder_client.post(confirm, {"code": wrong}).status_code == 400
    assert holder_client.post(confirm, {"code": code}).status_code == 302

    token_seed = b"abcdefghijabcdefghij"
    token = device_create(kind=DeviceKind.HARDWARE_HOTP, seed=token_seed, holder=world.alpha.holder,
                          serial="1234567890123")
    test_url = reverse("otp:device_test", args=[token.public_id])
    token_code = hotp(token_seed, 0)
    token_wrong = _other_code(*(hotp(token_seed, n) for n in range(20)))
    assert holder_client.post(test_url, {"code": token_wrong}).status_code == 400
    assert holder_client.post(test_url, {"code": token_code}).status_code == 302

    assert_nowhere(assert_captured(logs, world.alpha.holder.user.username), {
        "password": HOLDER_PASSWORD, "wrong password": "Password-Sbagliata-99",
        "enrolment secret": secret, "enrolment seed (hex)": seed.hex(), "confirmation code": code,
        "wrong confirmation code": wrong, "token code": token_code, "wrong token code": token_wrong,
    })


@pytest.mark.clock
def test_activation_logs_no_temporary_password_user_code_sms_code_new_password_or_pin(logs, client, world, ca):  # noqa: F811
    certificate = register(world, otp_choice="sms")
    link, temporary, user_code = secrets_of(certificate)
    step = reverse("activation:step")
    assert client.get(link).status_code == 302
    assert client.post(step, {"temporary_password": "Abcd-Efgh-Jkmn-Pqrs"}).status_code != 302  # a wrong one
    assert client.post(step, {"temporary_password": temporary}).status_code == 302
    assert client.post(step, {"new_password": ACTIVATION_PASSWORD,
                              "new_password_confirm": ACTIVATION_PASSWORD}).status_code == 302
    assert client.post(step, {"send": "1"}).status_code == 302
    code = latest_sms_code(certificate.holder_id)
    wrong = _other_code(code)
    assert client.post(step, {"confirm": "1", "code": wrong}).status_code != 302
    assert client.post(step, {"confirm": "1", "code": code}).status_code == 302
    assert client.post(step, {"pin": ACTIVATION_PIN, "pin_confirm": ACTIVATION_PIN}).status_code == 302
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.ACTIVE

    assert_nowhere(assert_captured(logs, certificate.holder.user.username), {
        "temporary password": temporary, "user code": user_code, "SMS code": code, "wrong SMS code": wrong,
        "new password": ACTIVATION_PASSWORD, "PIN": ACTIVATION_PIN,
    })


# --- recovery ------------------------------------------------------------------------------------------


@pytest.fixture
def scripted_sms(settings) -> type[ScriptedSmsBackend]:
    settings.SMS_BACKEND = "tests.notifications.backends.ScriptedSmsBackend"
    ScriptedSmsBackend.script = []
    ScriptedSmsBackend.sent = []
    return ScriptedSmsBackend


def test_password_recovery_logs_no_user_code_sms_code_link_or_new_password(
        logs, world: World, client, recaptcha, scripted_sms):
    holder = world.alpha.holder
    user_code = holder_user_code_issue(holder=holder)
    assert start(client, holder.user.username, user_code).status_code == 302
    run_worker()
    code = re.search(r"\b(\d{6})\b", scripted_sms.sent[-1].text).group(1)
    wrong = _other_code(code)
    assert client.post(CODE_URL, {"code": wrong}).status_code == 400
    assert client.post(CODE_URL, {"code": code}).status_code == 302
    run_worker()
    path = link_path()
    link_token = path.rstrip("/").rsplit("/", 1)[-1]
    new_password = "Nuova-Parola-Di-Accesso-2026"
    done = Client().post(path, {"new_password": new_password, "new_password_confirm": new_password})
    assert done.status_code == 302

    assert_nowhere(assert_captured(logs, holder.user.username), {
        "user code": user_code, "SMS code": code, "wrong SMS code": wrong, "link token": link_token,
        "new password": new_password, "old password": HOLDER_PASSWORD,
    })


def test_username_recovery_logs_no_username_beyond_the_database(logs, world: World, client, recaptcha):
    holder = world.alpha.holder
    assert username_post(client, holder.codice_fiscale, holder.email).status_code == 302
    run_worker()
    assert holder.user.username in mail.outbox[-1].body
    # The e-mail that carries the username is written to the log by no logger: its body is not logged.
    text = assert_captured(logs, holder.codice_fiscale)
    assert mail.outbox[-1].body not in text


def test_suspension_without_login_logs_no_user_code_and_no_otp(logs, client, world: World, ca):  # noqa: F811
    holder = world.alpha.holder
    certificate = active(holder)
    seed = b"12345678901234567890"
    device_create(kind=DeviceKind.HARDWARE_HOTP, seed=seed, holder=holder, serial="1234567890123")
    user_code = holder_user_code_issue(holder=holder)
    url = reverse("accounts:certificate_without_login")
    wrong_user_code = "1029384756" if user_code != "1029384756" else "5647382910"
    refused = client.post(url, {"username": holder.user.username, "user_code": wrong_user_code,
                                "otp_code": hotp(seed, 0), "action": "suspend"})
    code = hotp(seed, 1)
    done = client.post(url, {"username": holder.user.username, "user_code": user_code, "otp_code": code,
                             "action": "suspend"})
    assert refused.status_code == 400 and done.status_code == 200, done.content.decode()[:2000]
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.SUSPENDED

    assert_nowhere(assert_captured(logs, holder.user.username), {
        "user code": user_code, "wrong user code": wrong_user_code, "OTP": code, "OTP with the wrong code":
        hotp(seed, 0),
    })


# --- a real worker -------------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_batch_job_on_a_real_worker_logs_neither_the_sad_nor_the_pin(
        logs, client, worker_process, world: World, signer: Signer, settings):  # noqa: F811
    # The worker at DEBUG too: its pool logs each task it runs, with the message.
    worker_process.loglevel = "DEBUG"
    worker_process.start(("LOG_LEVEL", "DEBUG"))
    settings.SIGNING_BATCH_SYNC_LIMIT = 1
    api_client, secret = api_client_for(world.alpha, scopes=("batch",), name="Esse3")
    token = token_for(client, api_client, secret)["access_token"]
    docs = _docs(2)
    otp = signer.otp()
    authorized = csc_post(client, "/api/v1/batch/authorize", {
        "userID": signer.holder.user.username, "credentialID": signer.certificate.iut, "PIN": PIN, "OTP": otp,
        "documents": [{"name": name, "sha256": hashlib.sha256(data).hexdigest()} for name, data in docs],
    }, token)
    assert authorized.status_code == 200, authorized.content
    sad = authorized.json()["SAD"]

    response = csc_post(client, "/api/v1/batch/sign", _sign_body(signer, sad, docs), token)

    assert response.status_code == 202, response.content
    assert eventually(lambda: SigningJob.objects.get().state in ("done", "failed"), timeout=120)
    assert SigningJob.objects.get().state == "done"
    worker_log = worker_process.log()
    assert "signing.tasks.signing_job_run" in worker_log  # the worker did log the task it ran
    assert " DEBUG " in worker_log and re.search(r"signing_job_run\[[^]]+\] received", worker_log), worker_log[-2000:]
    secrets = {"SAD": sad, "PIN": PIN, "OTP": otp, "client secret": secret, "access token": token}
    assert_nowhere(worker_log, secrets)
    assert_nowhere(assert_captured(logs, signer.holder.user.username), secrets)



def test_the_configured_handler_drops_debug_lines_of_libraries_that_log_secrets(logs):
    sad = "s3cr3t-SAD-in-a-task-message-0123456789"
    logging.getLogger("celery.pool").debug("TaskPool: Apply (args:%r)", ({"sad_token": sad},))
    logging.getLogger("oauthlib.oauth2.rfc6749").debug("Issuing token %r", {"access_token": sad})
    logging.getLogger("django.template").debug("Failed lookup in %r", {"secret": sad})
    logging.getLogger("celery.pool").info("pool started")  # their other lines are kept

    assert [record.getMessage() for record in logs.records] == ["pool started"]
