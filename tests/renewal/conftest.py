"""The CA of the certificate tests, shared with the renewal tests (service messages read in English)."""

from tests.certificates.conftest import ca, ca_hierarchy, english_messages  # noqa: F401  (fixtures)
