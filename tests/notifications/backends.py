"""Test doubles at the provider boundary: SMS backends that fail on script or take their time."""

from __future__ import annotations

import time
import uuid

from notifications.backends import Outgoing, PermanentDeliveryError, TransientDeliveryError
from notifications.backends.sms import FileSmsBackend


class ScriptedSmsBackend:
    """Answers from ``ScriptedSmsBackend.script`` ("ok", "transient", "permanent"), then "ok"."""

    script: list[str] = []
    sent: list[Outgoing] = []

    def send(self, message: Outgoing, *, status_callback: str | None) -> str:
        outcome = self.script.pop(0) if self.script else "ok"
        if outcome == "transient":
            raise TransientDeliveryError("HTTP 503 from provider")
        if outcome == "permanent":
            raise PermanentDeliveryError("21211: invalid 'To' number")
        self.sent.append(message)
        return f"SM{uuid.uuid4().hex}"


class SlowFileSmsBackend(FileSmsBackend):
    """Takes a while before the provider accepts the message: a window to kill the worker in."""

    delay_seconds = 4.0

    def send(self, message: Outgoing, *, status_callback: str | None) -> str:
        time.sleep(self.delay_seconds)
        return super().send(message, status_callback=status_callback)
