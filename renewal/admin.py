"""Django admin for platform administrators: renewal requests, read-only (they change only through their
services: the holder's wizard and the registration office's decision)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from renewal.models import RenewalRequest


@admin.register(RenewalRequest)
class RenewalRequestAdmin(admin.ModelAdmin):
    list_display = ("number", "holder", "organization", "state", "submitted_at", "decided_at")
    list_filter = ("state", "organization")
    search_fields = ("holder__surname", "holder__codice_fiscale")
    list_select_related = ("holder", "organization")
    date_hierarchy = "created_at"
    # No PDF is shown (the forms are evidence, downloaded from the console); their SHA-256 are.
    fields = (
        "number", "organization", "holder", "old_certificate", "new_certificate", "state", "automatic",
        "data_confirmed", "data_changes", "data_confirmed_at", "consent_data_valid_at", "consent_conditions_at",
        "form_language", "form_sha256", "conditions_sha256", "signed_form_sha256", "created_at", "submitted_at",
        "decided_at", "decided_by", "decision_reason", "issued_at", "activated_at", "cancelled_at", "expired_at",
        "expiry_cause",
    )
    readonly_fields = fields

    @admin.display(description=_("request number"))
    def number(self, obj: RenewalRequest) -> str:
        return obj.number

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).defer("form_pdf", "conditions_pdf", "signed_form_pdf")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
