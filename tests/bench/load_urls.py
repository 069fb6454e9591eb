"""The product's URLs plus ``/bench/ok``, the bare reference view of ``bench_load`` (see load_settings)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from config.urls import urlpatterns as product_urlpatterns


def bare_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path("bench/ok", bare_view, name="bench_ok"), *product_urlpatterns]
