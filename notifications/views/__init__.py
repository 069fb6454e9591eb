# ``notifications.views.mobile_masked``: the name signing's views import; it lives in notifications.display.
from notifications.display import mobile_masked

__all__ = ["mobile_masked"]
