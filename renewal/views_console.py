"""The registration office's renewal pages in the operator console: the approval queue, a request's
page (signed form, its validation, the data the holder changed), approve, reject with a reason."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseNotFound


def renewals_view(request: HttpRequest) -> HttpResponse:  # pragma: no cover - being written
    return HttpResponseNotFound()


def renewal_detail_view(request: HttpRequest, request_id: int) -> HttpResponse:  # pragma: no cover
    return HttpResponseNotFound()
