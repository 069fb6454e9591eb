from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy

from accounts.services.second_factor import admin_site_has_permission
from accounts.views.auth import admin_login_view
from portal.urls import auth_patterns, console_patterns, panel_patterns
from portal.views.health import liveness_view, readiness_view
from portal.views.metrics import metrics_view

# Platform admins log in through the same throttled, audited login as everyone else, and Django
# admin answers only a session that completed the second factor.
admin.site.login = admin_login_view  # type: ignore[method-assign]  # replaced on purpose, see above
admin.site.has_permission = admin_site_has_permission  # type: ignore[method-assign]  # idem
admin.site.site_header = gettext_lazy("Remote signature – platform administration")
admin.site.site_title = gettext_lazy("Remote signature – platform administration")

# An unreachable database or key device anywhere in a request is a 503 to retry, not a 500.
handler500 = "config.errors.server_error"

urlpatterns = [
    path("healthz", liveness_view, name="healthz"),
    path("readyz", readiness_view, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path(settings.ADMIN_URL, admin.site.urls),
    path("", include("signing.api.urls")),
    path("", include("notifications.webhooks")),
    path("", include("certificates.urls")),
    path("", include("certificates.urls_activation")),
    path("", include("signing.urls")),
    path("rinnovo/", include("renewal.urls")),
    path("operatore/", include(console_patterns)),
    path("", include("otp.urls")),
    path("", include(auth_patterns)),
    path("", include(panel_patterns)),
]

if settings.DEVELOPER_MAILBOX:  # never reachable in production: the mailbox shows codes and links
    urlpatterns.insert(0, path("sviluppo/", include("notifications.urls")))
