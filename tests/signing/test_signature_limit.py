"""One limit for the signatures an activation allows: enforced by the service, advertised by CSC."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import ApplicationError
from tests.signing.conftest import authorize

ROOT = Path(__file__).resolve().parent.parent.parent
SETTING = "SIGNING_MAX_SIGNATURES_PER_ACTIVATION"


def _limit_with(**variables: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNING_MAX_SIGNATURES", "SIGNING_BATCH"))}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", DJANGO_DEBUG="true", **variables)
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", f"from django.conf import settings; print(settings.{SETTING})"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True,
    )
    return int(done.stdout.strip())


@pytest.mark.parametrize(
    ("variables", "limit"),
    [
        ({}, 1000),
        ({"SIGNING_MAX_SIGNATURES_PER_ACTIVATION": "40"}, 40),
        ({"SIGNING_BATCH_LIMIT": "30"}, 30),  # the former name, still read
        ({"SIGNING_MAX_SIGNATURES_PER_ACTIVATION": "40", "SIGNING_BATCH_LIMIT": "30"}, 40),
    ],
)
def test_the_limit_is_one_setting_and_its_former_name_is_still_read(variables, limit):
    assert _limit_with(**variables) == limit


def test_csc_advertises_the_limit_the_service_enforces(signer, settings):
    from signing.api.csc.presenters import credential_info

    limit = settings.SIGNING_MAX_SIGNATURES_PER_ACTIVATION
    info = credential_info(signer.certificate, version="v2", certificates="none", cert_info=False, auth_info=False)
    assert info["multisign"] == limit
    with pytest.raises(ApplicationError) as refused:
        authorize(signer, num_signatures=limit + 1)
    assert refused.value.code == "num_signatures_too_high"
    assert not hasattr(settings, "SIGNING_BATCH_LIMIT")
