"""Signing benchmark: the naive pyHanko loop against our signer.

Not part of ``make test`` (the file is ``bench_*.py``); run it with ``make bench``. It prints a table
and asserts only correctness — every signed PDF validates against our trust roots, every signHash
signature verifies with the certificate's public key. Time is measured and compared with the issue's
targets in the output, never asserted.

Measured side by side, in one run, on the same machine, over the same N one-page exam records
(WeasyPrint, :func:`signing.exam_records.exam_records_write`) and an RSA-2048 holder key — once per key
vault (the module is marked ``both_vaults``): on the software vault, then on the PKCS#11 vault with a
SoftHSM2 token (the CA's keys token objects, the holder's key generated in the device and unwrapped
there as a session object for each batch). gunicorn, the Celery worker and the peak-memory process
run on the same vault as the test (:func:`_vault_env`). At the end, the two runs side by side: each
rate of the PKCS#11 vault as a share of the software vault's, against the issue's target (the HSM
keeps at least 70 % of the software vault's rate for the batch API and for signHash):

(a) the naive reference: per document ``SimpleSigner.load`` of the key and certificate from PEM
    files, then ``signers.sign_pdf`` (B-B). Software vault only: the device does not export the
    key; the PKCS#11 run compares with the software run's (a);
(b) our signer in process: one ``signature_authorize`` (PIN + OTP, ``num_signatures=N``), then one
    ``signature_sign_documents`` of the N documents — B-B, and B-T with the internal TSA;
(c) end to end over HTTP against ``gunicorn config.wsgi`` (2 sync workers, warmed up with
    OAuth2 tokens before anything is timed: :meth:`Gunicorn.warm`) and one real Celery
    worker (``tests.integration.conftest.Worker``: solo pool, one process), on the test database and
    the configured broker: the native exam-records batch API — OAuth2 token →
    ``/api/v1/batch/authorize`` (PIN + OTP bound to the SHA-256 of the N PDFs) →
    ``/api/v1/batch/sign`` with the N PDFs (above ``SIGNING_BATCH_SYNC_LIMIT``: 202 and a job) →
    ``/api/v1/batch/jobs/<id>`` polled every 0.1 s until done, the signed PDFs in its answer; B-B,
    then B-T. Alongside, for comparison, the same documents through CSC v2
    ``credentials/authorize`` + ``signatures/signDoc`` (synchronous, in as few calls as the body
    limit allows: :func:`_sign_doc_calls`);
(d) CSC v2 ``signatures/signHash`` of 1,000 SHA-256 digests in one call, against a raw
    ``private_key.sign(digest, PKCS1v15(), Prehashed(SHA256()))`` loop over the same digests (on the
    PKCS#11 vault the key opened with the PIN is the device's: one ``C_Sign`` per digest);
peak memory: the high-water RSS (``VmHWM``) of a fresh process that signs the N documents in one
``signature_sign_documents`` call (B-T), of the Celery worker processes after the jobs of (c), and
of the gunicorn workers after (c); the target is checked on the largest.

Each run prints a caveat with its figures: asn1crypto 1.5.1 re-encodes, slowly, a DER structure it
loaded whose length ends in the octet 0x80 (wbond/asn1crypto#249). Which signatures and batches that
hits depends on the sizes of the run's certificates and the random parts of each signature, not on the
vault; :func:`_signatures_0x80` and :func:`_tokens_0x80` count the hits, so that the two runs' B-T
figures can be read side by side.

Knobs (environment): ``BENCH_DOCUMENTS`` (200), ``BENCH_HASHES`` (1000), ``BENCH_VALIDATE`` (how
many signed PDFs of each run to check with :func:`signing.services.validation.pdf_validate`; all
by default). SQLite test database by default (a file, which gunicorn opens too); PostgreSQL when
``DATABASE_URL`` is set. One vault only: ``-k software`` or ``-k pkcs11`` (then no comparison).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import version
from io import BytesIO
from pathlib import Path

import pytest
import requests
from asn1crypto import core
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from django.conf import settings
from django.db import connection
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers

from certificates.services.custody import certificate_key_unlock
from certificates.vault import key_release
from signing.exam_records import exam_records_write
from signing.loops import coroutine_run
from signing.models import Channel
from signing.services import signature_authorize, signature_sign_documents
from signing.services.validation import pdf_validate
from signing.tsa import timestamper_get
from tests.bench.servers import ServerProcess
from tests.certificates.conftest import PIN, ca, ca_hierarchy, pem  # noqa: F401  (fixtures)
from tests.integration.conftest import ROOT, Worker, _database_url, eventually, worker_env, worker_process  # noqa: F401
from tests.signing.conftest import Signer, api_client_for, signer  # noqa: F401  (fixture)

# both_vaults: the test runs on the software vault, then on the PKCS#11 vault (tests/conftest.py).
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.both_vaults]

DOCUMENTS = int(os.environ.get("BENCH_DOCUMENTS", "200"))
HASHES = int(os.environ.get("BENCH_HASHES", "1000"))
VALIDATE = int(os.environ.get("BENCH_VALIDATE", str(DOCUMENTS)))
WORKERS = 2  # gunicorn sync workers, one thread each: the machine's 2 cores
SHA256_OID = "2.16.840.1.101.3.4.2.1"
SHA256_WITH_RSA_OID = "1.2.840.113549.1.1.11"
# The targets: printed as met / not met, never asserted.
TARGET_E2E_OVER_NAIVE = 10.0
TARGET_SIGNHASH_OVER_RAW = 0.5
TARGET_PEAK_MB = 300.0
TARGET_HSM_OVER_SOFTWARE = 0.7  # the PKCS#11 vault's rate over the software vault's: (c) batch API and (d)


# --- Helpers -----------------------------------------------------------------------------------------


def _machine() -> str:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"nproc {os.cpu_count()} · CPU {cpu} · {platform.system()} {platform.release()} · "
        f"Python {platform.python_version()} · pyHanko {version('pyhanko')} · cryptography "
        f"{version('cryptography')} · Django {version('django')} · gunicorn {version('gunicorn')} · "
        f"database {connection.vendor} · load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


def _rate(count: int, seconds: float, unit: str) -> str:
    return f"{count / seconds:9.1f} {unit}/s  ({count} in {seconds:.2f} s)"


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _validated(documents: list[bytes], originals: list[bytes], level: str) -> int:
    """Check the signed PDFs: each an incremental update of its original; the first ``VALIDATE`` (or
    all) validate — intact, valid, trusted, not revoked, at ``level``. Returns how many were validated."""
    assert len(documents) == len(originals)
    for signed, original in zip(documents, originals, strict=True):
        assert signed.startswith(original) and len(signed) > len(original)
    checked = documents[: max(0, VALIDATE)]
    for signed in checked:
        report = pdf_validate(data=signed)
        assert report.signed and len(report.signatures) == 1, report
        sig = report.signatures[0]
        assert report.valid and sig.intact and sig.valid and sig.trusted and not sig.revoked, report
        assert sig.level == level, (sig.level, level)
    return len(checked)


def _vault_env(key_vault: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """What a subprocess (gunicorn, the Celery worker, the peak-memory process) needs to run on the
    test's key vault: the settings the ``key_vault`` fixture switched in this process, as environment."""
    env = {"CA_KEY_VAULT_BACKEND": settings.CA_KEY_VAULT_BACKEND}
    if key_vault == "pkcs11":
        token = request.getfixturevalue("softhsm_token")
        env |= {"CA_HSM_MODULE": settings.CA_HSM_MODULE, "CA_HSM_TOKEN_LABEL": settings.CA_HSM_TOKEN_LABEL,
                "CA_HSM_PIN": settings.CA_HSM_PIN, "SOFTHSM2_CONF": token.conf}
    return env


