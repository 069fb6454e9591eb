"""Pytest fixtures of the stubs. Make them visible to every test from ``tests/conftest.py`` with::

    from tests.stubs.fixtures import twilio_stub  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stubs.recaptcha import RecaptchaStub
from tests.stubs.twilio_stub import TwilioStub


@pytest.fixture
def twilio_stub(settings) -> Iterator[TwilioStub]:
    """A running Twilio Messages API stub, with ``SMS_BACKEND`` and ``TWILIO_*`` pointing at it.

    Those settings apply in the test process; a worker process gets them from
    ``worker_process.start(*twilio_stub.worker_env())``.
    """
    stub = TwilioStub().start()
    try:
        for name, value in stub.settings().items():
            setattr(settings, name, value)
        yield stub
    finally:
        stub.stop()


@pytest.fixture
def recaptcha(monkeypatch) -> RecaptchaStub:
    """reCAPTCHA's verify call answered locally (see ``tests/stubs/recaptcha.py``)."""
    stub = RecaptchaStub()
    monkeypatch.setattr("django_recaptcha.client.recaptcha_request", stub)
    return stub
