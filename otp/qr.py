"""The QR code an authenticator app scans at enrolment (holders' panel, activation, staff enrolment)."""

from __future__ import annotations

import re

import segno
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _


def qr_svg(content: str) -> SafeString:
    """The QR code as inline SVG markup: no image request, no data: URI, no style attribute (CSP)."""
    svg = segno.make(content, error="m").svg_inline(
        scale=4, border=4, dark="#000", light="#fff", svgclass="app-qr", lineclass=None,
        title=_("QR code to scan with the authenticator app"),
    )
    svg = re.sub(r"\sstyle=(\"[^\"]*\"|'[^']*')", "", svg)  # style-src 'self' would block it
    return mark_safe(svg.replace("<svg ", '<svg role="img" ', 1))  # noqa: S308 - segno's own markup
