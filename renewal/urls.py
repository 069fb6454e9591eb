from __future__ import annotations

from django.urls import path

from renewal.views import panel as views

app_name = "renewal"

urlpatterns = [
    path("", views.home_view, name="home"),
    path("avvia/", views.start_view, name="start"),
    path("<int:request_id>/dati/", views.data_view, name="data"),
    path("<int:request_id>/residenza/", views.residence_view, name="residence"),
    path("<int:request_id>/consensi/", views.consents_view, name="consents"),
    path("<int:request_id>/documenti/<slug:document>.pdf", views.document_view, name="document"),
    path("<int:request_id>/firma/", views.sign_view, name="sign"),
    path("<int:request_id>/esito/", views.outcome_view, name="outcome"),
    path("<int:request_id>/annulla/", views.cancel_view, name="cancel"),
    path("<int:request_id>/attiva/", views.activate_view, name="activate"),
]
