"""Renewal of certificates: eligibility, the holder's wizard, the renewal form PDF, the registration office's approval (design in docs/renewal.md)."""
