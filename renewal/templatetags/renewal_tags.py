"""``{% renewal_box %}``: the "Rinnova firma digitale" box of the profile and certificate pages.

A template tag rather than view context, so the pages of the apps below this one (accounts,
certificates) offer renewal without importing it.
"""

from __future__ import annotations

from typing import Any

from django import template

from certificates.selectors import certificate_current_for_holder
from renewal.selectors import renewal_eligibility, renewal_open_for_holder

register = template.Library()
_UNKNOWN = object()


@register.inclusion_tag("renewal/_box.html", takes_context=True)
def renewal_box(context: dict[str, Any], certificate: Any = _UNKNOWN) -> dict[str, Any]:
    """``certificate``: the page's current certificate when the view already read it
    (``certificate_current_for_holder``), so that the box does not read it again."""
    user = context["request"].user
    if certificate is _UNKNOWN:
        certificate = certificate_current_for_holder(user=user)
    return {
        "certificate": certificate,
        "eligibility": renewal_eligibility(certificate=certificate),
        "renewal": renewal_open_for_holder(user=user),
    }
