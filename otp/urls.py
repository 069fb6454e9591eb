from __future__ import annotations

from django.urls import path

from otp import views, views_devices

app_name = "otp"
urlpatterns = [
    path("dispositivi/verifica/", views.stepup_view, name="stepup"),
    path("dispositivi/sincronizza/", views_devices.device_resync_view, name="device_resync"),
    path("dispositivi/smartphone/", views_devices.app_enrol_view, name="app_enrol"),
    path("dispositivi/smartphone/<str:device_id>/conferma/", views_devices.app_confirm_view, name="app_confirm"),
    path("dispositivi/sms/", views_devices.sms_enrol_view, name="sms_enrol"),
    path("dispositivi/<str:device_id>/prova/", views_devices.device_test_view, name="device_test"),
]
