"""The "I'm not a robot" check of the recovery pages: django-recaptcha, with our messages and failure modes.

django-recaptcha turns only ``HTTPError`` into a form error; a timeout or a refused connection to
the verify endpoint would be a 500. Here every failure to verify is a form error in the person's
language, and the widget template carries no inline script (our CSP forbids it).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.error import URLError

from django.core.exceptions import ValidationError
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django_recaptcha.fields import ReCaptchaField
from django_recaptcha.widgets import ReCaptchaV2Checkbox


class CaptchaWidget(ReCaptchaV2Checkbox):
    # Not a hidden input for the form: its errors belong next to the box, not in the page's summary
    # of hidden-field errors (the template renders the box whatever this says).
    input_type = "recaptcha"


class CaptchaField(ReCaptchaField):
    default_error_messages = {
        "required": _("Tick the box “I'm not a robot”."),
        "captcha_invalid": _("The check “I'm not a robot” did not succeed. Tick the box again."),
        "captcha_error": _("The check “I'm not a robot” could not be verified just now. Try again in a moment."),
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(widget=CaptchaWidget(), label=_("I'm not a robot"), **kwargs)
        # The widget speaks the page's language (reCAPTCHA's "hl" parameter).
        self.widget.api_params = {"hl": translation.get_language() or "it"}

    def validate(self, value: Any) -> None:
        try:
            super().validate(value)
        except (URLError, OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            raise ValidationError(self.error_messages["captcha_error"], code="captcha_error") from exc
