"""API clients of an organization: created and revoked by its organization admin."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import get_access_token_model, get_application_model, get_refresh_token_model

from accounts.models import ApiClient, Operator, OperatorRole, User, UserKind
from accounts.oauth import is_plain_text
from audit.events import AuditEventType
from audit.models import Outcome
from audit.services import audit_record
from core.errors import ApplicationError
from core.ratelimit import _parse, hit, window_number
from notifications.models import Channel
from notifications.services import message_enqueue


def _admin_of(actor: User) -> Operator:
    """The acting organization admin; anyone else is refused (the views answer 403 before this)."""
    operator = (
        Operator.objects.select_related("organization").filter(user=actor).first()
        if getattr(actor, "kind", None) == UserKind.OPERATOR
        else None
    )
    if operator is None or not operator.is_organization_admin:
        raise ApplicationError("forbidden", _("Only the organization administrator can manage API clients."))
    return operator


LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]"}


def redirect_uris_clean(uris: Sequence[str]) -> list[str]:
    """The redirect URIs a client registers for the holder's consent page (CSC OAuth 2.0 authorization
    code): absolute https addresses without fragment, or http on this machine's loopback for development
    (RFC 8252 §7.3). Matched exactly when used (RFC 9700), so they are kept as typed."""
    cleaned: list[str] = []
    for uri in uris:
        uri = uri.strip()
        if not uri:
            continue
        parts = urlsplit(uri)
        host = (parts.netloc.rsplit("@", 1)[-1]).lower()
        hostname = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        valid = (
            len(uri) <= 500 and is_plain_text(uri) and uri.isprintable() and " " not in uri
            and not parts.fragment and "@" not in parts.netloc and bool(parts.hostname)
            and (parts.scheme == "https" or (parts.scheme == "http" and hostname in LOOPBACK_HOSTS))
        )
        if not valid:
            raise ApplicationError(
                "invalid_redirect_uri",
                _("%(uri)s is not a valid return address: https only (http only for 127.0.0.1 or localhost), "
                  "no fragment.") % {"uri": uri[:100]},
                field="redirect_uris",
            )
        if uri not in cleaned:
            cleaned.append(uri)
    if len(cleaned) > 10:
        raise ApplicationError("invalid_redirect_uri", _("At most 10 return addresses."), field="redirect_uris")
    return cleaned


def api_client_create(
    *, actor: User, name: str, scopes: list[str], redirect_uris: Sequence[str] = (), ip: str = ""
) -> tuple[ApiClient, str]:
    """Create an API client of the actor's organization; returns it with its secret, in clear, once.

    The secret is never stored in clear: django-oauth-toolkit hashes it with the password hasher
    when the application is saved, so it cannot be shown again — only revoked and replaced.
    ``redirect_uris``: where the holder's consent page may send the holder back (CSC OAuth 2.0
    authorization code, for a client with the CSC functions); none, and the client uses client
    credentials only.
    """
    admin = _admin_of(actor)
    uris = redirect_uris_clean(redirect_uris)
    name = " ".join(name.split())
    if not name:
        raise ApplicationError("invalid_name", _("Enter a name for the API client."), field="name")
    if len(name) > 100:
        raise ApplicationError("invalid_name", _("The name can be at most 100 characters."), field="name")
    granted = sorted(set(scopes))
    if not granted or any(scope not in settings.API_SCOPES for scope in granted):
        raise ApplicationError("invalid_scopes", _("Choose at least one function for the API client."), field="scopes")
    secret = generate_client_secret()
    Application = get_application_model()
    with transaction.atomic():
        if ApiClient.objects.filter(
            organization=admin.organization, name__iexact=name, revoked_at__isnull=True
        ).exists():
            raise ApplicationError(
                "duplicate_name", _("The organization already has an API client with this name."), field="name"
            )
        application = Application(
            name=f"{admin.organization.slug}: {name}"[:255],
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
            client_secret=secret,
            hash_client_secret=True,
            redirect_uris=" ".join(uris),
            skip_authorization=False,
        )
        application.save()
        api_client = ApiClient.objects.create(
            organization=admin.organization, application=application, name=name, scopes=granted, created_by=actor
        )
        audit_record(
            event_type=AuditEventType.API_CLIENT_CREATED,
            actor=actor,
            organization=admin.organization,
            subject=api_client,
            ip=ip,
            details={"name": name, "client_id": application.client_id, "scopes": granted, "redirect_uris": uris},
        )
    return api_client, secret


def api_client_revoke(*, actor: User, api_client: ApiClient, ip: str = "") -> ApiClient:
    """Revoke for good: no new token, and the tokens already issued stop working now."""
    admin = _admin_of(actor)
    with transaction.atomic():
        locked = ApiClient.objects.select_for_update().select_related("application").get(pk=api_client.pk)
        if locked.organization_id != admin.organization.pk:
            raise ApplicationError("forbidden", _("Only the organization administrator can manage API clients."))
        if locked.revoked_at is not None:
            raise ApplicationError("already_revoked", _("The API client was already revoked."))
        locked.revoked_at = timezone.now()
        locked.revoked_by = actor
        locked.save(update_fields=["revoked_at", "revoked_by"])
        get_refresh_token_model().objects.filter(application=locked.application).delete()
        tokens_deleted, _unused = get_access_token_model().objects.filter(application=locked.application).delete()
        audit_record(
            event_type=AuditEventType.API_CLIENT_REVOKED,
            actor=actor,
            organization=admin.organization,
            subject=locked,
            ip=ip,
            details={"name": locked.name, "client_id": locked.application.client_id, "tokens_deleted": tokens_deleted},
        )
    return locked


def api_client_token_refused(*, client_id: str, ip: str) -> None:
    """Record a token request refused for a wrong secret: audited for a usable client of the platform,
    and the organization's admins alerted once per window when wrong secrets pile up.

    Unknown and revoked client ids are nobody's to alert (their refusals are counted by the edge all
    the same). The alert threshold is data (``RATE_LIMITS["api_token_failures_alert"]``); the fixed
    window's atomic counter makes exactly one failure the one that reaches it, so the alert is sent
    once per window however many processes see failures, and the outbox's idempotency key would
    drop a second one anyway.
    """
    api_client = (
        ApiClient.objects.select_related("organization", "application")
        .filter(application__client_id=client_id, revoked_at__isnull=True, organization__is_active=True)
        .first()
        if client_id and is_plain_text(client_id)
        else None
    )
    if api_client is None:
        return
    organization = api_client.organization
    failures = hit("api_token_failures_alert", str(api_client.pk))
    with transaction.atomic():
        audit_record(
            event_type=AuditEventType.API_CLIENT_TOKEN_REFUSED,
            outcome=Outcome.FAILURE,
            organization=organization,
            subject=api_client,
            ip=ip,
            details={"client_id": client_id, "reason": "invalid_client"},
        )
        threshold, window = _parse(settings.RATE_LIMITS["api_token_failures_alert"])
        if failures.count != threshold:
            return
        audit_record(
            event_type=AuditEventType.API_CLIENT_TOKEN_FAILURES_ALERTED,
            outcome=Outcome.FAILURE,
            organization=organization,
            subject=api_client,
            ip=ip,
            details={"client_id": client_id, "name": api_client.name, "failures": threshold,
                     "window_seconds": window},
        )
        admins = Operator.objects.select_related("user").filter(
            organization=organization, role=OperatorRole.ORGANIZATION_ADMIN, user__is_active=True
        )
        window_id = window_number("api_token_failures_alert")
        for admin in admins:
            message_enqueue(
                message_type="api_client_token_failures",
                channel=Channel.EMAIL,
                recipient=admin.email,
                language=admin.user.preferred_language,
                organization=organization,
                context={
                    "admin_name": f"{admin.given_name} {admin.surname}",
                    "client_name": api_client.name,
                    "client_id": client_id,
                    "failures": threshold,
                    "window_minutes": window // 60,
                    "console_url": f"{settings.SITE_URL}{reverse('console:api_clients')}",
                },
                idempotency_key=f"api-token-failures:{api_client.pk}:{window_id}:{admin.pk}",
            )
