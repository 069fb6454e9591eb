"""reCAPTCHA's siteverify endpoint, replaced at django-recaptcha's HTTP call (``client.recaptcha_request``).

The form posts the token the widget produced; django-recaptcha posts it with the site's secret to
Google and reads ``{"success": …}``. The stub answers like Google: a token issued by the stub
(``RecaptchaStub.PASSED``) succeeds, anything else fails with ``invalid-input-response``, and
``RecaptchaStub.UNREACHABLE`` behaves like a network failure.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from urllib.error import URLError
from urllib.parse import parse_qs

from django.conf import settings


@dataclass
class RecaptchaStub:
    PASSED = "stub-token-passed"
    UNREACHABLE = "stub-token-network-down"
    calls: list[dict[str, str]] = field(default_factory=list)

    def __call__(self, params: bytes) -> io.BytesIO:
        sent = {key: values[0] for key, values in parse_qs(params.decode()).items()}
        self.calls.append(sent)
        if sent.get("response") == self.UNREACHABLE:
            raise URLError("connection refused")
        ok = sent.get("secret") == settings.RECAPTCHA_PRIVATE_KEY and sent.get("response") == self.PASSED
        answer = {"success": True, "hostname": "testserver"} if ok else {
            "success": False, "error-codes": ["invalid-input-response"]}
        return io.BytesIO(json.dumps(answer).encode())
