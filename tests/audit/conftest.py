"""The CA (its TSA timestamps the audit checkpoints), shared with the certificate tests."""

from tests.certificates.conftest import ca, ca_hierarchy  # noqa: F401  (fixtures)
