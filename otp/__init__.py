"""OTP devices: hardware tokens, smartphone app, SMS; verify, test, sync, replace, lockout (SPEC §5).

Arrives with the OTP issue.
"""
