"""Organizations (tenants), holders, operators, login, profile and sessions (SPEC §1–§3)."""
