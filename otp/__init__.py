"""OTP devices: hardware tokens (HOTP/TOTP), smartphone app (TOTP), SMS; verification, lockout."""