def _subprocess_env(vault_env: dict[str, str], **extra: str) -> dict[str, str]:
    """The environment of a server-side subprocess: ours, the test database, the test's vault."""
    base = {k: v for k, v in os.environ.items() if k != "CA_HSM_PIN_FILE"}  # CA_HSM_PIN comes with the vault
    return {**base, "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "config.settings_test",
            "DJANGO_DEBUG": "true", **vault_env, **extra}


def _vault_name(key_vault: str) -> str:
    if key_vault != "pkcs11":
        return "software vault"
    try:
        softhsm = subprocess.run(["softhsm2-util", "--version"], capture_output=True, text=True, timeout=10,
                                 check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        softhsm = "?"
    return (f"PKCS#11 vault, SoftHSM2 {softhsm} token {settings.CA_HSM_TOKEN_LABEL!r} "
            f"({settings.CA_HSM_MODULE})")


TOKEN_SAMPLES = 200


def _tokens_0x80(samples: int = TOKEN_SAMPLES) -> int:
    """How many of ``samples`` tokens of this run's TSA, asked for as pyHanko asks, have a DER length
    ending in the octet 0x80 (2944 = 0x0B80 bytes, say). asn1crypto 1.5.1 takes such a header for an
    indefinite length and re-encodes the token whenever it is dumped (wbond/asn1crypto#249): on this
    machine about 0.3 s more for a B-T document whose token has such a length (against 10 ms), and
    about 4.5 s more for a B-T batch whose size estimate (pyHanko's dry run, once per batch, not in
    the PDFs) draws one. Token sizes vary by a few bytes (ECDSA signature, serial, nonce) around a
    size fixed by the CA's certificates, so the share differs from one CA to the next — each vault's
    run has a CA of its own."""
    timestamper = timestamper_get()
    hits = 0
    for n in range(samples):
        _nonce, request = timestamper.request_cms(hashlib.sha256(b"%d" % n).digest(), "sha256")
        token = coroutine_run(timestamper.async_request_tsa_response(request))["time_stamp_token"]
        hits += _ends_0x80(len(token.contents))
    return hits


def _der_length(element: bytes) -> int:
    first = element[1]
    if first < 0x80:
        return first
    return int.from_bytes(element[2:2 + (first & 0x7F)], "big")


def _ends_0x80(length: int) -> bool:
    """A long-form DER length whose last octet is 0x80: what asn1crypto#249 takes for an indefinite one."""
    return length >= 0x80 and length & 0xFF == 0x80


def _signatures_0x80(signed: list[bytes]) -> int:
    """How many of the signed PDFs have a signature (CMS) or a signature timestamp token whose DER
    length ends in 0x80. pyHanko dumps the CMS it is given and our signer dumps the token: asn1crypto
    then re-encodes what it loaded, measured here at ~0.3 s for a token, 0.3 s for a B-B CMS and
    ~2 minutes for a B-T CMS (5.7 KB, the token nested in it), instead of microseconds."""
    hits = 0
    for data in signed:
        signature = PdfFileReader(BytesIO(data), strict=False).embedded_signatures[-1]
        lengths = [_der_length(signature.pkcs7_content)]
        unsigned = signature.signer_info["unsigned_attrs"]
        if not isinstance(unsigned, core.Void):  # not .native: that re-encodes a hit token (seconds)
            lengths += [len(a["values"][0].contents) for a in unsigned
                        if a["type"].native == "signature_time_stamp_token"]
        hits += any(map(_ends_0x80, lengths))
    return hits


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Gunicorn(ServerProcess):
    """``gunicorn config.wsgi`` on a free port, against the test database."""

    def __init__(self, log_path: Path, queue: str, vault_env: dict[str, str]) -> None:
        self.queue = queue  # the queue prefix of the jobs it creates: the bench's Celery worker listens there
        self.vault_env = vault_env  # the test's key vault (:func:`_vault_env`)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = _subprocess_env(self.vault_env, CELERY_QUEUE_PREFIX=self.queue)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(WORKERS), "--threads", "1", "--timeout", "900", "--log-level", "info"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()

        def up() -> bool:
            try:
                return requests.post(f"{self.url}/csc/v2/info", json={}, timeout=5).status_code == 200
            except requests.RequestException:
                return False

        assert eventually(up, timeout=90, interval=0.5), self.log()[-3000:]
        assert eventually(lambda: len(self.workers()) == WORKERS, timeout=30), self.log()[-3000:]

    def workers(self) -> list[int]:
        return _children(self.process.pid) if self.process is not None else []

    def warm(self, client_id: str, secret: str) -> None:
        """An OAuth2 token for each worker before anything is timed: a worker's first such request
        takes about a second (one worker only has answered ``start``'s check), and whichever timed
        step landed on the cold worker — in either vault's run — carried it. With sync workers,
        concurrent requests reach both."""
        def token(_n: int) -> int:
            return requests.post(f"{self.url}/oauth2/token", data={"grant_type": "client_credentials"},
                                 auth=(client_id, secret), timeout=60).status_code

        with ThreadPoolExecutor(max_workers=2 * WORKERS) as pool:
            for _round in range(2):
                assert set(pool.map(token, range(2 * WORKERS))) == {200}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _sign_doc_calls(documents: list[bytes]) -> list[list[bytes]]:
    """The documents in one signDoc call, or in as few calls as fit the documents' body limit
    (``API_MAX_DOCUMENT_REQUEST_BYTES``, 64 MiB; all under one SAD: the activation counts down)."""
    budget = settings.API_MAX_DOCUMENT_REQUEST_BYTES - 64 * 1024  # the JSON around the documents
    calls: list[list[bytes]] = [[]]
    size = 0
    for data in documents:
        item = 4 * ((len(data) + 2) // 3) + 160  # base64 and the document's other members
        if calls[-1] and size + item > budget:
            calls.append([])
            size = 0
        calls[-1].append(data)
        size += item
    return calls


class ApiSession:
    """JSON calls to the server under test; anything but the expected status fails the bench."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()

    def token(self, client_id: str, secret: str) -> str:
        response = self.session.post(f"{self.url}/oauth2/token", data={"grant_type": "client_credentials"},
                                     auth=(client_id, secret), timeout=60)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def post(self, path: str, body: dict, token: str, expect: tuple[int, ...] = (200,)) -> dict:
        response = self.session.post(f"{self.url}{path}", json=body, headers={"Authorization": f"Bearer {token}"},
                                     timeout=900)
        assert response.status_code in expect, (path, response.status_code, response.text[:2000])
        return response.json()

    def get(self, url: str, token: str) -> dict:
        response = self.session.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=900)
        assert response.status_code == 200, (url, response.status_code, response.text[:2000])
        return response.json()


@dataclass
class Job:
    """One batch through the native API, timed step by step."""

    seconds: float  # end to end: token to the last signed PDF in hand
    steps: dict[str, float]
    polls: int
    signed: list[bytes]

    def breakdown(self) -> str:
        return "of which " + ", ".join(f"{k} {v:.2f} s" for k, v in self.steps.items()) + f" ({self.polls} polls)"


def _batch_job(client: ApiSession, client_id: str, secret: str, signer: Signer, names: list[str],  # noqa: F811
               documents: list[bytes], level: str) -> Job:
    steps: dict[str, float] = {}
    started = mark = time.perf_counter()

    def step(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        steps[name] = now - mark
        mark = now

    token = client.token(client_id, secret)
    step("token")
    sad = client.post("/api/v1/batch/authorize", {
        "userID": signer.holder.user.username, "credentialID": signer.certificate.iut, "PIN": PIN,
        "OTP": signer.otp(),
        "documents": [{"name": n, "sha256": hashlib.sha256(d).hexdigest()} for n, d in zip(names, documents,
                                                                                            strict=True)],
    }, token)["SAD"]
    step("authorize")
    state = client.post("/api/v1/batch/sign", {
        "credentialID": signer.certificate.iut, "SAD": sad, "level": level, "reason": "Verbalizzazione",
        "documents": [{"name": n, "content": _b64(d)} for n, d in zip(names, documents, strict=True)],
    }, token, expect=(200, 202))  # a job (202) above SIGNING_BATCH_SYNC_LIMIT, else signed at once
    polls = 0
    if "job" in state:
        step("sign (202)")
        job_url = state["job"]
        while True:
            polls += 1
            state = client.get(job_url, token)
            if state["state"] not in ("queued", "running"):
                break
            time.sleep(0.1)
        assert state["state"] == "done", state
        step("job until done + results")
    else:
        step("sign (200, synchronous)")
    assert [d["name"] for d in state["documents"]] == names
    return Job(seconds=time.perf_counter() - started, steps=steps, polls=polls,
               signed=[base64.b64decode(d["content"]) for d in state["documents"]])


# A separate process that signs one batch through the service, as a worker would, and reports its
# peak RSS: the figure is the batch's alone, not that of whatever else a long-lived worker has done.
_PEAK_SCRIPT = """
import json, os, sys
from pathlib import Path
import django


def hwm_kb():  # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forking (pytest) process
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])


