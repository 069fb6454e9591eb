"""Operator console: the organization's messages that were not delivered, and sending a dead one again."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.decorators import operator_required
from accounts.selectors import operator_for_user
from core.ratelimit import client_ip
from notifications.display import message_status_for_operator, message_title
from notifications.models import MessageStatus
from notifications.selectors import message_get_for_organization, message_list_failed_for_organization
from notifications.services import message_retry


@operator_required
def messages_view(request: HttpRequest) -> HttpResponse:
    operator = operator_for_user(user=request.user)
    undelivered = message_list_failed_for_organization(organization=operator.organization)
    page = Paginator(undelivered, 25).get_page(request.GET.get("page"))
    rows = [
        {
            "message": message,
            "title": message_title(message),
            # In full, unlike the holder's page: the operator checks it against the holder's contacts.
            "recipient": message.recipient,
            "status": message_status_for_operator(message),
            "can_retry": message.status == MessageStatus.DEAD,
        }
        for message in page.object_list
    ]
    return render(
        request,
        "console/messages.html",
        {
            "operator": operator,
            "organization": operator.organization,
            "page": page,
            "rows": rows,
            "section": "messages",
        },
    )


@operator_required
@require_POST
def message_retry_view(request: HttpRequest, message_id: int) -> HttpResponse:
    organization = operator_for_user(user=request.user).organization
    message = message_get_for_organization(organization=organization, message_id=message_id)
    if message_retry(actor=request.user, message=message, ip=client_ip(request)):
        messages.success(request, _("The message has been queued again."))
    else:
        messages.info(request, _("This message is not waiting for a retry: nothing was done."))
    return redirect("console:messages")
