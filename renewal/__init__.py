"""Renewal of certificates: eligibility, the holder's wizard, the renewal form PDF and the registration
office's approval (design in docs/renewal.md)."""