django.setup()
from certificates.models import Certificate
from signing.services import signature_sign_documents
documents = [p.read_bytes() for p in sorted(Path(os.environ["BENCH_RECORDS_DIR"]).glob("*.pdf"))]
certificate = Certificate.objects.get(pk=int(os.environ["BENCH_CERTIFICATE"]))
before = hwm_kb()
signed = signature_sign_documents(sad_token=os.environ["BENCH_SAD"], documents=documents, certificate=certificate,
                                  level=os.environ["BENCH_LEVEL"])
assert len(signed) == len(documents)
peak = hwm_kb()
print(json.dumps({"documents": len(signed), "before_kb": before, "peak_kb": peak}))
"""


def _batch_peak_mb(*, records: Path, certificate_pk: int, sad: str, level: str,
                   vault_env: dict[str, str]) -> tuple[int, float, float]:
    """(documents signed, peak RSS before signing, peak RSS after) in MB of a fresh process."""
    env = _subprocess_env(vault_env, BENCH_RECORDS_DIR=str(records), BENCH_CERTIFICATE=str(certificate_pk),
                          BENCH_SAD=sad, BENCH_LEVEL=level)
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", _PEAK_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    return figures["documents"], figures["before_kb"] / 1024, figures["peak_kb"] / 1024


# --- The two vaults side by side ----------------------------------------------------------------------


@dataclass
class VaultRun:
    """The rates (per second) of one vault's run, kept for the comparison after both runs."""

    name: str
    rates: dict[str, float] = field(default_factory=dict)
    tokens_0x80: int = 0  # of TOKEN_SAMPLES: see :func:`_tokens_0x80`
    signatures_0x80: dict[str, int] = field(default_factory=dict)  # per batch: see :func:`_signatures_0x80`

    def caveat(self) -> str:
        return (f"{', '.join(f'{k} {v}/{DOCUMENTS}' for k, v in self.signatures_0x80.items())} signatures; "
                f"{self.tokens_0x80}/{TOKEN_SAMPLES} sampled TSA tokens")


