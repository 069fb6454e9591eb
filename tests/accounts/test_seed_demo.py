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
from tests.conftest import login

pytestmark = pytest.mark.django_db


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
