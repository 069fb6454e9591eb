"""`seed_demo`: the demo world a new user logs into after `make run` (idempotent, JSON on stdout)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from accounts.models import Holder, Operator, Organization, User
from audit.services import audit_chain_verify
from tests.certificates.conftest import ca_hierarchy, load_hierarchy  # noqa: F401  (session-built CA)
from tests.conftest import login

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _ca_built_once(request: pytest.FixtureRequest) -> None:
    """The CA's keys are built once per session and loaded here (seed_demo then finds it), except in
    the test that checks seed_demo creates a missing CA."""
    if "lifecycle_with_their_signing_pin" not in request.node.name:
        load_hierarchy(request.getfixturevalue("ca_hierarchy"))


def seed() -> dict:
    out = io.StringIO()
    call_command("seed_demo", "--force", stdout=out)
    return json.loads(out.getvalue())


def test_seed_demo_creates_a_university_and_a_chamber_of_commerce_with_their_policies():
    summary = seed()
    assert [o["slug"] for o in summary["organizations"]] == ["unimore", "cciaa-mantova"]
    university = Organization.objects.get(slug="unimore")
    chamber = Organization.objects.get(slug="cciaa-mantova")
    assert (university.certificate_validity_months, university.renewable, university.renewal_requires_approval) == (
        36, True, True
    )
    assert (chamber.certificate_validity_months, chamber.renewable) == (24, False)
    for organization in (university, chamber):
        roles = set(Operator.objects.filter(organization=organization).values_list("role", flat=True))
        assert roles == {"operator", "org_admin"}
        assert Holder.objects.filter(organization=organization).count() >= 2


def test_every_printed_login_works_in_its_portal():
    summary = seed()
    for organization in summary["organizations"]:
        for holder in organization["holders"]:
            assert login(Client(), holder["username"], holder["password"]).status_code == 302, holder
        for operator in organization["operators"]:
            assert login(Client(), operator["username"], operator["password"], portal="console").status_code == 302


def test_seed_demo_is_idempotent_and_resets_demo_passwords_and_lockouts():
    first = seed()
    mario = User.objects.get(username="mario.rossi")
    mario.set_password("Cambiata-Durante-La-Demo-1")
    mario.save()
    for _ in range(5):
        login(Client(), "mario.rossi", "wrong")
    second = seed()
    assert first == second
    assert User.objects.filter(username="mario.rossi").count() == 1
    assert Organization.objects.count() == 2
    assert login(Client(), "mario.rossi", second["organizations"][0]["holders"][0]["password"]).status_code == 302
    assert audit_chain_verify().ok


def test_the_demo_chamber_of_commerce_locks_a_login_after_three_failures_the_university_after_five():
    summary = seed()
    passwords = {h["username"]: h["password"] for o in summary["organizations"] for h in o["holders"]}
    for _ in range(3):
        login(Client(), "lucia.neri", "wrong")
        login(Client(), "mario.rossi", "wrong")

    assert login(Client(), "lucia.neri", passwords["lucia.neri"]).status_code != 302  # locked at the chamber
    assert login(Client(), "mario.rossi", passwords["mario.rossi"]).status_code == 302  # 2 attempts still left
    limits = dict(Organization.objects.values_list("slug", "login_max_failures"))
    assert limits == {"unimore": 5, "cciaa-mantova": 3}


def test_seed_demo_refuses_to_run_with_debug_off_unless_forced(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG off"):
        call_command("seed_demo", stdout=io.StringIO())
    assert not Organization.objects.exists()


def test_demo_holders_get_otp_devices_whose_printed_uris_produce_accepted_codes():
    import base64
    import time
    from urllib.parse import parse_qs, urlsplit

    from otp.models import OtpDevice
    from otp.oath import hotp, totp
    from otp.services import device_verify

    summary = seed()
    holders = {h["username"]: h for o in summary["organizations"] for h in o["holders"]}
    code_makers = (("mario.rossi", lambda s: totp(s, time.time())), ("laura.bianchi", lambda s: hotp(s, 0)))
    for username, make_code in code_makers:
        uri = holders[username]["otp"]["otpauth"]
        assert uri.startswith("otpauth://")
        secret = parse_qs(urlsplit(uri).query)["secret"][0]
        seed_bytes = base64.b32decode(secret + "=" * (-len(secret) % 8))
        device = OtpDevice.objects.get(holder__user__username=username)
        assert device_verify(device=device, code=make_code(seed_bytes), purpose="test").ok
    assert summary["tokens_in_stock"] == ["1000000000002", "1000000000003"]
    assert seed()["tokens_in_stock"] == ["1000000000002", "1000000000003"]  # still idempotent
    assert OtpDevice.objects.count() == 4


def test_demo_holders_get_a_published_user_code_that_starts_password_recovery(recaptcha):
    from accounts.models import Holder, RecoveryRequest
    from accounts.services.recovery import password_recovery_start

    summary = seed()
    entry = summary["organizations"][0]["holders"][0]
    assert len(entry["user_code"]) == 10 and entry["user_code"].isdigit()
    holder = Holder.objects.get(user__username=entry["username"])
    assert entry["user_code"] not in holder.user_code_hash
    recovery = password_recovery_start(username=entry["username"], user_code=entry["user_code"])
    assert RecoveryRequest.objects.get(pk=recovery.pk).holder == holder


@pytest.mark.clock
def test_demo_holders_get_certificates_at_several_points_of_the_lifecycle_with_their_signing_pin():
    from datetime import timedelta

    from django.utils import timezone

    from certificates.models import Certificate, CertificateAuthority
    from certificates.services import certificate_key_unlock

    assert not CertificateAuthority.objects.exists()
    summary = seed()
    assert CertificateAuthority.objects.filter(is_current=True).count() == 4  # the CA, created by seed_demo
    holders = {h["username"]: h for o in summary["organizations"] for h in o["holders"]}
    states = {username: entry["certificate"]["state"] for username, entry in holders.items()}
    assert states == {"mario.rossi": "active", "laura.bianchi": "active", "giuseppe.verdi": "suspended",
                      "lucia.neri": "active", "franco.galli": "revoked"}
    today = timezone.localdate()
    valid_until = {u: e["certificate"]["valid_until"] for u, e in holders.items()}
    assert valid_until["laura.bianchi"] == (today + timedelta(days=45)).isoformat()
    assert valid_until["lucia.neri"] == (today + timedelta(days=6)).isoformat()
    assert valid_until["mario.rossi"] > (today + timedelta(days=365 * 2)).isoformat()
    for username, entry in holders.items():
        certificate = Certificate.objects.get(iut=entry["certificate"]["iut"])
        assert certificate.holder.user.username == username
        assert certificate.key_algorithm == certificate.organization.key_algorithm
        pin = entry["certificate"]["signing_pin"]
        assert len(pin) == 10 and pin.isdigit()
        if certificate.state == "active":  # the printed PIN opens the signing key
            assert certificate_key_unlock(certificate=certificate, pin=pin) is not None
    assert Certificate.objects.get(iut=holders["mario.rossi"]["certificate"]["iut"]).key_algorithm == "rsa-2048"
    assert Certificate.objects.get(iut=holders["lucia.neri"]["certificate"]["iut"]).key_algorithm == "ecdsa-p256"
    # Running it again issues nothing new and creates no second CA.
    assert seed() == summary
    assert Certificate.objects.count() == 5 and CertificateAuthority.objects.count() == 4


@pytest.mark.clock
def test_the_demo_certificates_about_to_expire_get_their_reminders():
    from certificates.services import expiry_reminders_send
    from notifications.models import Message

    summary = seed()
    assert expiry_reminders_send() == 2
    reminders = {m.holder.user.username: m for m in Message.objects.filter(message_type="certificate_expiry_reminder")}
    assert set(reminders) == {"laura.bianchi", "lucia.neri"}
    laura, lucia = reminders["laura.bianchi"], reminders["lucia.neri"]
    assert laura.idempotency_key.endswith(":60") and lucia.idempotency_key.endswith(":7")
    assert f"{summary['panel_url']}rinnovo/" in laura.body_text  # the university renews
    assert "/rinnovo/" not in lucia.body_text  # the chamber of commerce does not


def test_the_demo_api_client_gets_a_token_with_the_printed_secret():
    summary = seed()["api_client"]
    response = Client().post("/oauth2/token", {
        "grant_type": "client_credentials", "client_id": summary["client_id"],
        "client_secret": summary["client_secret"],
    })
    assert response.status_code == 200, response.content
    assert response.json()["access_token"]
