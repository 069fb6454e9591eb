"""HTML views: login/logout/language (``auth``), the holder's panel (``panel``), the operator console (``console``)."""
