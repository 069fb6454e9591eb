"""The CA and a holder ready to renew: an active certificate inside the renewal window and an HOTP token."""

from __future__ import annotations

import pytest

from tests.certificates.conftest import ca, ca_hierarchy  # noqa: F401  (fixtures)
from tests.signing.conftest import signer  # noqa: F401  (fixture)


@pytest.fixture
def renewable(world, signer):  # noqa: ANN001, F811
    """alpha's first holder (``signer``) with the renewal window opened wide enough for a fresh certificate."""
    organization = world.alpha.organization
    organization.renewal_window_days = 2000
    organization.save(update_fields=["renewal_window_days"])
    signer.certificate.refresh_from_db()
    return signer
