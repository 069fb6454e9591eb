"""The audit event types come from one catalogue, which the admin's filter offers."""

from __future__ import annotations

import re

from django.urls import reverse

from audit.events import AuditEventType
from audit.models import AuditEvent
from audit.services import audit_record
from tests.conftest import platform_admin


def test_every_event_type_is_a_family_and_a_name_and_appears_once():
    values = AuditEventType.values
    assert len(values) == len(set(values))
    assert all(re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", value) for value in values)


def test_the_admin_filters_the_trail_by_the_catalogues_types(db, client):
    platform_admin(client)
    audit_record(event_type=AuditEventType.CA_KEYS_REWRAPPED, details={"count": 0})
    audit_record(event_type=AuditEventType.AUDIT_EXPORTED)
    changelist = reverse("admin:audit_auditevent_changelist")

    offered = client.get(changelist)
    filtered = client.get(changelist, {"event_type": AuditEventType.CA_KEYS_REWRAPPED.value})

    assert offered.status_code == 200
    assert f"?event_type={AuditEventType.OTP_VERIFY_FAILED.value}" in offered.content.decode()
    shown = list(filtered.context["cl"].queryset)
    assert shown and {event.event_type for event in shown} == {AuditEventType.CA_KEYS_REWRAPPED}
    assert AuditEvent.objects.filter(event_type=AuditEventType.AUDIT_EXPORTED).exists()

