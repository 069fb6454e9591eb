"""Settings come from the environment, strictly; production settings pass Django's deploy checks."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_secret
from config.secrets import secrets_generate

ROOT = Path(__file__).resolve().parent.parent


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "CACHE_URL"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="false",
        DJANGO_ALLOWED_HOSTS="firma.example.org",
        RECAPTCHA_PUBLIC_KEY="site-key-of-firma-example-org",
        RECAPTCHA_PRIVATE_KEY=secrets.token_urlsafe(30),
        VAR_DIR=str(tmp_path),
    )
    env.update(secrets_generate())  # the secret key and every separate secret, each its own
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_production_settings_pass_check_deploy_without_warnings(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DJANGO_DEBUG", "maybe", "DJANGO_DEBUG must be a boolean"),
        ("SESSION_IDLE_TIMEOUT_SECONDS", "ten", "must be an integer"),
        ("SESSION_IDLE_TIMEOUT_SECONDS", "5", "must be at least 60"),
        ("DJANGO_SECRET_KEY", "short", "at least 50 characters"),
        ("DJANGO_ALLOWED_HOSTS", "", "DJANGO_ALLOWED_HOSTS is required"),
        ("CELERY_BROKER_URL", "ftp://x", "CELERY_BROKER_URL must be"),
        ("CACHE_URL", "memcached://x", "CACHE_URL must be"),
        ("DJANGO_ADMIN_URL", "/admin", "DJANGO_ADMIN_URL must look like"),
        ("RECAPTCHA_PRIVATE_KEY", "", "RECAPTCHA_PUBLIC_KEY and RECAPTCHA_PRIVATE_KEY are required"),
    ],
)
def test_a_malformed_setting_stops_the_process_at_start(tmp_path, variable, value, message):
    result = manage(production_env(tmp_path, **{variable: value}), "check")
    assert result.returncode != 0
    assert message in result.stderr


def test_secret_key_is_required_in_production(tmp_path):
    env = production_env(tmp_path)
    del env["DJANGO_SECRET_KEY"]
    result = manage(env, "check")
    assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr


def test_production_cookies_are_secure_and_host_prefixed(tmp_path):
    code = (
        "from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_NAME, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_NAME, s.SECURE_HSTS_SECONDS, s.DEBUG)"
    )
    result = manage(production_env(tmp_path), "shell", "-v", "0", "-c", code)
    assert result.stdout.split() == ["__Host-sessionid", "True", "__Host-csrftoken", "31536000", "False"]


def test_env_readers_are_strict(monkeypatch):
    monkeypatch.setenv("X_BOOL", "yes")
    assert env_bool("X_BOOL", False) is True
    monkeypatch.setenv("X_BOOL", "si")
    with pytest.raises(ImproperlyConfigured, match="X_BOOL"):
        env_bool("X_BOOL", False)
    monkeypatch.setenv("X_INT", "12")
    assert env_int("X_INT", 0, maximum=12) == 12
    with pytest.raises(ImproperlyConfigured, match="at most 11"):
        env_int("X_INT", 0, maximum=11)
    monkeypatch.setenv("X_LIST", " a.example, ,b.example ")
    assert env_list("X_LIST", []) == ["a.example", "b.example"]


def test_secrets_can_come_from_a_file_but_not_from_both(monkeypatch, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("  from-a-file\n", encoding="utf-8")
    monkeypatch.setenv("X_SECRET_FILE", str(secret_file))
    assert env_secret("X_SECRET") == "from-a-file"
    monkeypatch.setenv("X_SECRET", "direct")
    with pytest.raises(ImproperlyConfigured, match="not both"):
        env_secret("X_SECRET")
    monkeypatch.delenv("X_SECRET")
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="cannot read"):
        env_secret("X_SECRET")
