"""The registration office's renewal pages in the operator console: the approval queue, a request's
page (signed form, its validation, the data the holder changed), approve, reject with a reason.

Every request comes through a tenant selector: another organization's request answers 404 exactly
like a missing one, on the page, the signed form and both decisions. The services decide, audit and
notify; a request decided meanwhile (another operator, another tab) is refused in words, never a 500.
Approving (one request or a batch: one confirmation for the batch) and rejecting need a fresh second
factor for that action (:mod:`accounts.confirmation`), asked when the form is sent."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.confirmation import confirmation_required
from accounts.decorators import operator_required
from accounts.selectors import operator_for_user
from certificates.selectors import (
    EXPIRING_DAYS,
    certificate_awaiting_activation_for_operator,
    certificate_expiring_for_operator,
)
from core.errors import ApplicationError
from core.http import file_disposition
from core.ratelimit import client_ip
from renewal.forms import BULK_MAX, ApproveForm, BulkApproveForm, RejectConfirmForm
from renewal.models import RenewalRequest, RenewalState
from renewal.selectors import (
    renewal_decided_for_operator,
    renewal_get_for_operator,
    renewal_list_for_operator,
    renewal_queue_for_operator,
    renewal_under_way_by_certificate,
)
from renewal.services import DATA_FIELD_LABELS, DATA_FIELDS, renewal_approve, renewal_reject, renewals_approve
from signing.services import pdf_validate

# One page of the queue: what a batch approval may cover at most (renewal.forms.BULK_MAX).
PAGE_SIZE = BULK_MAX

# How each state reads to the registration office, and at a glance (the status-badge tones of app.css).
# A context of their own: the bare words ("rejected", "expired") are translated elsewhere for other things.
# Keyed by str: a request's state is read from its CharField, and every RenewalState is a str.
STATE_LABELS: dict[str, Promise] = {
    RenewalState.DRAFT: pgettext_lazy("renewal request", "being filled in"),
    RenewalState.SUBMITTED: pgettext_lazy("renewal request", "waiting for approval"),
    RenewalState.APPROVED: pgettext_lazy("renewal request", "approved"),
    RenewalState.ISSUED: pgettext_lazy("renewal request", "approved, new certificate to activate"),
    RenewalState.ACTIVATED: pgettext_lazy("renewal request", "completed"),
    RenewalState.REJECTED: pgettext_lazy("renewal request", "rejected"),
    RenewalState.CANCELLED: pgettext_lazy("renewal request", "cancelled by the holder"),
    RenewalState.EXPIRED: pgettext_lazy("renewal request", "expired"),
}
STATE_TONES: dict[str, str] = {
    RenewalState.DRAFT: "", RenewalState.SUBMITTED: "warning", RenewalState.APPROVED: "info",
    RenewalState.ISSUED: "info", RenewalState.ACTIVATED: "success", RenewalState.REJECTED: "danger",
    RenewalState.CANCELLED: "", RenewalState.EXPIRED: "",
}


# --- Helpers -----------------------------------------------------------------------------------------


def _get(request: HttpRequest, request_id: int) -> RenewalRequest:
    try:
        return renewal_get_for_operator(user=request.user, request_id=request_id)
    except RenewalRequest.DoesNotExist as exc:
        raise Http404 from exc


def _changed_labels(renewal: RenewalRequest) -> list[str]:
    return [str(DATA_FIELD_LABELS.get(change.get("field", ""), change.get("field", "")))
            for change in renewal.data_changes or []]


def _person(user: Any) -> str:
    """An operator as colleagues know them: name and username."""
    if user is None:
        return ""
    operator = getattr(user, "operator", None)
    if operator is not None:
        return f"{operator.given_name} {operator.surname} ({user.username})"
    return user.username


# --- The queue ---------------------------------------------------------------------------------------


def _queue_page(request: HttpRequest, *, decided: bool, form: BulkApproveForm | None = None,
                status: int = 200) -> HttpResponse:
    operator = operator_for_user(user=request.user)
    queue = renewal_queue_for_operator(user=request.user)
    listed = renewal_decided_for_operator(user=request.user) if decided else queue
    page = Paginator(listed, PAGE_SIZE).get_page(request.GET.get("page"))
    today = timezone.localdate()
    bound = form.data if form is not None and form.is_bound else None
    selected = set(bound.getlist("requests")) if isinstance(bound, MultiValueDict) else set()
    rows = []
    for renewal in page.object_list:
        submitted_on = timezone.localdate(renewal.submitted_at) if renewal.submitted_at else None
        rows.append({
            "renewal": renewal,
            "age_days": (today - submitted_on).days if submitted_on else None,
            "changed": _changed_labels(renewal),
            "state_label": STATE_LABELS.get(renewal.state, renewal.state),
            "tone": STATE_TONES.get(renewal.state, ""),
            "decided_by": _person(renewal.decided_by) if decided else "",
            "selected": str(renewal.pk) in selected,
        })
    return render(
        request,
        "console/renewals.html",
        {
            "operator": operator,
            "organization": operator.organization,
            "page": page,
            "rows": rows,
            "decided": decided,
            "pending_count": page.paginator.count if not decided else queue.count(),
            "form": form or BulkApproveForm(),
            "section": "renewals",
        },
        status=status,
    )


@operator_required
@require_GET
def renewals_view(request: HttpRequest) -> HttpResponse:
    """The approval queue: the organization's requests waiting for a decision, oldest first."""
    return _queue_page(request, decided=False)


