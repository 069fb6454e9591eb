"""The organization's audit trail in the operator console: read it, filter it, export it as CSV.

For the organization's administrators and auditors only. Every read goes through
:mod:`audit.selectors`: the rows of another organization (and the platform's own) are never listed
nor exported, whatever the filters say. The page also says whether the whole chain — one for the
platform — still verifies; that walk costs one HMAC per row, so its outcome is cached for a few
minutes (:func:`audit.services.audit_chain_status`) and the page says when it ran.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from accounts.decorators import audit_reader_required
from accounts.selectors import operator_for_user
from audit.events import AuditEventType
from audit.forms import AuditFilterForm
from audit.models import AuditEvent, Outcome
from audit.selectors import audit_event_types_for_organization, audit_events_for_organization
from audit.services import CHAIN_STATUS_CACHE_SECONDS, audit_chain_status, audit_record
from core.http import file_disposition
from core.ratelimit import client_ip

PAGE_SIZE = 50

OUTCOME_TONES = {Outcome.SUCCESS: "success", Outcome.FAILURE: "danger", Outcome.DENIED: "warning"}

# A cell starting with one of these is a formula to Excel and LibreOffice ("CSV injection"): the
# export prefixes it with an apostrophe, which they show as text and never evaluate.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _form(request: HttpRequest) -> AuditFilterForm:
    # Always bound (an empty query string is "no filter"): the page and the export read the same filters.
    organization_id = operator_for_user(user=request.user).organization_id
    return AuditFilterForm(request.GET, event_types=audit_event_types_for_organization(organization_id=organization_id))


def _details(event: AuditEvent, *, separators: tuple[str, str] = (",", ":")) -> str:
    """The details as one line of JSON ("" when there are none)."""
    return json.dumps(event.details, ensure_ascii=False, sort_keys=True, separators=separators) if event.details else ""


# --- The page ----------------------------------------------------------------------------------------


def _page(request: HttpRequest, form: AuditFilterForm) -> HttpResponse:
    operator = operator_for_user(user=request.user)
    valid = form.is_valid()
    page = None
    rows: list[dict[str, Any]] = []
    if valid:
        events = audit_events_for_organization(organization_id=operator.organization_id, **form.filters())
        # A page number that is not one (letters, out of range) shows the first or the last page.
        page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
        rows = [
            {
                "event": event,
                "tone": OUTCOME_TONES.get(event.outcome, ""),
                "subject": f"{event.subject_type} #{event.subject_id}" if event.subject_type else "",
                "details": _details(event, separators=(", ", ": ")),
            }
            for event in page.object_list
        ]
    return render(
        request,
        "console/audit.html",
        {
            "operator": operator,
            "organization": operator.organization,
            "section": "audit",
            "form": form,
            "page": page,
            "rows": rows,
            "valid": valid,
            "filtered": valid and any(form.filters().values()),
            "chain": audit_chain_status(),
            "chain_minutes": CHAIN_STATUS_CACHE_SECONDS // 60,
        },
        status=200 if valid else 400,
    )


@audit_reader_required
@require_GET
def audit_view(request: HttpRequest) -> HttpResponse:
    return _page(request, _form(request))


# --- The export --------------------------------------------------------------------------------------


class _Echo:
    """What csv.writer writes to: it hands each line back instead of storing it."""

    def write(self, value: str) -> str:
        return value


def csv_cell(value: Any) -> Any:
    """``value`` as a spreadsheet shows it but never evaluates it."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return f"'{value}"
    return value


def _csv_lines(header: list[str], events: QuerySet[AuditEvent], outcomes: dict[str, str]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    rome = timezone.get_default_timezone()
    # The byte order mark tells Excel the file is UTF-8 (accents, names); other readers skip it.
    yield "\ufeff" + writer.writerow(header)
    batch: list[str] = []
    for event in events.iterator(chunk_size=1000):
        batch.append(
            writer.writerow(
                [
                    csv_cell(value)
                    for value in (
                        event.seq,
                        timezone.localtime(event.created_at, rome).isoformat(timespec="seconds"),
                        event.event_type,
                        outcomes.get(event.outcome, event.outcome),
                        event.actor_username,
                        event.subject_type,
                        event.subject_id,
                        event.ip,
                        _details(event),
                    )
                ]
            )
        )
        if len(batch) >= 200:
            yield "".join(batch)
            batch = []
    if batch:
        yield "".join(batch)


@audit_reader_required
@require_GET
def audit_export_view(request: HttpRequest) -> HttpResponseBase:
    """The filtered events, every page of them, as CSV; the export itself is audited."""
    form = _form(request)
    if not form.is_valid():
        return _page(request, form)
    operator = operator_for_user(user=request.user)
    filters = form.filters()
    events = audit_events_for_organization(organization_id=operator.organization_id, **filters)
    # The rows up to the newest one now: the count audited is the count exported, even if events
    # (this export's own among them) are written while the file streams.
    newest = events.values_list("seq", flat=True).first()
    events = events.filter(seq__lte=newest) if newest is not None else events.none()
    count = events.count()
    with transaction.atomic():
        audit_record(
            event_type=AuditEventType.AUDIT_EXPORTED,
            actor=request.user,
            organization=operator.organization,
            ip=client_ip(request),
            details={
                "format": "csv",
                "filters": {name: str(value) if value else "" for name, value in filters.items()},
                "rows": count,
                "up_to_seq": newest,
            },
        )
    # Translated now, while the request's language is active: the rows are written after the view returns.
    header = [
        _("Number"), _("Time (Europe/Rome)"), _("Event type"), _("Outcome"), _("Person"), _("Subject type"),
        _("Subject id"), _("IP address"), _("Details (JSON)"),
    ]
    outcomes = {value: str(label) for value, label in Outcome.choices}
    response = StreamingHttpResponse(_csv_lines(header, events, outcomes), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = file_disposition(
        f"registro-audit-{operator.organization.slug}-{timezone.localdate():%Y%m%d}.csv"
    )
    response["Cache-Control"] = "no-store"
    return response
