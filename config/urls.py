from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from accounts.urls import auth_patterns, console_patterns, panel_patterns
from accounts.views.auth import admin_login_view

# Platform admins log in through the same throttled, audited login as everyone else.
admin.site.login = admin_login_view  # type: ignore[method-assign]
admin.site.site_header = "Firma remota – amministrazione piattaforma"

urlpatterns = [
    path(settings.ADMIN_URL, admin.site.urls),
    path("", include("notifications.webhooks")),
    path("operatore/", include(console_patterns)),
    path("", include("otp.urls")),
    path("", include(auth_patterns)),
    path("", include(panel_patterns)),
]

if settings.DEVELOPER_MAILBOX:  # never reachable in production: the mailbox shows codes and links
    urlpatterns.insert(0, path("sviluppo/", include("notifications.urls")))
