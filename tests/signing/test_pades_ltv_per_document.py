"""B-LT and B-LTA carry revocation data made for each document after its signature timestamp: a batch
that lasts longer than an OCSP answer is valid still validates, document by document.

The clock is moved between two documents of one batch (the clock the OCSP responder, the internal TSA
and pyHanko's validation context read): the second document is signed 75 s after the first, with OCSP
answers valid one minute.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from io import BytesIO

import pyhanko_certvalidator.context
import pytest
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from django.utils import timezone
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import RevocationInfoValidationType, validate_pdf_ltv_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore

from certificates.models import AuthorityRole
from certificates.services import certificate_key_unlock
from signing import tsa
from signing.pades import PadesBatch
from signing.revinfo import trust_material
from tests.signing.conftest import PIN, active, pdf_make

# Both key vaults; pyHanko's LTV validator warns about its own deprecations.
pytestmark = [pytest.mark.both_vaults, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

GAP = timedelta(seconds=75)


class Clock:
    """What the OCSP responder (``timezone.now``), the internal TSA and pyHanko's validation context
    (``datetime.now``) read, ``offset`` ahead of the real time."""

    offset = timedelta(0)

    def now(self) -> datetime:
        return real_now() + self.offset


real_now = timezone.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    shifted = Clock()

    class ShiftedDatetime(datetime):
        @classmethod
        def now(cls, tz=None):  # noqa: ANN001, ANN206
            return datetime.now(tz) + shifted.offset

    monkeypatch.setattr(timezone, "now", shifted.now)
    monkeypatch.setattr(tsa, "datetime", ShiftedDatetime)
    monkeypatch.setattr(pyhanko_certvalidator.context, "datetime", ShiftedDatetime)
    return shifted


def _signature_time(data: bytes) -> datetime:
    signature = PdfFileReader(BytesIO(data)).embedded_signatures[0]
    tst_info = signature.attached_timestamp_data["encap_content_info"]["content"].parsed
    return tst_info["gen_time"].native


def _ocsp_this_updates(data: bytes) -> list[datetime]:
    dss = DocumentSecurityStore.read_dss(PdfFileReader(BytesIO(data)))
    moments = []
    for answer in dss.ocsps:
        basic = asn1_ocsp.OCSPResponse.load(answer.get_object().data)["response_bytes"]["response"].parsed
        moments += [single["this_update"].native for single in basic["tbs_response_data"]["responses"]]
    return moments


def _validate_ltv(data: bytes, ca, kind: RevocationInfoValidationType, moment: datetime) -> object:
    root = asn1_x509.Certificate.load(bytes(ca[AuthorityRole.ROOT].der))
    signature = PdfFileReader(BytesIO(data)).embedded_signatures[0]
    return validate_pdf_ltv_signature(
        signature, kind,
        validation_context_kwargs={"trust_roots": [root], "allow_fetching": False, "revocation_mode": "hard-fail"},
        bootstrap_validation_context=trust_material().validation_context(moment=moment),
    )


@pytest.mark.parametrize("level", ["B-LT", "B-LTA"])
def test_a_batch_longer_than_the_ocsp_validity_embeds_ocsp_answers_made_after_each_signature_timestamp(
    world, ca, settings, clock, level
):
    settings.CA_OCSP_VALIDITY_MINUTES = 1
    certificate = active(world.alpha.holder)
    key = certificate_key_unlock(certificate=certificate, pin=PIN)

    # Two chunks of one batch, as a job signs them, the second one 75 s later.
    with PadesBatch(private_key=key, certificate=certificate, level=level) as batch:
        (first,) = batch.sign([pdf_make("Verbale 1")])
        clock.offset = GAP
        (second,) = batch.sign([pdf_make("Verbale 2")])

    kind = RevocationInfoValidationType.PADES_LTA if level == "B-LTA" else RevocationInfoValidationType.PADES_LT
    for document in (first, second):
        signed_at = _signature_time(document)
        this_updates = _ocsp_this_updates(document)
        assert len(this_updates) >= 2  # the holder's certificate and the TSA's
        assert all(this_update >= signed_at for this_update in this_updates), (signed_at, this_updates)
        status = _validate_ltv(document, ca, kind, moment=clock.now())
        assert status.bottom_line, status.pretty_print_details()
    assert _signature_time(second) - _signature_time(first) >= GAP
