"""The signing app's web edge: the panel's "Firma" pages (``panel``) and the public TSA (``tsa``).
The APIs' edge is ``signing.api``.

The signing form's OTP choices are read by the renewal pages too, which import them from here.
"""

from signing.views.panel import SMS_CHOICE, otp_choices

__all__ = ["SMS_CHOICE", "otp_choices"]
