"""PAdES signing, signature activation (SAD), CSC API, PDF batch API, validation, TSA.

Arrives with the Signing issue.
"""
