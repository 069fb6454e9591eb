"""Stable public URLs of the CA: they are written into every certificate (``certificates/profile.py``)."""

from __future__ import annotations

from django.urls import path

from certificates.views import public as views

app_name = "ca"

urlpatterns = [
    path("ca/crl/<slug:name>.crl", views.crl_view, name="crl"),
    path("ca/cert/<slug:name>.crt", views.ca_certificate_view, name="certificate"),
    path("ca/ocsp/", views.ocsp_view, name="ocsp"),
    path("ca/ocsp/<path:encoded>", views.ocsp_view, name="ocsp_get"),
    # The PKI disclosure statement: CA_PDS_URL + "<language>/" in every certificate's QcPDS.
    path("ca/pds/<slug:language>/", views.pds_view, name="pds"),
]
