from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# A key device that cannot be opened (module, token, PIN, a missing mechanism) stops the worker at
# boot with a message naming the setting. (Not with gunicorn --preload: PKCS#11 sessions do not
# survive a fork, so each worker opens its own.)
from certificates.vault import vault_startup_check  # noqa: E402

vault_startup_check()
