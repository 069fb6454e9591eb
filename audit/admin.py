from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent
from audit.services import audit_record
from core.ratelimit import client_ip


class AuditedAdmin(admin.ModelAdmin):
    """Every change made through the admin leaves an audit row (the admins of accounts, otp…)."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # An organization is its own tenant; any other row names its organization by a foreign key.
        is_organization = obj._meta.label_lower == "accounts.organization"
        audit_record(
            event_type=f"admin.{obj._meta.model_name}.{'changed' if change else 'created'}",
            actor=request.user,
            organization=getattr(obj, "organization_id", None) or (obj.pk if is_organization else None),
            subject=obj,
            ip=client_ip(request),
            details={"fields": sorted(form.changed_data)},
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Tenants and people are deactivated, never deleted: certificates and audit rows point at them.
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("seq", "created_at", "event_type", "outcome", "actor_username", "organization_id", "ip")
    list_filter = ("outcome", "event_type")
    search_fields = ("event_type", "actor_username", "subject_id")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
