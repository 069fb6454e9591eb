"""The OpenAPI schema at /api/schema/ is a contract the APIs keep: schemathesis, against a live server on
127.0.0.1 and with a real bearer token, finds no server error, no answer off the documented schema and
no undocumented status code.

Not part of ``make test``: ``make api-check`` runs it (CI: its own step). Bounded and repeatable: a
fixed number of examples per operation (``API_CHECK_MAX_EXAMPLES``), a fixed seed, one worker, and a
time budget for the whole run (``API_CHECK_SECONDS``). Prints the figures: operations, cases, failures.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time

import pytest
import requests

from certificates.models import Certificate
from otp.models import DeviceKind
from otp.services import device_create
from signing.api.csc.fields import EXAMPLE_CREDENTIAL_ID, EXAMPLE_USER_ID
from tests.certificates.conftest import active, load_hierarchy
from tests.signing.conftest import HOTP_SEED, api_client_for

# pytest-django's live server listens where this says (read when the server starts).
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")

MAX_EXAMPLES = int(os.environ.get("API_CHECK_MAX_EXAMPLES", "30"))
SECONDS = int(os.environ.get("API_CHECK_SECONDS", "300"))
SEED = 20260331
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance"


@pytest.mark.django_db(transaction=True)
def test_the_apis_keep_their_openapi_contract(live_server, world, ca_hierarchy, settings, tmp_path):
    load_hierarchy(ca_hierarchy)
    holder = world.alpha.holder
    assert holder.user.username == EXAMPLE_USER_ID
    # The schema's examples name this holder's credential: the examples phase reaches the real answers.
    Certificate.objects.filter(pk=active(holder).pk).update(iut=EXAMPLE_CREDENTIAL_ID)
    device_create(kind=DeviceKind.HARDWARE_HOTP, seed=HOTP_SEED, holder=holder, serial="4000000000001")
    # The checker calls far faster than any real system: the per-client budget would turn most of
    # its cases into (documented) 429s and test nothing else.
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "api_client": "1000000/60s"}
    api_client, secret = api_client_for(world.alpha, scopes=("csc", "batch", "validation"), name="Contract")
    token = requests.post(
        f"{live_server.url}/oauth2/token", data={"grant_type": "client_credentials"},
        auth=(api_client.client_id, secret), timeout=30,
    ).json()["access_token"]

    report = tmp_path / "schemathesis.json"
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{live_server.url}/api/schema/",
        "--checks", CHECKS, "--phases", "examples,coverage,fuzzing", "--mode", "all",
        "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1", "--no-shrink",
        "--header", f"Authorization: Bearer {token}", "--request-timeout", "60",
        "--report", "json", "--report-json-path", str(report),
    ]
    started = time.monotonic()
    quiet = logging.getLogger("django.request")
    level, quiet.level = quiet.level, logging.ERROR  # thousands of expected 4xx; a 500 still shows
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=SECONDS, check=False,  # noqa: S603
                             cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"schemathesis did not finish within API_CHECK_SECONDS={SECONDS}")
    finally:
        quiet.level = level
    elapsed = time.monotonic() - started
    print(run.stdout, run.stderr[-5000:], sep="\n")
    figures = json.loads(report.read_text())
    operations, cases = figures["operations"], figures["test_cases"]
    print(
        f"API contract: {operations['tested']}/{operations['total']} operations, {cases['generated']} cases "
        f"(at most {MAX_EXAMPLES} random ones per operation, seed {SEED}), {cases['unique_failures']} failures, "
        f"{len(figures['errors'])} errors, {elapsed:.0f} s"
    )
    assert run.returncode == 0 and operations["tested"] == operations["total"] == 27, "see schemathesis' report above"
    assert cases["unique_failures"] == 0 and not figures["errors"]
