from __future__ import annotations

from django.urls import path

from otp.views import panel

app_name = "otp"
urlpatterns = [
    path("dispositivi/verifica/", panel.stepup_view, name="stepup"),
    path("dispositivi/sincronizza/", panel.device_resync_view, name="device_resync"),
    path("dispositivi/smartphone/", panel.app_enrol_view, name="app_enrol"),
    path("dispositivi/smartphone/<str:device_id>/conferma/", panel.app_confirm_view, name="app_confirm"),
    path("dispositivi/sms/", panel.sms_enrol_view, name="sms_enrol"),
    path("dispositivi/<str:device_id>/prova/", panel.device_test_view, name="device_test"),
]
