"""Render a message in the recipient's language, failing loudly on a missing variable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils import translation

from notifications.catalog import MESSAGE_TYPES
from notifications.models import Channel


class RenderingError(Exception):
    """The message cannot be rendered: unknown type, missing variable or template."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def message_render(*, message_type: str, channel: str, language: str, context: dict[str, Any]) -> Rendered:
    spec = MESSAGE_TYPES.get(message_type)
    if spec is None:
        raise RenderingError(f"unknown message type {message_type!r}")
    if channel not in spec.channels:
        raise RenderingError(f"{message_type} is not sent by {channel}")
    missing = sorted(name for name in spec.required if context.get(name) in (None, ""))
    if missing:
        raise RenderingError(f"missing template variables for {message_type}: {', '.join(missing)}")
    folder = f"notifications/{message_type}"
    try:
        with translation.override(language):
            if channel == Channel.SMS:
                text = render_to_string(f"{folder}/sms.txt", context)
                return Rendered(subject="", text=" ".join(text.split()), html="")
            subject = " ".join(render_to_string(f"{folder}/subject.txt", context).split())
            return Rendered(
                subject=subject,
                text=render_to_string(f"{folder}/body.txt", context).strip() + "\n",
                html=render_to_string(f"{folder}/body.html", context),
            )
    except TemplateDoesNotExist as exc:
        raise RenderingError(f"template missing: {exc}") from exc
