"""Load benchmark of the holder panel and the API: requests per second under 32 connections.

Not part of ``make test`` (the file is ``bench_*.py``); run it with ``make bench``. It prints a table
and asserts only correctness — every answer a 2xx, no socket error, the pages and reports what they
should be. Time is measured and compared with the target in the output, never asserted.

Per database (SQLite, then PostgreSQL), in a throw-away ``VAR_DIR``:

1. a production environment: ``DJANGO_DEBUG=false``, every secret in its own file
   (``python -m config.secrets``), HTTPS-only ``__Host-`` cookies, Argon2 at production cost,
   ``ALLOWED_HOSTS`` 127.0.0.1; only ``SECURE_SSL_REDIRECT`` is off (plain http on 127.0.0.1). The
   settings module is ``tests.bench.load_settings``: the production settings plus a bare reference
   view and rate limits that one source address cannot reach (it says why);
2. ``migrate``, ``collectstatic`` and ``seed_demo --force``: the data of ``make run``;
3. ``gunicorn config.wsgi -w 2`` (sync workers: the machine's 2 cores);
4. a demo holder (mario.rossi) logs in over HTTP through the panel's login form — the password is the
   panel's only factor; the second factor guards signing — and the session cookie is handed to wrk
   (wrk sends the Cookie header it is given: the cookie's Secure flag binds browsers, not wrk);
   the demo API client takes an OAuth2 token and signs a small PDF through the batch API (the
   holder's PIN and a TOTP code from the demo device's published seed), the document validated below;
5. ``wrk -t2 -c32 -d10s`` (``tests/bench/load.lua``: p50, p99, every non-2xx counted) against
   - the bare view ``/bench/ok`` (anonymous): the reference, measured in the same run;
   - the bare view with the session cookie: what reading the session and the user costs any page;
   - the holder's profile page ``/`` with the session cookie;
   - ``POST /oauth2/token`` (client credentials: one Argon2 check of the secret per request);
   - ``POST /api/v1/validation`` of the signed PDF (pyHanko parses and checks the signature).

The target, printed as met or not: the profile page at 30 % or more of the bare view's requests per
second, its p99 under 50 ms.

PostgreSQL runs when ``DATABASE_URL`` names a PostgreSQL server (as for bench_reminders): the bench
creates its own database there, ``<name>_load``, and drops it afterwards; ``CACHE_URL`` and
``CELERY_BROKER_URL`` (Redis) are passed on when set. Otherwise that half is skipped, saying so.

Knobs (environment): ``BENCH_LOAD_SECONDS`` (10), ``BENCH_LOAD_CONNECTIONS`` (32).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest
import requests

from otp.oath import totp
from tests.bench.servers import ServerProcess
from tests.signing.conftest import pdf_make

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
LUA = Path(__file__).with_name("load.lua")
SECONDS = int(os.environ.get("BENCH_LOAD_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_LOAD_CONNECTIONS", "32"))
WORKERS = 2
HOLDER = "mario.rossi"
# The target for the profile page, printed as met / not met, never asserted.
TARGET_SHARE_OF_BARE = 0.30
TARGET_P99_MS = 50.0
# Variables the product reads that the bench sets itself, never inherits from the caller's shell.
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH")


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _pg_admin(url: str, *statements: str) -> None:
    """Runs statements on the server's ``postgres`` database (CREATE/DROP DATABASE cannot run inside
    a transaction, hence autocommit)."""
    import psycopg

    with psycopg.connect(_with_database(url, "postgres"), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _environment(var_dir: Path, database: str | None) -> dict[str, str]:
    secrets_dir = var_dir / "secrets"
    words = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "config.secrets", "--dir", str(secrets_dir)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()
    env = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    env.update(word.split("=", 1) for word in words)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.bench.load_settings",
        DJANGO_DEBUG="false",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        RECAPTCHA_PUBLIC_KEY="bench-site-key",
        RECAPTCHA_PRIVATE_KEY="bench-secret-key",
        VAR_DIR=str(var_dir),
        PYTHONUNBUFFERED="1",
    )
    if database is not None:
        env["DATABASE_URL"] = database
        for name in ("CACHE_URL", "CELERY_BROKER_URL"):
            if os.environ.get(name):
                env[name] = os.environ[name]
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
    )
    assert done.returncode == 0, f"manage.py {' '.join(args)}: {done.stderr[-3000:]}"
    return done.stdout


class Gunicorn(ServerProcess):
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
                 "--workers", str(WORKERS), "--threads", "1", "--timeout", "120", "--log-level", "warning"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/bench/ok", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            assert self.process.poll() is None, self.log()
            time.sleep(0.3)
        pytest.fail(f"gunicorn did not answer: {self.log()}")

    def log(self) -> str:
        return super().log()[-3000:]


def _set_cookies(response: requests.Response) -> dict[str, str]:
    """The cookies a response sets, read from its headers: requests' jar keeps ``Secure`` cookies
    away from plain http, which is what a browser does and not what this bench wants."""
    jar: SimpleCookie = SimpleCookie()
    for header in response.raw.headers.getlist("Set-Cookie"):
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items() if morsel.value}


def _cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


def _login(url: str, username: str, password: str) -> dict[str, str]:
    """The panel's login over HTTP, as a browser does it: the form (CSRF cookie and token), then the
    POST; the cookies it hands back (session, language, CSRF)."""
    form = requests.get(f"{url}/accesso/", timeout=30, allow_redirects=False)
    assert form.status_code == 200, form.status_code
    cookies = _set_cookies(form)
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert match and any(name.endswith("csrftoken") for name in cookies), "no CSRF token on the login page"
    answer = requests.post(
        f"{url}/accesso/", data={"username": username, "password": password, "csrfmiddlewaretoken": match.group(1)},
        headers={"Cookie": _cookie_header(cookies)}, timeout=30, allow_redirects=False,
    )
    assert answer.status_code == 302, (answer.status_code, answer.text[:500])
    cookies.update(_set_cookies(answer))
    assert "__Host-sessionid" in cookies, cookies.keys()
    return cookies


def _totp_now(otpauth_uri: str) -> str:
    query = parse_qs(urlsplit(otpauth_uri).query)
    secret = query["secret"][0]
    seed = base64.b32decode(secret + "=" * (-len(secret) % 8))
    return totp(seed, time.time(), period=int(query.get("period", ["30"])[0]),
                digits=int(query.get("digits", ["6"])[0]), algorithm=query.get("algorithm", ["SHA1"])[0].lower())


def _signed_pdf(url: str, token: str, holder: dict) -> bytes:
    """One small PDF signed through the batch API by the demo holder (PIN + TOTP), B-B."""
    pdf = pdf_make("Verbale d'esame - bench di carico")
    auth = {"Authorization": f"Bearer {token}"}
    authorized = requests.post(f"{url}/api/v1/batch/authorize", json={
        "userID": holder["username"], "credentialID": holder["certificate"]["iut"],
        "PIN": holder["certificate"]["signing_pin"], "OTP": _totp_now(holder["otp"]["otpauth"]),
        "documents": [{"name": "verbale.pdf", "sha256": hashlib.sha256(pdf).hexdigest()}],
    }, headers=auth, timeout=60)
    assert authorized.status_code == 200, authorized.text[:500]
    signed = requests.post(f"{url}/api/v1/batch/sign", json={
        "credentialID": holder["certificate"]["iut"], "SAD": authorized.json()["SAD"], "level": "B-B",
        "documents": [{"name": "verbale.pdf", "content": base64.b64encode(pdf).decode()}],
    }, headers=auth, timeout=120)
    assert signed.status_code == 200, signed.text[:500]
    return base64.b64decode(signed.json()["documents"][0]["content"])


def _wrk(name: str, url: str, work_dir: Path, *, method: str = "GET", headers: dict[str, str] | None = None,
         body: bytes | None = None) -> Result:
    env = {**os.environ, "WRK_METHOD": method,
           "WRK_HEADERS": "\n".join(f"{k}: {v}" for k, v in (headers or {}).items())}
    if body is not None:
        body_file = work_dir / f"{hashlib.sha256(name.encode()).hexdigest()[:12]}.body"
        body_file.write_bytes(body)
        env["WRK_BODY_FILE"] = str(body_file)
    # A generous timeout: a slow answer is a figure (p99), not a socket error.
    done = subprocess.run(  # noqa: S603
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--timeout", "60s", "-s", str(LUA), url],
        env=env, capture_output=True, text=True, timeout=SECONDS + 120,
    )
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("BENCH "))
    figures = json.loads(line.removeprefix("BENCH "))
    return Result(name, figures["requests"], figures["duration_us"] / 1e6, figures["p50_us"] / 1000,
                  figures["p99_us"] / 1000, figures["non2xx"], figures["socket_errors"])


def _table(results: list[Result], database: str) -> str:
    bare = results[0].rate
    lines = [f"{'endpoint':<34}{'requests/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'of bare':>9}"]
    for r in results:
        lines.append(f"{r.name:<34}{r.rate:>11.1f}{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}{r.non2xx:>9}"
                     f"{r.rate / bare:>8.1%} ")
    return f"--- {database} ---\n" + "\n".join(lines)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    if request.param == "sqlite":
        yield "SQLite", None
        return
    server = _postgres_url()
    if server is None:
        pytest.skip("the PostgreSQL half of bench_load: set DATABASE_URL=postgres://… to run it")
    name = f"{urlsplit(server).path.lstrip('/') or 'firma'}_load"
    _pg_admin(server, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
    try:
        yield "PostgreSQL", _with_database(server, name)
    finally:
        _pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_profile_page_and_the_api_under_load(database: tuple[str, str | None], tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed: scripts/system-packages wrk")
    label, database_url = database
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    env = _environment(var_dir, database_url)
    _manage(env, "migrate", "--no-input")
    _manage(env, "collectstatic", "--no-input")
    summary = json.loads(_manage(env, "seed_demo", "--force"))
    holder = next(h for org in summary["organizations"] for h in org["holders"] if h["username"] == HOLDER)
    client = summary["api_client"]

    server = Gunicorn(env, tmp_path / "gunicorn.log")
    server.start()
    try:
        url = server.url
        cookies = _login(url, holder["username"], holder["password"])
        session = {"Cookie": _cookie_header(cookies)}
        profile = requests.get(f"{url}/", headers=session, timeout=30, allow_redirects=False)
        assert profile.status_code == 200 and "Rossi" in profile.text, profile.status_code

        token_body = b"grant_type=client_credentials"
        basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
        token_headers = {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"}
        answer = requests.post(f"{url}/oauth2/token", data=token_body, headers=token_headers, timeout=60)
        assert answer.status_code == 200, answer.text[:500]
        token = answer.json()["access_token"]
        signed = _signed_pdf(url, token, holder)
        validation_body = json.dumps({"document": base64.b64encode(signed).decode(), "name": "verbale.pdf"}).encode()
        validation_headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        report = requests.post(f"{url}/api/v1/validation", data=validation_body, headers=validation_headers,
                               timeout=60)
        assert report.status_code == 200, report.text[:500]
        signature = report.json()["signatures"][0]
        assert signature["intact"] and signature["valid"] and signature["trusted"], signature

        results = [
            _wrk("bare view /bench/ok", f"{url}/bench/ok", tmp_path),
            # The floor of any logged-in page: the same bare view, the session and user read.
            _wrk("bare view, logged in", f"{url}/bench/ok", tmp_path, headers=session),
            _wrk("profile page / (logged in)", f"{url}/", tmp_path, headers=session),
            _wrk("POST /oauth2/token", f"{url}/oauth2/token", tmp_path, method="POST", headers=token_headers,
                 body=token_body),
            _wrk("POST /api/v1/validation", f"{url}/api/v1/validation", tmp_path, method="POST",
                 headers=validation_headers, body=validation_body),
        ]
        # The session survived the run: every profile answer above was the page, not a redirect.
        after = requests.get(f"{url}/", headers=session, timeout=30, allow_redirects=False)
        assert after.status_code == 200, after.status_code
    finally:
        server.stop()

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n=== load: gunicorn -w {WORKERS} (sync), wrk -t2 -c{CONNECTIONS} -d{SECONDS}s, DEBUG off, "
          f"{label}; nproc {os.cpu_count()}, load average {load} ===")
    print(_table(results, label))
    profile_result, bare = results[2], results[0]
    share = profile_result.rate / bare.rate
    print(f"target (profile ≥ {TARGET_SHARE_OF_BARE:.0%} of the bare view, p99 < {TARGET_P99_MS:.0f} ms): "
          f"{share:.1%}, p99 {profile_result.p99_ms:.1f} ms — "
          f"{'met' if share >= TARGET_SHARE_OF_BARE and profile_result.p99_ms < TARGET_P99_MS else 'NOT met'}")
    for r in results:
        assert r.non2xx == 0 and r.socket_errors == 0, r
        assert r.requests > 0, r
