"""Log lines that would carry secrets are never written, whatever ``LOG_LEVEL`` says.

Some libraries write credentials in their DEBUG lines: oauthlib logs every token response it issues,
access token included ("Issuing token to client id …, {'access_token': …}"), and Django's template
engine logs a failed variable lookup with the repr of the whole page context — which on some pages
holds a one-time secret (an app's enrolment seed, shown once). Celery's pool logs each task it runs
with the raw message (``TaskPool: Apply … args: (…, body)``) — the unmasked arguments that
``kwargsrepr`` hides everywhere else, a batch job's SAD among them; only its truncation at 1024
characters happens to cut the body off today. An operator who turns ``LOG_LEVEL`` to DEBUG to
chase a problem must not thereby put live tokens, seeds or SADs into the log files and whatever
collects them. The filter sits on the handler, so it also covers the libraries' child
loggers (a filter on a parent logger does not see records its children propagate).
"""

from __future__ import annotations

import logging

# Loggers (and their children) whose records below INFO may contain tokens, secrets or codes.
SECRET_BEARING_DEBUG = ("oauthlib", "django.template", "celery.pool")


class SecretBearingDebugFilter(logging.Filter):
    """Drops the DEBUG records of the loggers in ``SECRET_BEARING_DEBUG``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.INFO:
            return True
        return not any(record.name == name or record.name.startswith(name + ".") for name in SECRET_BEARING_DEBUG)
