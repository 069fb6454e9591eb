"""Organizations (tenants), holders, operators, login, profile and sessions."""
