"""The production smoke: the topology of docker-compose.yml run as local processes, proven over HTTP.

Run through ``scripts/production-smoke`` (which checks the system tools first). Everything lives under
one temporary directory and on free loopback ports: its own PostgreSQL cluster (so it can stop it
without disturbing anyone), its own Redis, its own SMTP sink. The processes are started with the
commands of :mod:`deploy.topology` — the ones the compose file runs — with DEBUG off and every secret
in a file of its own.

Over HTTP only: readiness, a holder's panel and an operator's password + second factor, an API
client's 50-document batch job whose PDFs validate, OCSP ``good`` for the signer, the expiry reminder
reaching the SMTP sink, a signing worker killed mid-job and restarted, the database stopped and
started under the running processes, and a backup (dump + key files + checkpoint file) restored,
checked and signing again. Non-zero exit on any failure; every process is stopped in any case.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.cookiejar
import io
import json
import mailbox
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deploy import topology  # noqa: E402  (the repository root is put on the path just above)

VENV_BIN = ROOT / ".venv" / "bin"
BATCH_DOCUMENTS = 50
# Large enough that the signing worker is still busy when it is killed (each document is a signature
# plus a PDF incremental update: a few milliseconds), small enough to stay well under the size limits.
KILL_DOCUMENTS = 200
DATABASE_DOWN_SECONDS = 10
RESTART_DEADLINE_SECONDS = 60


class SmokeFailure(Exception):
    pass


def check(condition: object, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, probe: Callable[[], bool], timeout: float, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except (requests.RequestException, OSError):
            pass
        time.sleep(interval)
    raise SmokeFailure(f"timed out after {timeout:.0f} s waiting for {what}")


def pdf_make(text: str) -> bytes:
    """A small valid one-page PDF, written by hand (offsets computed) so the smoke needs no PDF library."""
    content = f"BT /F1 14 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


class Totp:
    """RFC 6238 codes from an ``otpauth://`` URI, never reusing a time step (the server refuses a replay)."""

    def __init__(self, uri: str) -> None:
        query = parse_qs(urlparse(uri).query)
        secret = query["secret"][0]
        self.key = base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
        self.digits = int(query.get("digits", ["6"])[0])
        self.period = int(query.get("period", ["30"])[0])
        self.digest = query.get("algorithm", ["SHA1"])[0].lower()
        self.last_step = -1

    def code(self) -> str:
        step = int(time.time() // self.period)
        if step <= self.last_step:  # wait for the next step rather than replay a used one
            time.sleep((self.last_step + 1) * self.period - time.time() + 0.2)
            step = int(time.time() // self.period)
        self.last_step = step
        mac = hmac.new(self.key, struct.pack(">Q", step), self.digest).digest()
        offset = mac[-1] & 0x0F
        value = (struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 10**self.digits
        return f"{value:0{self.digits}d}"


def _secure_cookies_to_loopback(self: http.cookiejar.DefaultCookiePolicy, cookie: http.cookiejar.Cookie,
                                request: Any) -> bool:
    """Send ``Secure`` cookies to http://127.0.0.1, as browsers do for a loopback origin: the product's
    cookies are Secure with DEBUG off, and the smoke has no TLS."""
    return True


# On the class, not on one jar: requests copies a session's cookies into a fresh jar (default policy)
# for every request it prepares, redirects included. This process talks to nothing but the smoke's own
# servers on 127.0.0.1.
http.cookiejar.DefaultCookiePolicy.return_ok_secure = _secure_cookies_to_loopback  # type: ignore[method-assign]


def http_session() -> requests.Session:
    return requests.Session()


class Smoke:
    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="firma-smoke-"))
        self.tmp.chmod(0o755)  # the PostgreSQL user must reach its data directory below
        self.logs = self.tmp / "logs"
        self.logs.mkdir()
        (self.tmp / "metrics").mkdir()  # PROMETHEUS_MULTIPROC_DIR: empty before the processes start
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.timings: list[tuple[str, float, str]] = []
        self.pg_bin = Path(sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))[-1])
        self.pg_data = self.tmp / "pg" / "data"
        self.ports = {name: free_port() for name in ("pg", "redis", "smtp", "web", "restored")}
        self.hostname = socket.gethostname()
        self.web = f"http://127.0.0.1:{self.ports['web']}"
        self.maildir = self.tmp / "maildir"
        self.seed: dict[str, Any] = {}

    # --- processes -----------------------------------------------------------------------------

    def as_postgres(self, *argv: str) -> list[str]:
        """PostgreSQL's binaries refuse to run as root (CI runs as root): there, as the postgres user."""
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *argv]
        return list(argv)

    def env(self, *, database: str = "firma", cache_db: int = 1) -> dict[str, str]:
        """The application's environment: exactly the names of deploy.topology, with local values."""
        values = {
            "DJANGO_DEBUG": "false",
            **self.secret_files,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "RECAPTCHA_PUBLIC_KEY": "smoke-site-key",
            "RECAPTCHA_PRIVATE_KEY": "smoke-secret-key",
            "SITE_URL": self.web,
            "DATABASE_URL": f"postgres://firma@127.0.0.1:{self.ports['pg']}/{database}",
            "DATABASE_CONN_MAX_AGE": "60",
            "CACHE_URL": f"redis://127.0.0.1:{self.ports['redis']}/{cache_db}",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{self.ports['redis']}/0",
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.ports["smtp"]),
            "DEFAULT_FROM_EMAIL": "Firma remota <no-reply@localhost>",
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_HSTS_SECONDS": "0",
            "SECURE_HSTS_INCLUDE_SUBDOMAINS": "false",
            "SECURE_HSTS_PRELOAD": "false",
            "PROMETHEUS_MULTIPROC_DIR": str(self.tmp / "metrics"),
            "VAR_DIR": str(self.tmp / "var"),
            "STATIC_ROOT": str(self.tmp / "static"),
        }
        expected = set(topology.APP_ENVIRONMENT) | set(topology.IMAGE_ENVIRONMENT)
        check(set(values) == expected, f"the environment differs from deploy.topology: {set(values) ^ expected}")
        base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TZ") if name in os.environ}
        base["PATH"] = f"{VENV_BIN}:{base.get('PATH', '/usr/bin:/bin')}"
        return {**base, **values}

    def argv(self, service: str, *, bind: str | None = None) -> list[str]:
        argv = topology.command(service, bind=bind or f"127.0.0.1:{self.ports['web']}")
        return [str(VENV_BIN / argv[0]), *argv[1:]]

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """A long-running process in a session (process group) of its own, so that it and every child
        it forks can be signalled at once."""
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(  # noqa: S603  (our own commands)
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.processes[name] = process
        return process

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def run(self, argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 300) -> str:
        result = subprocess.run(  # noqa: S603  (our own commands)
            argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise SmokeFailure(f"{' '.join(argv[:4])}… exited {result.returncode}:\n{result.stderr[-3000:]}"
                               f"{result.stdout[-2000:]}")
        return result.stdout

    def manage(self, *args: str, env: dict[str, str] | None = None) -> str:
        return self.run([str(VENV_BIN / "python"), "manage.py", *args], env=env or self.env())

    def pg_ctl(self, action: str) -> None:
        options = (f"-p {self.ports['pg']} -c listen_addresses=127.0.0.1 -k {self.tmp / 'pg'} "
                   "-c fsync=off -c full_page_writes=off")
        argv = [str(self.pg_bin / "pg_ctl"), "-D", str(self.pg_data), "-w", "-t", "60"]
        if action == "start":
            argv += ["-l", str(self.tmp / "pg" / "postgresql.log"), "-o", options, "start"]
        else:
            argv += ["-m", "fast", "stop"]
        self.run(self.as_postgres(*argv))

    def psql_tool(self, tool: str, *args: str) -> str:
        return self.run([str(self.pg_bin / tool), "-h", "127.0.0.1", "-p", str(self.ports["pg"]), "-U", "firma",
                         *args])

    # --- steps ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[list[str]]:
        notes: list[str] = []
        print(f"--- {name}", flush=True)
        started = time.monotonic()
        try:
            yield notes
        finally:
            elapsed = time.monotonic() - started
            self.timings.append((name, elapsed, "; ".join(notes)))
            print(f"    {elapsed:6.1f} s  {'; '.join(notes)}", flush=True)

    def infrastructure(self) -> None:
        with self.step("PostgreSQL cluster, Redis, SMTP sink") as notes:
            (self.tmp / "pg").mkdir()
            if os.geteuid() == 0:
                shutil.chown(self.tmp / "pg", "postgres", "postgres")
            self.run(self.as_postgres(str(self.pg_bin / "initdb"), "-D", str(self.pg_data), "-U", "firma",
                                      "-A", "trust", "-E", "UTF8", "--no-sync"))
            self.pg_ctl("start")
            self.psql_tool("createdb", "firma")
            self.start("redis", ["redis-server", "--port", str(self.ports["redis"]), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no"])
            self.start("smtp", [str(VENV_BIN / "python"), "-m", "aiosmtpd", "-n", "-l",
                                f"127.0.0.1:{self.ports['smtp']}", "-c", "aiosmtpd.handlers.Mailbox",
                                str(self.maildir)])
            wait_for("Redis", lambda: socket.create_connection(("127.0.0.1", self.ports["redis"]), 1) is not None, 15)
            wait_for("the SMTP sink", lambda: socket.create_connection(("127.0.0.1", self.ports["smtp"]), 1)
                     is not None, 15)
            notes.append(f"postgres :{self.ports['pg']}, redis :{self.ports['redis']}, smtp :{self.ports['smtp']}")

    def setup(self) -> None:
        with self.step("secrets (one file each), migrate, collectstatic, demo data") as notes:
            words = self.run([str(VENV_BIN / "python"), "-m", "config.secrets", "--dir", str(self.tmp / "secrets")])
            self.secret_files = dict(word.split("=", 1) for word in words.split())
            env = self.env()
            for name, run in (("migrate", lambda: self.run(self.argv("migrate"), env=env)),
                              ("collectstatic", lambda: self.manage("collectstatic", "--no-input", "-v", "0")),
                              ("seed_demo", lambda: self.manage("seed_demo", "--force"))):
                began = time.monotonic()
                output = run()
                notes.append(f"{name} {time.monotonic() - began:.0f} s")
            self.seed = json.loads(output)
            holders = {h["username"]: h for o in self.seed["organizations"] for h in o["holders"]}
            self.mario, self.chiara = holders["mario.rossi"], holders["chiara.romano"]
            self.totp = {name: Totp(holders[name]["otp"]["otpauth"]) for name in ("mario.rossi", "chiara.romano")}
            # The seed signed Chiara's renewal with a code of the current step: never reuse it.
            self.totp["chiara.romano"].last_step = int(time.time() // self.totp["chiara.romano"].period)
            operator = self.seed["organizations"][0]["operators"][0]
            self.operator = operator
            # The reminder's recipient: a certificate the seed issued to expire within the week.
            due = [h for h in holders.values() if h.get("certificate", {}).get("state") == "active"
                   and h["username"] == "lucia.neri"]
            check(due, "the demo data has no certificate due for a reminder (lucia.neri)")
            self.reminder_to = "lucia.neri@example.net"
            notes.append(f"{len(holders)} holders, API client {self.seed['api_client']['client_id'][:8]}…")

    def processes_start(self) -> None:
        with self.step("gunicorn, a Celery worker per queue, beat (the compose commands)") as notes:
            env = self.env()
            for service in ("web", *topology.WORKER_NODES, "beat"):
                self.start(service, self.argv(service), env)
            wait_for("/healthz", lambda: requests.get(f"{self.web}/healthz", timeout=2).status_code == 200, 60)
            for service in topology.WORKER_NODES:
                self.worker_wait(service)
            notes.append(f"web {self.web}, workers answer ping")

    def worker_wait(self, service: str, timeout: float = 60) -> None:
        """The compose health check of the worker, run until it passes."""
        argv = topology.worker_healthcheck(service, hostname=self.hostname)
        argv = [str(VENV_BIN / argv[0]), *argv[1:]]
        env = self.env()

        def ping() -> bool:
            return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, timeout=30,  # noqa: S603
                                  check=False).returncode == 0
        wait_for(f"{service} to answer ping", ping, timeout, interval=1)

    def readiness(self) -> None:
        with self.step("/readyz green") as notes:
            response = requests.get(f"{self.web}/readyz", timeout=10)
            body = response.json()
            check(response.status_code == 200, f"/readyz {response.status_code}: {body}")
            failing = [name for name, result in body["checks"].items() if not result["ok"]]
            check(not failing, f"/readyz: failing checks {failing}")
            notes.append("checks: " + ", ".join(body["checks"]))

    def panel_login(self) -> None:
        with self.step("holder logs in to the panel; operator logs in with password + second factor") as notes:
            self.holder_session = http_session()
            self.form_post(self.holder_session, "/accesso/", {"username": "mario.rossi",
                                                               "password": self.mario["password"]})
            response = self.holder_session.get(f"{self.web}/", timeout=10)
            check(response.status_code == 200 and "Rossi" in response.text,
                  f"the holder's profile page: {response.status_code}")
            notes.append("holder profile 200")
            staff = http_session()
            response = self.form_post(staff, "/operatore/accesso/", {"username": self.operator["username"],
                                                                     "password": self.operator["password"]})
            check(response.url.endswith("/operatore/accesso/secondo-fattore/"),
                  f"the operator's password did not lead to the second factor: {response.url}")
            device = re.search(r'name="confirmation_device"[^>]*value="([^"]*)"', response.text)
            code = Totp(f"otpauth://totp/x?secret={self.operator['totp_secret']}").code()
            fields = {"confirmation_code": code, **({"confirmation_device": device.group(1)} if device else {})}
            response = self.form_post(staff, "/operatore/accesso/secondo-fattore/", fields)
            check(response.status_code == 200 and response.url.rstrip("/").endswith("/operatore"),
                  f"the operator's second factor: {response.status_code} at {response.url}")
            notes.append("operator console 200 after TOTP")

    def form_post(self, session: requests.Session, path: str, fields: dict[str, str]) -> requests.Response:
        page = session.get(f"{self.web}{path}", timeout=10)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        check(token, f"no CSRF token on {path} ({page.status_code})")
        assert token is not None
        return session.post(page.url, data={"csrfmiddlewaretoken": token.group(1), **fields}, timeout=30,
                            headers={"Referer": page.url})

    # --- the API -------------------------------------------------------------------------------

    def api_token(self, base: str | None = None) -> str:
        client = self.seed["api_client"]
        response = requests.post(f"{base or self.web}/oauth2/token", data={"grant_type": "client_credentials"},
                                 auth=(client["client_id"], client["client_secret"]), timeout=10)
        check(response.status_code == 200, f"token: {response.status_code} {response.text[:300]}")
        return str(response.json()["access_token"])

    def api(self, method: str, path: str, token: str, body: Any = None, base: str | None = None,
            expect: tuple[int, ...] = (200,)) -> Any:
        url = path if path.startswith("http") else f"{base or self.web}{path}"
        response = requests.request(method, url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=120)
        check(response.status_code in expect, f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response

    def authorize_and_submit(self, token: str, holder: dict[str, Any], docs: list[tuple[str, bytes]],
                             base: str | None = None) -> requests.Response:
        iut = holder["certificate"]["iut"]
        sad = self.api("POST", "/api/v1/batch/authorize", token, {
            "userID": holder["username"], "credentialID": iut, "PIN": holder["certificate"]["signing_pin"],
            "OTP": self.totp[holder["username"]].code(),
            "documents": [{"name": name, "sha256": hashlib.sha256(data).hexdigest()} for name, data in docs],
        }, base=base).json()["SAD"]
        return self.api("POST", "/api/v1/batch/sign", token, {
            "credentialID": iut, "SAD": sad, "level": "B-B", "reason": "Smoke",
            "documents": [{"name": name, "content": base64.b64encode(data).decode()} for name, data in docs],
        }, base=base, expect=(200, 202))

    def job_wait(self, token: str, url: str, deadline: float) -> dict[str, Any]:
        while True:
            body: dict[str, Any] = self.api("GET", url, token).json()
            if body["state"] in ("done", "failed"):
                return body
            check(time.monotonic() < deadline, f"job still {body['state']} ({body['progress']})")
            time.sleep(0.5)

    def signatures_in(self, name: str, signed: bytes) -> int:
        """How many valid signatures ``pdfsig`` (poppler, not the product) finds; raises on an invalid one."""
        path = self.tmp / "signed" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(signed)
        output = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True,  # noqa: S603, S607
                                check=False, timeout=60).stdout
        count = len(re.findall(r"^Signature #\d+:", output, re.MULTILINE))
        valid = output.count("Signature Validation: Signature is Valid.")
        check(count == valid, f"{name}: pdfsig finds {count} signatures, {valid} valid:\n{output[-800:]}")
        return count

    def batch_job(self) -> None:
        with self.step(f"API: token, PIN + OTP, a {BATCH_DOCUMENTS}-document job, poll, results validate") as notes:
            self.token = self.api_token()
            docs = [(f"verbale-{i}.pdf", pdf_make(f"Verbale d'esame n. {i}")) for i in range(BATCH_DOCUMENTS)]
            submitted = time.monotonic()
            response = self.authorize_and_submit(self.token, self.mario, docs)
            check(response.status_code == 202, f"a {BATCH_DOCUMENTS}-document batch was not queued as a job")
            body = self.job_wait(self.token, response.headers["Location"], time.monotonic() + 120)
            check(body["state"] == "done", f"the job ended {body['state']}: {body.get('error')}")
            returned = body["documents"]
            check([d["name"] for d in returned] == [name for name, _ in docs], "the job's documents, in order")
            for (name, original), item in zip(docs, returned, strict=True):
                signed = base64.b64decode(item["content"])
                check(signed.startswith(original), f"{name}: not an incremental update of the submitted PDF")
                check(self.signatures_in(name, signed) == 1, f"{name}: not signed exactly once")
            self.signed_sample = base64.b64decode(returned[0]["content"])
            notes.append(f"{BATCH_DOCUMENTS} signed in {time.monotonic() - submitted:.1f} s, pdfsig: each valid, once")

    def metrics(self) -> None:
        with self.step("/metrics: the batch's signatures, counted by the worker, in a scrape of the web") as notes:
            response = requests.get(f"{self.web}/metrics", timeout=10)
            check(response.status_code == 200, f"/metrics answered {response.status_code} to the loopback")
            api_signatures = requests_count = 0.0
            for family in text_string_to_metric_families(response.text):
                for sample in family.samples:
                    if sample.name == "firma_signatures_total" and sample.labels.get("channel") == "api":
                        api_signatures += sample.value
                    if sample.name == "firma_http_request_duration_seconds_count":
                        requests_count += sample.value
            check(api_signatures >= BATCH_DOCUMENTS,
                  f"{api_signatures:.0f} API signatures counted, {BATCH_DOCUMENTS} made by the signing worker")
            check(requests_count > 0, "no request timed by the web processes")
            notes.append(f"{api_signatures:.0f} API signatures, {requests_count:.0f} requests timed")

    def ocsp(self) -> None:
        with self.step("OCSP answers good for the signer's certificate (openssl ocsp)") as notes:
            from cryptography import x509
            from cryptography.hazmat.primitives.serialization import Encoding
            from cryptography.x509.oid import AuthorityInformationAccessOID

            info = self.api("POST", "/csc/v1/credentials/info", self.token, {
                "credentialID": self.mario["certificate"]["iut"], "certificates": "chain",
            }).json()
            chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in info["cert"]["certificates"]]
            check(len(chain) >= 2, f"credentials/info returned {len(chain)} certificates")
            paths = []
            for index, certificate in enumerate(chain):
                path = self.tmp / f"chain-{index}.pem"
                path.write_bytes(certificate.public_bytes(Encoding.PEM))
                paths.append(path)
            (self.tmp / "ca-bundle.pem").write_bytes(b"".join(p.read_bytes() for p in paths[1:]))
            access = chain[0].extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
            urls = [d.access_location.value for d in access if d.access_method == AuthorityInformationAccessOID.OCSP]
            check(urls and urls[0].startswith(self.web), f"the certificate's OCSP URL: {urls}")
            output = self.run(["openssl", "ocsp", "-issuer", str(paths[1]), "-cert", str(paths[0]), "-url", urls[0],
                               "-CAfile", str(self.tmp / "ca-bundle.pem"), "-timeout", "20"])
            check(re.search(r"chain-0\.pem: good", output), f"OCSP status:\n{output}")
            notes.append(f"{urls[0]} → good")

    def reminders(self) -> None:
        with self.step("expiry reminders: celery call through the broker, an e-mail reaches the SMTP sink") as notes:
            self.run([str(VENV_BIN / "celery"), "-A", "config", "call", "certificates.tasks.expiry_reminders_send"],
                     env=self.env())

            def delivered() -> bool:
                if not self.maildir.exists():
                    return False
                return any(self.reminder_to in str(message["To"]) for message in mailbox.Maildir(self.maildir))
            wait_for(f"a reminder to {self.reminder_to} in the SMTP sink", delivered, 90, interval=1)
            notes.append(f"{sum(1 for _ in mailbox.Maildir(self.maildir))} messages in the sink, one to "
                         f"{self.reminder_to}")

    def worker_killed(self) -> None:
        with self.step("signing worker SIGKILLed mid-job, restarted: the job ends whole, never half or twice") as notes:
            docs = [(f"kill-{i}.pdf", pdf_make(f"Verbale n. {i}")) for i in range(KILL_DOCUMENTS)]
            response = self.authorize_and_submit(self.token, self.chiara, docs)
            check(response.status_code == 202, "the batch was not queued as a job")
            url = response.headers["Location"]

            def started() -> bool:
                body = self.api("GET", url, self.token).json()
                return bool(body["state"] == "running" and body["done"] > 0) or body["state"] in ("done", "failed")
            wait_for("the job to start", started, 60, interval=0.1)
            before = self.api("GET", url, self.token).json()
            self.stop("worker-signing", signal.SIGKILL)
            notes.append(f"killed at {before['state']} {before['progress']}")
            if before["state"] in ("done", "failed"):
                notes.append("WARNING: the job finished before the kill; the kill proved nothing")
            self.start("worker-signing", self.argv("worker-signing"), self.env())
            restarted = time.monotonic()
            body = self.job_wait(self.token, url, restarted + RESTART_DEADLINE_SECONDS)
            notes.append(f"ended {body['state']} {body['progress']} {time.monotonic() - restarted:.1f} s "
                         f"after the restart" + (f", error {body['error']['code']}" if body.get("error") else ""))
            if body["state"] == "failed":
                check(body.get("error") and body["error"].get("code"), "a failed job without an error code")
                check(not body.get("documents"), "a failed job returned signed documents")
                check(body["done"] == 0, f"a failed job counts {body['done']} signed documents")
                failed = body.get("failed") or []
                check(len(failed) in (0, KILL_DOCUMENTS), f"a failed job lists {len(failed)} of {KILL_DOCUMENTS}")
            else:
                returned = body["documents"]
                check(len(returned) == KILL_DOCUMENTS and not body.get("failed"),
                      f"done with {len(returned)} of {KILL_DOCUMENTS} documents")
                for (name, original), item in zip(docs, returned, strict=True):
                    signed = base64.b64decode(item["content"])
                    check(signed.startswith(original), f"{name}: not the submitted PDF")
                    check(self.signatures_in(name, signed) == 1, f"{name}: not signed exactly once")
            self.worker_wait("worker-signing")

    def database_down(self) -> None:
        title = f"PostgreSQL stopped for {DATABASE_DOWN_SECONDS} s: 503 not 500; back without restarts"
        with self.step(title) as notes:
            self.pg_ctl("stop")
            stopped = time.monotonic()
            response = requests.get(f"{self.web}/readyz", timeout=30)
            body = response.json()
            check(response.status_code == 503, f"/readyz with the database down: {response.status_code}")
            check(not body["checks"]["database"]["ok"], f"/readyz does not name the database: {body}")
            panel = self.holder_session.get(f"{self.web}/", timeout=30, allow_redirects=False)
            api = requests.post(f"{self.web}/oauth2/token", data={"grant_type": "client_credentials"},
                                auth=(self.seed["api_client"]["client_id"], self.seed["api_client"]["client_secret"]),
                                timeout=30)
            job = requests.get(f"{self.web}/api/v1/batch/jobs/00000000-0000-0000-0000-000000000000",
                               headers={"Authorization": f"Bearer {self.token}"}, timeout=30)
            statuses = {"panel": panel.status_code, "token": api.status_code, "api": job.status_code}
            notes.append(f"down: readyz 503 (database), {statuses}")
            time.sleep(max(0.0, DATABASE_DOWN_SECONDS - (time.monotonic() - stopped)))
            self.pg_ctl("start")
            wait_for("/readyz green again", lambda: requests.get(f"{self.web}/readyz", timeout=10).status_code == 200,
                     60, interval=0.5)
            response = self.holder_session.get(f"{self.web}/", timeout=10)
            check(response.status_code == 200 and "Rossi" in response.text,
                  f"the holder's page after the database came back: {response.status_code}")
            notes.append("up: readyz 200, holder page 200, same processes")
            check(all(status == 503 for status in statuses.values()),
                  f"with the database down the panel and the API must answer 503: {statuses}")

    def backup_restore(self) -> None:
        with self.step("backup: checkpoint, pg_dump -Fc, restore, restore_check, sign on the restored copy") as notes:
            checkpoints = Path(self.env()["VAR_DIR"]) / "audit" / "checkpoints.jsonl"
            self.run([str(VENV_BIN / "celery"), "-A", "config", "call", "audit.tasks.audit_checkpoint_publish"],
                     env=self.env())
            wait_for("the audit checkpoint", lambda: checkpoints.exists() and checkpoints.read_text().strip() != "",
                     60, interval=0.5)
            dump = self.tmp / "firma.dump"
            self.psql_tool("pg_dump", "-Fc", "-f", str(dump), "firma")
            self.psql_tool("createdb", "restored")
            self.psql_tool("pg_restore", "--no-owner", "-d", "restored", str(dump))
            notes.append(f"dump {dump.stat().st_size // 1024} KiB")
            # The restored copy gets the key files and the checkpoint file of the backup, nothing else
            # of the running installation's state (its own var directory, its own cache).
            env = {**self.env(database="restored", cache_db=3), "VAR_DIR": str(self.tmp / "var-restored"),
                   "SITE_URL": f"http://127.0.0.1:{self.ports['restored']}"}
            restored_checkpoints = Path(env["VAR_DIR"]) / "audit" / "checkpoints.jsonl"
            restored_checkpoints.parent.mkdir(parents=True)
            shutil.copy(checkpoints, restored_checkpoints)
            output = self.manage("restore_check", env=env)
            notes.append(output.strip().splitlines()[-1] if output.strip() else "restore_check ok")
            restored = f"http://127.0.0.1:{self.ports['restored']}"
            self.start("web-restored", self.argv("web", bind=f"127.0.0.1:{self.ports['restored']}"), env)
            wait_for("the restored web process", lambda: requests.get(f"{restored}/healthz", timeout=2).ok, 60)
            token = self.api_token(restored)
            doc = [("ripristino.pdf", pdf_make("Firmato dopo il ripristino"))]
            response = self.authorize_and_submit(token, self.mario, doc, base=restored)
            check(response.status_code == 200, f"one document was not signed at once: {response.status_code}")
            signed = base64.b64decode(response.json()["documents"][0]["content"])
            check(self.signatures_in("ripristino.pdf", signed) == 1, "the restored copy's signature")
            self.stop("web-restored")
            notes.append("restored copy signs")

    # --- the whole run -------------------------------------------------------------------------

    def cleanup(self) -> None:
        for name in reversed(list(self.processes)):  # the application before Redis and the SMTP sink
            self.stop(name)
        if self.pg_data.exists():
            with contextlib.suppress(SmokeFailure, subprocess.TimeoutExpired):
                self.run(self.as_postgres(str(self.pg_bin / "pg_ctl"), "-D", str(self.pg_data), "-m", "immediate",
                                          "stop"), timeout=30)

    def log_tails(self) -> None:
        for log in [*sorted(self.logs.glob("*.log")), self.tmp / "pg" / "postgresql.log"]:
            if not log.exists():
                continue
            lines = log.read_text(errors="replace").splitlines()[-25:]
            print(f"\n--- {log.name} (last {len(lines)} lines)\n" + "\n".join(lines))

    def main(self) -> int:
        started = time.monotonic()
        failures: list[str] = []
        # Without these nothing else can run: the first failure ends the smoke.
        foundation = [self.infrastructure, self.setup, self.processes_start, self.readiness]
        # Each of these leaves the installation serving, so one failing does not hide what the others prove.
        checks = [self.panel_login, self.batch_job, self.metrics, self.ocsp, self.reminders, self.worker_killed,
                  self.database_down, self.backup_restore]
        try:
            for run_step in [*foundation, *checks]:
                try:
                    run_step()
                except SmokeFailure as exc:
                    failures.append(f"{run_step.__name__}: {exc}")
                    print(f"    FAILED: {exc}", flush=True)
                    if run_step in foundation or "interrupted" in str(exc):
                        break
        except Exception as exc:  # noqa: BLE001  (a crash of the smoke itself is a failure, reported)
            failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            self.cleanup()
        print("\n=== production smoke: summary")
        for name, elapsed, notes in self.timings:
            print(f"{elapsed:7.1f} s  {name}" + (f"\n           {notes}" if notes else ""))
        print(f"{time.monotonic() - started:7.1f} s  in all")
        if failures:
            self.log_tails()
            print("\nFAILED:\n  " + "\n  ".join(failures) + f"\n(logs and files kept in {self.tmp})", file=sys.stderr)
            return 1
        shutil.rmtree(self.tmp, ignore_errors=True)
        print("PASSED")
        return 0


def _terminate(signum: int, _frame: object) -> None:
    # SIGTERM/SIGINT (CI cancelled, Ctrl-C) unwinds through main's finally: every process is stopped.
    raise SmokeFailure(f"interrupted by signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    sys.exit(Smoke().main())
