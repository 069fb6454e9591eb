"""The server's secrets are separate: the secret key plus a copy of the database opens nothing.

The attack these tests replay: someone has the database (a backup, a replica, an SQL injection) and
``DJANGO_SECRET_KEY`` (a settings dump, the environment of a web process). With the development
defaults every other secret is derived from that key, so the attacker derives them too, the same way
the open source code does, and opens the CA's keys, the holders' keys and the OTP seeds. With each
secret set on its own — which production now requires — the same attack opens nothing.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from accounts.models import Holder
from certificates.models import AuthorityRole, CertificateAuthority
from certificates.services import authority_hierarchy_build, certificate_key_unlock
from certificates.services.authority import authority_private_key
from certificates.vault import KeyUnavailable
from config.secrets import SEPARATE_SECRETS, secrets_generate, secrets_problems
from core.errors import ApplicationError
from otp.crypto import SeedDecryptionError, seed_open
from otp.models import OtpDevice
from otp.services import device_create
from tests.certificates.conftest import PIN, active, load_hierarchy
from tests.test_settings import manage, production_env

ROOT = Path(__file__).resolve().parent.parent


def secrets_an_attacker_derives(secret_key: str) -> dict[str, object]:
    """What the development defaults would be for this secret key: public code, so public knowledge."""

    def key(purpose: str) -> dict[str, str]:
        derived = base64.b64encode(hashlib.sha256(f"{purpose}:{secret_key}".encode()).digest()).decode()
        return {key_id: derived for key_id in ("default", "k1")}  # the ids are in the rows: try each

    return {
        "CA_KEK_KEYS": key("ca-kek"),
        "CA_KEK_KEY_ID": "default",
        "CA_PIN_PEPPER": f"ca-pin-pepper:{secret_key}",
        "OTP_SEED_KEYS": key("otp-seed"),
        "OTP_SEED_KEY_ID": "default",
    }


def explicit_secrets() -> dict[str, object]:
    generated = secrets_generate()
    return {
        "CA_KEK_KEYS": {"k1": generated["CA_KEK_KEYS"].split(":", 1)[1]},
        "CA_KEK_KEY_ID": "k1",
        "CA_PIN_PEPPER": generated["CA_PIN_PEPPER"],
        "OTP_SEED_KEYS": {"k1": generated["OTP_SEED_KEYS"].split(":", 1)[1]},
        "OTP_SEED_KEY_ID": "k1",
        "AUDIT_CHAIN_KEY": generated["AUDIT_CHAIN_KEY"],
        "NOTIFICATIONS_SEAL_KEY": generated["NOTIFICATIONS_SEAL_KEY"],
    }


def stolen_material(holder: Holder) -> tuple[CertificateAuthority, object, OtpDevice]:
    """A CA, an active holder certificate (under PIN) and an app device, made by the running server."""
    load_hierarchy(authority_hierarchy_build())
    issuing = CertificateAuthority.objects.get(role=AuthorityRole.ISSUING, is_current=True)
    certificate = active(holder)
    device = device_create(holder=holder, kind="app", seed=os.urandom(20), actor=holder.user)
    return issuing, certificate, device


def attack(settings, issuing, certificate, device) -> dict[str, bool]:  # noqa: ANN001
    """Only the database and the secret key: which of the three secrets does the attacker open?"""
    opened = {}
    with override_settings(**secrets_an_attacker_derives(settings.SECRET_KEY)):
        try:
            authority_private_key(CertificateAuthority.objects.get(pk=issuing.pk))
            opened["issuing CA key"] = True
        except KeyUnavailable:
            opened["issuing CA key"] = False
        try:
            # The PIN itself, as if guessed right at the first try: the outer layer still holds.
            certificate_key_unlock(certificate=certificate, pin=PIN)
            opened["holder key"] = True
        except ApplicationError as refusal:
            assert refusal.code == "key_unavailable"  # the outer (KEK) layer, not a PIN error
            opened["holder key"] = False
        try:
            seed_open(OtpDevice.objects.get(pk=device.pk).sealed_seed, binding=device.seed_binding)
            opened["OTP seed"] = True
        except SeedDecryptionError:
            opened["OTP seed"] = False
    return opened


@pytest.mark.django_db
def test_with_the_development_defaults_the_secret_key_and_the_database_open_everything(world, settings):
    """The control: what production used to look like when only the secret key was set."""
    material = stolen_material(world.alpha.holder)
    assert attack(settings, *material) == {"issuing CA key": True, "holder key": True, "OTP seed": True}


@pytest.mark.django_db
def test_with_separate_secrets_the_secret_key_and_the_database_open_no_key_and_no_seed(world, settings):
    for name, value in explicit_secrets().items():
        setattr(settings, name, value)
    material = stolen_material(world.alpha.holder)
    assert attack(settings, *material) == {"issuing CA key": False, "holder key": False, "OTP seed": False}
    # The server itself, with its secrets, still works.
    assert authority_private_key(material[0]) is not None
    assert certificate_key_unlock(certificate=material[1], pin=PIN) is not None


def test_production_does_not_start_with_only_the_secret_key(tmp_path):
    env = production_env(tmp_path)
    for name in SEPARATE_SECRETS:
        del env[name]
    result = manage(env, "check")
    assert result.returncode != 0
    for name in SEPARATE_SECRETS:
        assert f"{name} is not set" in result.stderr


@pytest.mark.parametrize("missing", SEPARATE_SECRETS)
def test_production_names_the_one_secret_that_is_missing(tmp_path, missing):
    env = production_env(tmp_path)
    del env[missing]
    result = manage(env, "check")
    assert result.returncode != 0
    assert f"{missing} is not set" in result.stderr
    assert sum(f"{name} is not set" in result.stderr for name in SEPARATE_SECRETS) == 1


def test_production_refuses_a_secret_reused_for_another_purpose(tmp_path):
    env = production_env(tmp_path)
    env["AUDIT_CHAIN_KEY"] = env["CA_PIN_PEPPER"]
    result = manage(env, "check")
    assert result.returncode != 0 and "AUDIT_CHAIN_KEY must differ from CA_PIN_PEPPER" in result.stderr


def test_production_refuses_a_key_that_is_the_secret_key(tmp_path):
    env = production_env(tmp_path)
    env["NOTIFICATIONS_SEAL_KEY"] = env["DJANGO_SECRET_KEY"]
    result = manage(env, "check")
    assert result.returncode != 0
    assert "NOTIFICATIONS_SEAL_KEY must differ from DJANGO_SECRET_KEY" in result.stderr


def test_the_same_aes_key_under_two_names_is_refused():
    generated = secrets_generate()
    values = {name: generated[name] for name in SEPARATE_SECRETS}
    kek = {"k1": generated["CA_KEK_KEYS"].split(":", 1)[1]}
    values.update(CA_KEK_KEYS=kek, OTP_SEED_KEYS={"other-id": kek["k1"]})
    problems = secrets_problems(secret_key=generated["DJANGO_SECRET_KEY"], values=values, derived=[])
    assert problems == ["OTP_SEED_KEYS must differ from CA_KEK_KEYS: each secret protects something else"]


def test_check_deploy_names_every_secret_still_derived_from_the_secret_key(tmp_path):
    env = production_env(tmp_path, DJANGO_DEBUG="true")
    for name in SEPARATE_SECRETS:
        del env[name]
    result = manage(env, "check", "--deploy")
    assert result.returncode != 0
    for name in SEPARATE_SECRETS:
        assert f"(firma.E001) {name} is not set" in result.stderr


def test_a_generated_set_of_secret_files_starts_production_and_passes_check_deploy(tmp_path):
    secrets_dir = tmp_path / "secrets"
    made = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "config.secrets", "--dir", str(secrets_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )
    files = dict(line.split("=", 1) for line in made.stdout.split())
    assert set(files) == {"DJANGO_SECRET_KEY_FILE", *(f"{name}_FILE" for name in SEPARATE_SECRETS)}
    assert all(oct(Path(path).stat().st_mode & 0o777) == "0o600" for path in files.values())
    env = production_env(tmp_path)
    for name in ("DJANGO_SECRET_KEY", *SEPARATE_SECRETS):
        del env[name]
    env.update(files)
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    again = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "config.secrets", "--dir", str(secrets_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert again.returncode != 0 and "not overwritten" in again.stderr
