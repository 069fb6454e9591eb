"""Where a view may send the browser next, and how it names a file it returns."""

from __future__ import annotations

from django.http import HttpRequest
from django.shortcuts import resolve_url
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme


def safe_next(request: HttpRequest, candidate: str | None, fallback: str) -> str:
    """``candidate`` if it is an address of this site (same host, same scheme), else ``fallback``."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(fallback)


def file_disposition(filename: str, *, as_attachment: bool = True) -> str:
    """The ``Content-Disposition`` of a file a view returns: as a download (or inline) under ``filename``.

    Django's ``content_disposition_header`` answers None only for an inline file without a name; every
    file here has one, so the header is always there.
    """
    header = content_disposition_header(as_attachment, filename)
    assert header is not None  # a named file, or an attachment
    return header