@operator_required
@require_GET
def renewals_decided_view(request: HttpRequest) -> HttpResponse:
    """Requests no longer waiting (decided, completed, cancelled, expired), read-only."""
    return _queue_page(request, decided=True)


@operator_required
@confirmation_required("renewal_approve")
@require_http_methods(["GET", "POST"])
def renewals_approve_view(request: HttpRequest) -> HttpResponse:
    """Approve the ticked requests, each on its own: one refused does not stop the others."""
    if request.method == "GET":  # a page link of the queue shown again after a form error
        query = request.GET.urlencode()
        return redirect(reverse("console:renewals") + (f"?{query}" if query else ""))
    form = BulkApproveForm(request.POST)
    if not form.is_valid():
        return _queue_page(request, decided=False, form=form, status=400)
    ids = form.cleaned_data["requests"]
    # Another organization's id is "not found" exactly like a missing one.
    found = list(renewal_list_for_operator(user=request.user).filter(pk__in=ids).order_by("submitted_at", "pk"))
    approved, refusals = renewals_approve(requests=found, actor=request.user, ip=client_ip(request))
    if approved:
        messages.success(request, ngettext(
            "%(count)s request approved: the new certificate is issued and the holder has been told how to "
            "activate it.",
            "%(count)s requests approved: the new certificates are issued and the holders have been told how to "
            "activate them.",
            approved,
        ) % {"count": approved})
    for refusal in refusals:
        messages.error(request, _("Not approved: %(refusal)s") % {"refusal": refusal})
    missing = len(ids) - len(found)
    if missing:
        messages.error(request, ngettext(
            "%(count)s selected request was not found.", "%(count)s selected requests were not found.", missing,
        ) % {"count": missing})
    return redirect("console:renewals")


# --- One request -------------------------------------------------------------------------------------


def _validation(renewal: RenewalRequest) -> tuple[Any, str]:
    """The report on the signed form, or why there is none (a damaged file is a message, not a 500)."""
    if not renewal.signed_form_pdf:
        return None, ""
    try:
        return pdf_validate(data=bytes(renewal.signed_form_pdf), name=f"{renewal.number}.pdf"), ""
    except ApplicationError as exc:
        return None, str(exc.message)


def _detail_page(request: HttpRequest, renewal: RenewalRequest, *, approve_form: ApproveForm | None = None,
                 reject_form: RejectConfirmForm | None = None, error: str = "", status: int = 200) -> HttpResponse:
    operator = operator_for_user(user=request.user)
    report, report_error = _validation(renewal)
    changes = {change.get("field"): change for change in renewal.data_changes or []}
    confirmed = renewal.data_confirmed or {}
    rows = [
        {"label": DATA_FIELD_LABELS[field], "value": confirmed.get(field, ""), "change": changes.get(field)}
        for field in DATA_FIELDS
    ]
    return render(
        request,
        "console/renewal_detail.html",
        {
            "operator": operator,
            "organization": operator.organization,
            "renewal": renewal,
            "state_label": STATE_LABELS.get(renewal.state, renewal.state),
            "tone": STATE_TONES.get(renewal.state, ""),
            "rows": rows,
            "changed": _changed_labels(renewal),
            "report": report,
            "report_error": report_error,
            "decided_by": _person(renewal.decided_by),
            "waiting": renewal.state == RenewalState.SUBMITTED,
            "approve_form": approve_form or ApproveForm(prefix="approve"),
            "reject_form": reject_form or RejectConfirmForm(prefix="reject"),
            "error": error,
            "section": "renewals",
        },
        status=status,
    )


