"""Renewal window, wizard, renewal form PDF and approval (SPEC §6.10). Arrives with the Renewal issue."""
