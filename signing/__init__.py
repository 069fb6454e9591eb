"""PAdES signing, signature activation (SAD), CSC API, PDF batch API, validation, TSA (SPEC §7, §8).

Arrives with the Signing issue.
"""