@operator_required
@require_GET
def renewal_detail_view(request: HttpRequest, request_id: int) -> HttpResponse:
    return _detail_page(request, _get(request, request_id))


@operator_required
@require_GET
def renewal_signed_form_view(request: HttpRequest, request_id: int) -> HttpResponse:
    """The renewal form as the holder signed it, byte for byte (the evidence kept)."""
    renewal = _get(request, request_id)
    if not renewal.signed_form_pdf:
        raise Http404
    response = HttpResponse(bytes(renewal.signed_form_pdf), content_type="application/pdf")
    response["Content-Disposition"] = file_disposition(f"{renewal.number}-modulo-firmato.pdf")
    response["Cache-Control"] = "no-store"
    return response


@operator_required
@confirmation_required("renewal_approve")
@require_POST
def renewal_approve_view(request: HttpRequest, request_id: int) -> HttpResponse:
    renewal = _get(request, request_id)
    form = ApproveForm(request.POST, prefix="approve")
    if not form.is_valid():
        return _detail_page(request, renewal, approve_form=form, status=400)
    try:
        renewal = renewal_approve(request=renewal, actor=request.user, ip=client_ip(request))
    except ApplicationError as exc:
        # Decided meanwhile, or the certificate to renew is no longer active: the page says which.
        return _detail_page(request, _get(request, request_id), error=str(exc.message), status=409)
    new_certificate = renewal.new_certificate
    assert new_certificate is not None  # an approved request has its new certificate (a check constraint)
    messages.success(
        request,
        _("Request %(number)s approved: the new certificate %(iut)s is issued and the holder has been told how to "
          "activate it.") % {"number": renewal.number, "iut": new_certificate.iut},
    )
    return redirect("console:renewal_detail", request_id=renewal.pk)


@operator_required
@confirmation_required("renewal_reject")
@require_POST
def renewal_reject_view(request: HttpRequest, request_id: int) -> HttpResponse:
    renewal = _get(request, request_id)
    form = RejectConfirmForm(request.POST, prefix="reject")
    if not form.is_valid():
        return _detail_page(request, renewal, reject_form=form, status=400)
    try:
        renewal = renewal_reject(
            request=renewal, actor=request.user, reason=form.cleaned_data["reason"], ip=client_ip(request)
        )
    except ApplicationError as exc:
        if exc.field == "reason":
            form.add_error("reason", str(exc.message))
            return _detail_page(request, renewal, reject_form=form, status=400)
        return _detail_page(request, _get(request, request_id), error=str(exc.message), status=409)
    messages.success(
        request, _("Request %(number)s rejected: the holder has been told the reason.") % {"number": renewal.number}
    )
    return redirect("console:renewal_detail", request_id=renewal.pk)


# --- Certificates to watch (lists the console home links to) -------------------------------------


def _certificate_list(request: HttpRequest, *, kind: str) -> HttpResponse:
    operator = operator_for_user(user=request.user)
    if kind == "expiring":
        listed = certificate_expiring_for_operator(user=request.user)
    else:
        listed = certificate_awaiting_activation_for_operator(user=request.user)
    page = Paginator(listed, 50).get_page(request.GET.get("page"))
    certificates = list(page.object_list)
    renewals = renewal_under_way_by_certificate(user=request.user, certificate_ids=[c.pk for c in certificates])
    today = timezone.localdate()
    rows = [
        {
            "certificate": certificate,
            "days_left": (timezone.localdate(certificate.not_after) - today).days if certificate.not_after else None,
            "renewal": renewals.get(certificate.pk),
            "renewal_state": STATE_LABELS.get(getattr(renewals.get(certificate.pk), "state", ""), ""),
        }
        for certificate in certificates
    ]
    return render(
        request, "console/certificate_list.html",
        {"operator": operator, "organization": operator.organization, "page": page, "rows": rows, "kind": kind,
         "days": EXPIRING_DAYS, "section": ""},
    )


@operator_required
@require_GET
def certificates_expiring_view(request: HttpRequest) -> HttpResponse:
    """Certificates in use that expire within the next 60 days, soonest first."""
    return _certificate_list(request, kind="expiring")


@operator_required
@require_GET
def certificates_to_activate_view(request: HttpRequest) -> HttpResponse:
    """Certificates issued and not activated by their holder yet, nearest deadline first."""
    return _certificate_list(request, kind="to_activate")
