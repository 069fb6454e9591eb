"""``{% renewal_box %}``: the "Rinnova firma digitale" box of the profile and certificate pages.

A template tag rather than view context, so the pages of the apps below this one (accounts,
certificates) offer renewal without importing it.
"""

from __future__ import annotations

from typing import Any

from django import template

from certificates.selectors import certificate_current_for_holder
from renewal.selectors import renewal_current_for_holder, renewal_eligibility

register = template.Library()


@register.inclusion_tag("renewal/_box.html", takes_context=True)
def renewal_box(context: dict[str, Any]) -> dict[str, Any]:
    user = context["request"].user
    certificate = certificate_current_for_holder(user=user)
    current = renewal_current_for_holder(user=user)
    return {
        "certificate": certificate,
        "eligibility": renewal_eligibility(certificate=certificate),
        "renewal": current if current is not None and current.is_open else None,
    }
