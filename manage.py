#!/usr/bin/env python
"""Django's command-line tool.

It is the developer's entry point, so it defaults to the embedded development settings
(``DJANGO_DEBUG=true``: generated secret key under ``var/``, SQLite, no HTTPS-only cookies). The
processes that serve users never start from here: gunicorn loads ``config/wsgi.py`` and Celery
``config/celery.py``, which default to production (DEBUG off, secret key and hosts required).
Production commands (``migrate``, ``collectstatic``…) run with ``DJANGO_DEBUG=false`` set, as in
``docker-compose.yml``.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_DEBUG", "true")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
