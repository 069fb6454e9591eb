"""The panel's signing pages against the engine's interface.

The engine (``signing.services.activation``), the history selector (``signing.selectors``) and the
validator (``signing.services.validation``) are built in another branch. These fixtures put a module
with the agreed interface in ``sys.modules`` for one test, so the pages' own behaviour — form
checks, intake, download, zip, messages — is tested now and keeps being tested after the merge;
``no_engine`` removes the module so the "not available yet" pages stay tested too.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.utils.translation import gettext_lazy as _

from accounts.errors import ApplicationError

ENGINE = "signing.services.activation"
SELECTORS = "signing.selectors"
VALIDATION = "signing.services.validation"
GOOD_PIN = "48213957"  # tests.certificates.conftest.PIN
GOOD_CODE = "424242"


@dataclass
class FakeEngine:
    """Accepts GOOD_PIN + GOOD_CODE; "signs" by appending a marker; records every call."""

    authorize_calls: list[dict[str, Any]] = field(default_factory=list)
    sign_calls: list[dict[str, Any]] = field(default_factory=list)

    def signature_authorize(self, **kwargs: Any) -> tuple[str, str]:
        self.authorize_calls.append(kwargs)
        if kwargs["pin"] != GOOD_PIN:
            raise ApplicationError("invalid_pin", _("The PIN is not correct. 4 attempts left."))
        if kwargs["otp_code"] != GOOD_CODE:
            raise ApplicationError("invalid_otp", _("The code is not correct."))
        return "activation", "sad-token"

    def signature_sign_documents(self, **kwargs: Any) -> list[bytes]:
        self.sign_calls.append(kwargs)
        return [data + b"\n%signed " + name.encode() for data, name in zip(kwargs["documents"], kwargs["names"],
                                                                            strict=True)]


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    fake = FakeEngine()
    module = types.ModuleType(ENGINE)
    module.signature_authorize = fake.signature_authorize  # type: ignore[attr-defined]
    module.signature_sign_documents = fake.signature_sign_documents  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, ENGINE, module)
    return fake


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """As before the merge: importing any of the three modules fails with ModuleNotFoundError."""
    for name in (ENGINE, SELECTORS, VALIDATION):
        monkeypatch.setitem(sys.modules, name, None)


@dataclass
class FakeRecord:
    user_id: int
    document_name: str
    document_sha256: str
    signed_at: Any
    level: str
    channel: str


@pytest.fixture
def history(monkeypatch: pytest.MonkeyPatch) -> list[FakeRecord]:
    """A ``signature_list_for_holder(*, user)`` over a list of records, filtered by the acting user."""
    records: list[FakeRecord] = []
    module = types.ModuleType(SELECTORS)

    def signature_list_for_holder(*, user: Any) -> list[FakeRecord]:
        return [record for record in records if record.user_id == user.pk]

    module.signature_list_for_holder = signature_list_for_holder  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, SELECTORS, module)
    return records


@dataclass
class SignatureReport:
    intact: bool = True
    valid: bool = True
    trusted: bool = True
    revoked: bool = False
    signer: str = "Mario Rossi"
    signing_time: Any = None
    timestamp_time: Any = None
    level: str = "B-T"
    modified_after: bool = False


@dataclass
class ValidationReport:
    signatures: list[SignatureReport] = field(default_factory=list)


@pytest.fixture
def validator(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """``pdf_validate(data=)``: one good signature for data containing ``%signed``, none otherwise."""
    seen: list[bytes] = []
    module = types.ModuleType(VALIDATION)

    def pdf_validate(*, data: bytes) -> ValidationReport:
        seen.append(data)
        if b"%signed" in data:
            return ValidationReport(signatures=[SignatureReport()])
        return ValidationReport()

    module.pdf_validate = pdf_validate  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, VALIDATION, module)
    return seen
