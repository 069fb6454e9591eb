from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy

from audit.events import AuditEventType
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
            event_type=AuditEventType.ADMIN_CHANGED if change else AuditEventType.ADMIN_CREATED,
            actor=request.user,
            organization=getattr(obj, "organization_id", None) or (obj.pk if is_organization else None),
            subject=obj,
            ip=client_ip(request),
            details={"model": obj._meta.model_name, "fields": sorted(form.changed_data)},
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Tenants and people are deactivated, never deleted: certificates and audit rows point at them.
        return False


class EventTypeFilter(admin.SimpleListFilter):
    """The catalogue's types, not a scan of the trail: the filter costs nothing on millions of rows."""

    title = gettext_lazy("event type")
    parameter_name = "event_type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(value, value) for value in AuditEventType.values]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        value = self.value()
        return queryset.filter(event_type=value) if value else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("seq", "created_at", "event_type", "outcome", "actor_username", "organization_id", "ip")
    list_filter = ("outcome", EventTypeFilter)
    search_fields = ("event_type", "actor_username", "subject_id")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
