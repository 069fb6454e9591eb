from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The top floor: the shells of the holder panel and the operator console (their URLs, the pages
    that compose several apps) and the demo world. No models."""

    name = "portal"
    verbose_name = "Portal"
