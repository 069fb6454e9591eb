"""Tamper-evident audit trail: append-only events chained by HMAC (cross-cutting)."""