# (measurement, unit, whether the issue's ≥ 70 % target applies to it)
COMPARED = (
    ("(b) in process, B-B", "doc", False),
    ("(b) in process, B-T", "doc", False),
    ("(c) batch API end to end, B-B", "doc", True),
    ("(c) batch API end to end, B-T", "doc", True),
    ("(c) CSC signDoc, B-B", "doc", False),
    ("(d) CSC signHash, one call", "hash", True),
    ("(d) raw sign loop, in process", "hash", False),
)


def _comparison(runs: dict[str, VaultRun]) -> str:
    software, hsm = runs["software"], runs["pkcs11"]
    lines = [
        f"=== key vaults side by side: {DOCUMENTS} documents, {HASHES} hashes, holder key RSA-2048 on both ===",
        f"software: {software.name}",
        f"PKCS#11:  {hsm.name}",
        f"{'measurement':<32}{'software':>14}{'PKCS#11':>14}{'PKCS#11/software':>18}   "
        f"target ≥ {TARGET_HSM_OVER_SOFTWARE:.0%}",
    ]
    for label, unit, targeted in COMPARED:
        ratio = hsm.rates[label] / software.rates[label]
        verdict = _met(ratio >= TARGET_HSM_OVER_SOFTWARE) if targeted else "(reference, no target)"
        lines.append(f"{label:<32}{software.rates[label]:>9.1f} {unit:<4}{hsm.rates[label]:>9.1f} {unit:<4}"
                     f"{ratio:>17.1%}    {verdict}")
    lines += [
        "caveat, not the vault: asn1crypto#249 re-encodes a loaded DER structure whose length ends in 0x80 — here "
        "~0.3 s per signature whose timestamp token has one, 0.3 s (B-B) to ~2 min (B-T) whose whole CMS has one,",
        "~4.5 s per B-T batch whose size estimate draws such a token. Hit:",
        f"  software: {software.caveat()}",
        f"  PKCS#11:  {hsm.caveat()}",
    ]
    lines.append(f"(rates per second; machine: {_machine()})")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def vault_runs() -> Iterator[dict[str, VaultRun]]:
    """Each vault's run adds its rates; once both have run, the comparison is printed."""
    runs: dict[str, VaultRun] = {}
    yield runs
    if {"software", "pkcs11"} <= runs.keys():
        print(f"\n{_comparison(runs)}\n")


