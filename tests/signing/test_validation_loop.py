"""Validation gives the same answer from a thread that already runs an asyncio loop (ASGI, a test driving
a browser): pyHanko's own loop cannot nest there, and that must not read as an invalid signature."""

from __future__ import annotations

import pytest

from signing.services import pdf_validate, signature_sign_documents
from tests.conftest import run_coroutine
from tests.signing.conftest import authorize


# Committed data: the validation thread has its own database connection, as in a server.
@pytest.mark.django_db(transaction=True)
def test_signing_and_validation_work_inside_a_running_event_loop(signer, pdf, monkeypatch):
    # As in the browser journeys: a loop runs in this thread and Django is told that the calls made
    # from it are really synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    _activation, token = authorize(signer)

    async def inside_a_loop():
        (signed,) = signature_sign_documents(sad_token=token, documents=[pdf], certificate=signer.certificate,
                                             level="B-T")
        return pdf_validate(data=signed)

    report = run_coroutine(inside_a_loop())
    (signature,) = report.signatures
    assert signature.intact and signature.valid and signature.trusted