# --- The benchmark -----------------------------------------------------------------------------------


@pytest.fixture
def world(world):  # noqa: ANN001, ANN201
    """The bench's holder keeps an RSA-2048 key (now a legacy choice: new organizations get ECDSA
    P-256), so its figures stay comparable with the raw RSA-2048 reference of (d) and earlier runs."""
    world.alpha.organization.key_algorithm = "rsa-2048"
    world.alpha.organization.save(update_fields=["key_algorithm"])
    return world


def test_signing_benchmark(signer: Signer, world, worker_process: Worker, tmp_path: Path, key_vault: str,  # noqa: ANN001, F811
                           vault_runs: dict[str, VaultRun], request: pytest.FixtureRequest) -> None:
    certificate = signer.certificate
    cert = x509.load_der_x509_certificate(bytes(certificate.der))
    public_key = cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size == 2048, "the bench expects RSA-2048"
    vault_env = _vault_env(key_vault, request)
    run = vault_runs[key_vault] = VaultRun(name=_vault_name(key_vault))
    print(f"\n=== signing benchmark on the {run.name}: {DOCUMENTS} exam records, {HASHES} hashes, "
          f"{connection.vendor} ===")
    print(f"holder key: RSA-2048 (pinned on both vaults); machine: {_machine()}")

    paths, make_seconds = exam_records_write(count=DOCUMENTS, directory=tmp_path / "records")
    originals = [path.read_bytes() for path in paths]
    mean_kb = sum(map(len, originals)) / len(originals) / 1024
    print(f"exam records: {DOCUMENTS} one-page PDFs by WeasyPrint in {make_seconds:.1f} s, {mean_kb:.1f} KiB each")

    # The holder's key opened with the PIN: a software key, or the device's (a session object) on PKCS#11.
    private_key = certificate_key_unlock(certificate=certificate, pin=PIN)

    # (a) The naive reference: the key and certificate read from PEM files for every document. Only
    # where the key can be written to a file: the device does not export it (the software run's (a)).
    naive: list[bytes] = []
    naive_seconds: float | None = None
    naive_rate: float | None = None  # documents/s of (a): this run's, or the software run's
    if key_vault == "software":
        key_pem = tmp_path / "key.pem"
        key_pem.write_bytes(private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        cert_pem = tmp_path / "cert.pem"
        cert_pem.write_bytes(pem(bytes(certificate.der)))
        chain_pem = tmp_path / "issuer.pem"
        chain_pem.write_bytes(pem(bytes(certificate.issuer.der)))
        started = time.perf_counter()
        for n, data in enumerate(originals):
            simple = signers.SimpleSigner.load(str(key_pem), str(cert_pem), ca_chain_files=(str(chain_pem),))
            meta = signers.PdfSignatureMetadata(field_name=f"Firma-{n}", md_algorithm="sha256",
                                                subfilter=fields.SigSeedSubFilter.PADES)
            naive.append(signers.sign_pdf(IncrementalPdfFileWriter(BytesIO(data)), meta, signer=simple).getvalue())
        naive_seconds = time.perf_counter() - started
        naive_rate = DOCUMENTS / naive_seconds
    elif "software" in vault_runs:
        naive_rate = vault_runs["software"].rates["(a) naive pyHanko"]

    # (b) Our signer in process: one authorization, one batch; B-B, then B-T with the internal TSA.
    inprocess: dict[str, tuple[float, list[bytes]]] = {}
    for level in ("B-B", "B-T"):
        started = time.perf_counter()
        _activation, sad = signature_authorize(
            holder=signer.holder, certificate=certificate, pin=PIN, otp_code=signer.otp(), otp_device=signer.device,
            num_signatures=DOCUMENTS, channel=Channel.PANEL,
        )
        signed = signature_sign_documents(sad_token=sad, documents=originals, certificate=certificate, level=level)
        inprocess[level] = (time.perf_counter() - started, signed)

    # Peak memory of one process signing the whole batch (B-T: the heaviest of the two levels measured).
    _activation, sad = signature_authorize(
        holder=signer.holder, certificate=certificate, pin=PIN, otp_code=signer.otp(), otp_device=signer.device,
        num_signatures=DOCUMENTS, channel=Channel.PANEL,
    )
    peak_documents, rss_before_mb, batch_peak_mb = _batch_peak_mb(
        records=tmp_path / "records", certificate_pk=certificate.pk, sad=sad, level="B-T", vault_env=vault_env)
    assert peak_documents == DOCUMENTS

    # (c) and (d) over HTTP against gunicorn, the batch jobs run by a real Celery worker.
    api_client, secret = api_client_for(world.alpha, scopes=("csc", "batch"))
    server = Gunicorn(tmp_path / "gunicorn.log", queue=worker_process.queue, vault_env=vault_env)
    digests = [hashlib.sha256(f"bench hash {n}".encode()).digest() for n in range(HASHES)]
    names = [path.name for path in paths]
    jobs: dict[str, Job] = {}
    try:
        worker_process.start(*vault_env.items())  # the fixture's worker, on this run's vault
        server.start()
        hwm_boot = max(_vm_hwm_mb(pid) for pid in server.workers())
        server.warm(api_client.application.client_id, secret)
        client = ApiSession(server.url)
        sign_doc_calls = _sign_doc_calls(originals)
        token = client.token(api_client.application.client_id, secret)

        # (c) the native batch API: authorize, sign (a job above the synchronous limit), poll, results.
        for level in ("B-B", "B-T"):
            jobs[level] = _batch_job(client, api_client.application.client_id, secret, signer, names, originals,
                                     level)

        # (c) alongside: CSC v2 signDoc with the same documents.
        started = time.perf_counter()
        sad = client.post("/csc/v2/credentials/authorize", {
            "credentialID": certificate.iut, "numSignatures": DOCUMENTS, "hashAlgorithmOID": SHA256_OID,
            "hashes": [_b64(hashlib.sha256(d).digest()) for d in originals],
            "authData": [{"id": "PIN", "value": PIN}, {"id": "OTP", "value": signer.otp()}],
        }, token)["SAD"]
        over_sign_doc: list[bytes] = []
        for chunk in sign_doc_calls:
            body = client.post("/csc/v2/signatures/signDoc", {
                "credentialID": certificate.iut, "SAD": sad,
                "documents": [{"document": _b64(d), "signature_format": "P", "conformance_level": "Ades-B-B",
                               "signAlgo": SHA256_WITH_RSA_OID} for d in chunk],
            }, token)
            over_sign_doc += [base64.b64decode(d) for d in body["DocumentWithSignature"]]
        sign_doc_seconds = time.perf_counter() - started
        hwm_gunicorn = {pid: _vm_hwm_mb(pid) for pid in server.workers()}
        hwm_celery = {pid: _vm_hwm_mb(pid) for pid in [worker_process.process.pid, *_children(
            worker_process.process.pid)]}

        # (d) signHash of the digests in one call.
        started = time.perf_counter()
        sad = client.post("/csc/v2/credentials/authorize", {
            "credentialID": certificate.iut, "numSignatures": HASHES, "hashAlgorithmOID": SHA256_OID,
            "hashes": [_b64(d) for d in digests],
            "authData": [{"id": "PIN", "value": PIN}, {"id": "OTP", "value": signer.otp()}],
        }, token)["SAD"]
        hash_authorize_seconds = time.perf_counter() - started
        started = time.perf_counter()
        signatures = client.post("/csc/v2/signatures/signHash", {
            "credentialID": certificate.iut, "SAD": sad, "hashes": [_b64(d) for d in digests],
            "hashAlgorithmOID": SHA256_OID, "signAlgo": SHA256_WITH_RSA_OID,
        }, token)["signatures"]
        sign_hash_seconds = time.perf_counter() - started
    finally:
        server.stop()

    # The raw RSA reference, with the same key over the same digests, the server stopped (on PKCS#11:
    # one C_Sign per digest with the session object, then destroyed as after a batch).
    prehashed = utils.Prehashed(hashes.SHA256())
    started = time.perf_counter()
    raw = [private_key.sign(d, padding.PKCS1v15(), prehashed) for d in digests]
    raw_seconds = time.perf_counter() - started
    key_release(private_key)
    run.tokens_0x80 = _tokens_0x80()
    run.signatures_0x80 = {
        "(b) B-B": _signatures_0x80(inprocess["B-B"][1]), "(b) B-T": _signatures_0x80(inprocess["B-T"][1]),
        "(c) B-B": _signatures_0x80(jobs["B-B"].signed), "(c) B-T": _signatures_0x80(jobs["B-T"].signed),
    }

    # --- Correctness (asserted) ---
    validated = {
        **({"(a) naive": _validated(naive, originals, "B-B")} if naive else {}),
        "(b) B-B": _validated(inprocess["B-B"][1], originals, "B-B"),
        "(b) B-T": _validated(inprocess["B-T"][1], originals, "B-T"),
        "(c) batch B-B": _validated(jobs["B-B"].signed, originals, "B-B"),
        "(c) batch B-T": _validated(jobs["B-T"].signed, originals, "B-T"),
        "(c) signDoc": _validated(over_sign_doc, originals, "B-B"),
    }
    assert len(signatures) == HASHES
    for digest, signature in zip(digests, signatures, strict=True):
        try:
            public_key.verify(base64.b64decode(signature), digest, padding.PKCS1v15(), prehashed)
        except InvalidSignature:  # pragma: no cover - the assertion below says which
            pytest.fail(f"signHash signature over {digest.hex()} does not verify")
    assert [base64.b64decode(s) for s in signatures] == raw, "PKCS#1 v1.5 is deterministic: same key, same bytes"

    # --- Figures (printed, not asserted) ---
    e2e = jobs["B-B"]
    e2e_rate = DOCUMENTS / e2e.seconds

    def over_naive(seconds: float) -> str:
        return f"→ {DOCUMENTS / seconds / naive_rate:5.1f}× (a)" if naive_rate else "→   n/a (a)"

    if naive_seconds is not None:
        naive_line = _rate(DOCUMENTS, naive_seconds, "doc")
    elif naive_rate is not None:
        naive_line = f"not run (the device does not export the key): the software run's {naive_rate:.1f} doc/s"
    else:
        naive_line = "not run (the device does not export the key; no software run to compare with)"
    e2e_target = (
        f"{e2e_rate / naive_rate:6.1f}×   target ≥ {TARGET_E2E_OVER_NAIVE:.0f}×   "
        f"{_met(e2e_rate / naive_rate >= TARGET_E2E_OVER_NAIVE)}" if naive_rate else "   n/a   (no (a) to compare with)"
    )
    raw_label = "raw RSA-2048 PKCS#1 v1.5 sign loop, in process" if key_vault == "software" else (
        "raw sign loop, device key (one C_Sign per digest)")
    sign_hash_rate, raw_rate = HASHES / sign_hash_seconds, HASHES / raw_seconds
    gunicorn_peak_mb, celery_peak_mb = max(hwm_gunicorn.values()), max(hwm_celery.values())
    peak_mb = max(batch_peak_mb, gunicorn_peak_mb, celery_peak_mb)
    bb_seconds, bt_seconds = inprocess["B-B"][0], inprocess["B-T"][0]
    hash_total_seconds = hash_authorize_seconds + sign_hash_seconds
    calls_note = (
        "one signDoc call" if len(sign_doc_calls) == 1 else
        f"{len(sign_doc_calls)} signDoc calls under one SAD (API_MAX_DOCUMENT_REQUEST_BYTES caps one call)"
    )
    print(f"""
--- figures, {run.name}: {DOCUMENTS} documents, {HASHES} hashes ---
(a) naive pyHanko, SimpleSigner.load per document, B-B  {naive_line}
(b) in process, authorize + sign_documents, B-B         {_rate(DOCUMENTS, bb_seconds, "doc")}   \
{over_naive(bb_seconds)}
(b) in process, authorize + sign_documents, B-T (TSA)   {_rate(DOCUMENTS, bt_seconds, "doc")}   \
{over_naive(bt_seconds)}
(c) batch API over HTTP (gunicorn + Celery worker), token + authorize + sign (job) + poll + results
      end to end, B-B                                   {_rate(DOCUMENTS, e2e.seconds, "doc")}   \
{over_naive(e2e.seconds)}
      {e2e.breakdown()}
      end to end, B-T                                   {_rate(DOCUMENTS, jobs["B-T"].seconds, "doc")}   \
{over_naive(jobs["B-T"].seconds)}
      {jobs["B-T"].breakdown()}
    CSC v2 authorize + signDoc over HTTP, B-B            {_rate(DOCUMENTS, sign_doc_seconds, "doc")}   \
{over_naive(sign_doc_seconds)}  ({calls_note})
    caveat (asn1crypto#249: a DER length ending in 0x80, slow to re-encode) in {run.caveat()}
(d) CSC signHash, one call                              {_rate(HASHES, sign_hash_seconds, "hash")}
      with its authorize                                {_rate(HASHES, hash_total_seconds, "hash")}
    {raw_label:<52}{_rate(HASHES, raw_seconds, "hash")}
peak RSS, one process signing the {DOCUMENTS}-document batch (B-T) {batch_peak_mb:9.1f} MB  \
(VmHWM; {rss_before_mb:.1f} MB before signing, documents loaded)
peak RSS of the Celery worker after the jobs of (c)     {celery_peak_mb:9.1f} MB
peak RSS of the gunicorn workers after (c)              {gunicorn_peak_mb:9.1f} MB  (at boot: {hwm_boot:.1f} MB; \
VmHWM per worker {", ".join(f"{v:.1f}" for v in hwm_gunicorn.values())})

--- targets ---
(c) / (a) documents/s       {e2e_target}
(d) / raw sign loop hashes/s{sign_hash_rate / raw_rate:6.1%}   target ≥ {TARGET_SIGNHASH_OVER_RAW:.0%}   \
{_met(sign_hash_rate / raw_rate >= TARGET_SIGNHASH_OVER_RAW)}
peak memory (largest)       {peak_mb:6.1f} MB target < {TARGET_PEAK_MB:.0f} MB   {_met(peak_mb < TARGET_PEAK_MB)}

--- correctness ---
signed PDFs validated (intact, valid, trusted, not revoked, level): \
{", ".join(f"{k} {v}/{DOCUMENTS}" for k, v in validated.items())}
every signed PDF an incremental update of its original: yes
signHash signatures verified with the certificate's public key: {len(signatures)}/{HASHES} (and equal to the raw loop's)
machine: {_machine()}
""")
    run.rates |= {
        "(a) naive pyHanko": naive_rate or 0.0,
        "(b) in process, B-B": DOCUMENTS / bb_seconds,
        "(b) in process, B-T": DOCUMENTS / bt_seconds,
        "(c) batch API end to end, B-B": e2e_rate,
        "(c) batch API end to end, B-T": DOCUMENTS / jobs["B-T"].seconds,
        "(c) CSC signDoc, B-B": DOCUMENTS / sign_doc_seconds,
        "(d) CSC signHash, one call": sign_hash_rate,
        "(d) raw sign loop, in process": raw_rate,
    }
